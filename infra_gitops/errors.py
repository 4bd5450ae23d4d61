"""Expected failures: the CLI's error boundary turns these into a message and an exit code.

Anything else escaping a command is a bug and is shown with its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GitOpsError(Exception):
    """A failure the user must see and can act on (bad input, lock held, endpoint down)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the manifest, and where."""

    file: str
    """The manifest file, relative to the repo root (gitops.yaml)."""
    line: int | None
    """1-based line, when known."""
    key_path: str
    """Where in the document: stacks[1].policy.drift_interval ("" for the whole file)."""
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"{self.key_path}: {self.message}" if self.key_path else self.message
        return f"{where}: {what}"


class ConfigError(GitOpsError):
    """The manifest is invalid.

    problems lists everything found wrong (empty when the error is a single message);
    str() renders one problem per line.
    """

    def __init__(self, message: str = "", problems: Sequence[Problem] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message or "\n".join(str(p) for p in self.problems))


class GitError(GitOpsError):
    """The repository or a ref in it cannot be used."""


class BadSourceError(GitError):
    """The commit's files cannot be used as they are: an unsafe tree entry (`x/../..`), a
    symlink escaping the repository, an entry that cannot be exported. A property of the
    commit, never transient: the daemon records it once as a bad commit and waits for a
    new one."""


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


class LockHeldError(GitOpsError):
    """Another run holds the stack's lock (one run per stack at a time)."""

    def __init__(
        self,
        message: str,
        *,
        stack: str,
        pid: int | None = None,
        host: str | None = None,
        since: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stack = stack
        self.pid = pid
        self.host = host
        self.since = since
        self.run_id = run_id


class RunStoreError(GitOpsError):
    """The run records cannot be used, or a run id is unknown or ambiguous."""


class OutputsPendingError(GitOpsError):
    """A stack takes an output of another stack that has not been applied yet.

    Not a failure of the stack itself: a plan reports it as waiting on that stack.
    """
