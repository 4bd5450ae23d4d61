"""Resources no stack manages: what the cloud holds of the types the stacks manage that
no stack's state holds (`infra-gitops unmanaged`, and the daemon on a schedule).

Modules: types (what can be listed), managed (every stack's state, through the runner),
aws (listing the account, boto3), scan (the comparison and the ignore rules), adopt
(import blocks and generated configuration written into a stack's directory).
"""
