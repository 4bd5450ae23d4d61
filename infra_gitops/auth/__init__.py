"""Who may do what: local accounts (argon2 passwords), API tokens, login sessions and
role-based access to stacks, kept in the run store's database (SQLite or PostgreSQL).

The library the web layer calls; it knows nothing of HTTP. Modules:
    store.py        AuthStore.open(): the three below on one database
    accounts.py     accounts, logins, lockout
    tokens.py       API tokens: create (shown once), list, revoke, authenticate
    sessions.py     server-side sessions, CSRF tokens; the cookie the web layer sets
    rbac.py         roles, actions, grants scoped by stack glob, can()
    groups.py       OIDC groups -> grants, from the daemon's auth config file
    authconfig.py   that file (--auth-config): the oidc section and group_roles, checked
    oidc.py         single sign-on: the OpenID Connect relying party (authlib)
    oidc_state.py   a login between the redirect and the callback, sealed for a cookie
    passwords.py    hashing, verifying and rehashing passwords (argon2-cffi)
    credentials.py  random credentials, their digests, constant-time comparison
    db.py           the auth tables and their migrations on SQLite and PostgreSQL
    errors.py       AuthError (bad input), Refused (a credential refused: 401, a reason)
    clock.py        UTC time as stored; the clock tests move
"""
