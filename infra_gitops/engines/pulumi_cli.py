"""The `pulumi` CLI that the Automation API drives: found, versioned, run through
infra_gitops.process.

The SDK's own PulumiCommand runs the CLI with subprocess and no timeout; this subclass
keeps the SDK's contract (same arguments, SDK CommandError subclasses on failure, so
create_or_select and the rest behave as documented) but every command goes through
process.run: time-limited, killed with its process group (the language host and the
provider plugins it starts), its output scrubbed into the run log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pulumi.automation import CommandError, CommandResult, OnOutput, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from infra_gitops import process
from infra_gitops.errors import EngineError, EngineNotFoundError
from infra_gitops.models import Stack

INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/) so that `pulumi` is on "
    "PATH, or set `binary:` on the stack to the pulumi executable"
)
SUPPORTED_MAJOR = 3
"""The Automation API SDK this package pins is 3.x; it drives a 3.x CLI."""

HUMAN_OUTPUT_COMMANDS = frozenset({"preview", "up", "refresh", "destroy"})
"""Commands whose stdout is Pulumi's progress display (secrets masked by the CLI) and so
may go to the run log. Others (`stack output --show-secrets`, `config`, `stack history
--show-secrets`, `stack export`) print values in clear: their stdout is never logged."""

LineSink = Callable[[str], None]


def resolve_pulumi(stack: Stack, env: Mapping[str, str]) -> str:
    """The pulumi executable for a stack: its `binary:`, else `pulumi` on the PATH of
    the stack's environment, else the installer's default ~/.pulumi/bin/pulumi."""
    search_path = env.get("PATH", os.defpath)
    where = f"stack {stack.name!r}: cannot run engine 'pulumi'"
    if stack.binary:
        if os.sep in stack.binary:
            if os.path.isfile(stack.binary) and os.access(stack.binary, os.X_OK):
                return stack.binary
            raise EngineNotFoundError(
                f"{where}: the executable file {stack.binary!r} (stack `binary`) not found; "
                + INSTALL_HINT
            )
        found = shutil.which(stack.binary, path=search_path)
        if found is None:
            raise EngineNotFoundError(
                f"{where}: {stack.binary!r} (stack `binary`) not found on PATH; " + INSTALL_HINT
            )
        return found
    found = shutil.which("pulumi", path=search_path)
    if found is not None:
        return found
    home = env.get("HOME")
    default_install = Path(home, ".pulumi", "bin", "pulumi") if home else None
    if default_install is not None and os.access(default_install, os.X_OK):
        return str(default_install)
    raise EngineNotFoundError(
        f"{where}: the Pulumi CLI (`pulumi`) was not found on PATH; {INSTALL_HINT}. "
        "The pulumi Python package is only the SDK: the CLI is a separate program"
    )


def parse_version(text: str) -> VersionInfo:
    """`pulumi version` prints e.g. "v3.200.0" (dev builds add a suffix)."""
    raw = text.strip().splitlines()[0] if text.strip() else ""
    try:
        return VersionInfo.parse(raw.removeprefix("v"))
    except ValueError:
        raise EngineError(f"unexpected output from `pulumi version`: {raw!r}") from None


class PulumiCli(PulumiCommand):
    """PulumiCommand over process.run. `env` is the whole environment of every command
    (the SDK's `additional_env` is laid over it): never the controller's own."""

    def __init__(
        self,
        binary: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        log: LineSink | None = None,
        scrub: Callable[[str], str] = str,
        version: VersionInfo | None = None,
    ) -> None:
        # Not calling PulumiCommand.__init__: it runs `pulumi version` through subprocess.
        self.command = binary
        self._env = dict(env)
        self._timeout = timeout
        self._log = log
        self._scrub = scrub
        self.version = version or self._read_version()
        if self.version.major != SUPPORTED_MAJOR:
            raise EngineError(
                f"Pulumi CLI {self.version} at {binary} is not supported: the Automation API "
                f"in use drives a {SUPPORTED_MAJOR}.x CLI; install a {SUPPORTED_MAJOR}.x release"
            )

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        return self._run(args, cwd, additional_env, on_output, on_error, stdin=None)

    def run_with_input(
        self, args: list[str], cwd: str, additional_env: Mapping[str, str], stdin: str
    ) -> CommandResult:
        """A command reading a value on stdin: how a secret config value is set without
        putting it on argv, where `ps` shows it (the SDK's set_config passes it there)."""
        return self._run(args, cwd, additional_env, None, None, stdin=stdin)

    def _run(
        self,
        args: Sequence[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None,
        on_error: OnOutput | None,
        *,
        stdin: str | None,
    ) -> CommandResult:
        argv = [self.command, *args]
        if "--non-interactive" not in args:
            argv.insert(1, "--non-interactive")
        env = {**self._env, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        log_stdout = _subcommand(args) in HUMAN_OUTPUT_COMMANDS and "--json" not in args
        self._write(f"$ pulumi {' '.join(_loggable(args))}")
        done = process.run(
            argv,
            cwd=Path(cwd),
            env=env,
            timeout=self._timeout,
            stdin=stdin,
            on_stdout_line=_tee(self._write if log_stdout else None, on_output),
            on_stderr_line=_tee(self._write, on_error),
        )
        self._write(f"[exit code {done.returncode}]")
        result = CommandResult(
            stdout=done.stdout.rstrip("\n"), stderr=done.stderr.rstrip("\n"), code=done.returncode
        )
        if done.returncode != 0:
            raise create_command_error(result)
        return result

    def _read_version(self) -> VersionInfo:
        done = process.run([self.command, "version"], env=self._env, timeout=60)
        if done.returncode != 0:
            raise EngineError(
                f"`{self.command} version` failed (exit code {done.returncode}): "
                + self._scrub(done.stderr.strip() or done.stdout.strip())
            )
        return parse_version(done.stdout)

    def _write(self, line: str) -> None:
        if self._log is not None:
            self._log(self._scrub(line))


def _subcommand(args: Sequence[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _loggable(args: Sequence[str]) -> list[str]:
    """argv for the log: the value after `--` (a config value) is never written."""
    if "--" in args:
        return [*args[: list(args).index("--")], "--", "(value not shown)"]
    return list(args)


def _tee(*sinks: LineSink | OnOutput | None) -> LineSink | None:
    active = [s for s in sinks if s is not None]
    if not active:
        return None

    def both(line: str) -> None:
        for sink in active:
            sink(line)

    return both


def command_failure_text(error: CommandError) -> str:
    """The stderr (else stdout) of a failed SDK command, last lines, for messages."""
    # str(CommandError) is "\n code: N\n stdout: ...\n stderr: ..." (pulumi.automation._cmd).
    head, _, stderr = str(error).rpartition("\n stderr: ")
    stdout = head.partition("\n stdout: ")[2]
    chosen = stderr.strip() or stdout.strip()
    lines = [ln for ln in chosen.splitlines() if ln.strip()]
    return "\n".join(lines[-10:])
