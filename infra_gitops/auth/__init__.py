"""Who may do what: local accounts (argon2 passwords), API tokens, login sessions and
role-based access to stacks, kept in the run store's database (SQLite or PostgreSQL).

The library the web layer calls; it knows nothing of HTTP. Modules:
    rbac.py       roles, actions, grants scoped by stack glob, can()
    passwords.py  hashing, verifying and rehashing passwords (argon2-cffi)
    credentials.py random credentials, their digests, constant-time comparison
    db.py         the auth tables and their migrations on SQLite and PostgreSQL
    store.py      accounts, logins and lockout, tokens, sessions (AuthStore)
    groups.py     OIDC groups -> grants, from the daemon's auth config file
"""
