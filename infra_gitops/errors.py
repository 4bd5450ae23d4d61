"""Expected failures: the CLI's error boundary turns these into a message and an exit code.

Anything else escaping a command is a bug and is shown with its traceback.
"""

from __future__ import annotations


class GitOpsError(Exception):
    """A failure the user must see and can act on (bad input, lock held, endpoint down)."""


class ConfigError(GitOpsError):
    """The manifest is invalid."""


class GitError(GitOpsError):
    """The repository or a ref in it cannot be used."""


class EngineError(GitOpsError):
    """An engine command failed; the message says which stack, which step and why."""


class EngineNotFoundError(EngineError):
    """The engine's executable is missing."""


class StateLockedError(EngineError):
    """The stack's state is locked by another run."""

    def __init__(self, message: str, lock_id: str | None = None) -> None:
        super().__init__(message)
        self.lock_id = lock_id


class CommandTimeoutError(EngineError):
    """A command ran past its timeout and its process group was killed."""


class SandboxError(GitOpsError):
    """The offline local cloud cannot be started or reached."""
