"""The run store's back ends: what differs between SQLite (one machine) and PostgreSQL
(replicas sharing one database), and where artifacts are kept.

`infra_gitops.runs.RunStore` is the public face and holds all the logic both back ends
share (rows to runs, scrubbing, filters, id allocation, stack state); a back end gives
it transactions, its migrations and the few statements that differ.
"""
