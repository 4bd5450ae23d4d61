"""What the web tests share: the accounts of the module-wide auth store (conftest.py)."""

from __future__ import annotations

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "ada": ["admin"],
    "olga": ["operator:app*"],
    "rita": ["readonly"],
}
