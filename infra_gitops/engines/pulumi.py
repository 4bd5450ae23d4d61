"""The Pulumi engine: the Automation API (pulumi.automation) driving the `pulumi` CLI.

prepare  select (or create) the stack in its backend; set config and secrets from the
         manifest's variables
plan     `preview --refresh --save-plan` (an update plan: apply does only what was
         previewed); refresh_only: `refresh --preview-only` (drift, nothing written)
apply    `up --refresh --plan PLAN`
outputs  `stack output`, secrets redacted
destroy  `destroy`

The model comes from the engine events (on_event), mapped in engines.pulumi_events; the
kept artifact holds the normalized changes and the CLI's own `preview --json` document,
both redacted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi.automation import (
    CommandError,
    ConcurrentUpdateError,
    ConfigValue,
    LocalWorkspace,
    Stack,
)
from pulumi.automation.errors import InvalidVersionError

from infra_gitops.engines.base import ManagedResource, StackWorkspace
from infra_gitops.engines.pulumi_backend import (
    backend_for,
    check_secrets_setup,
    credential_values,
    pulumi_env,
    restore_secrets_settings,
    save_secrets_settings,
)
from infra_gitops.engines.pulumi_cli import PulumiCli, command_failure_text, resolve_pulumi
from infra_gitops.engines.pulumi_events import EventLog, MappedEvents, map_events, redact_preview
from infra_gitops.engines.pulumi_values import clean, config_text
from infra_gitops.errors import CommandTimeoutError, EngineError, StateLockedError
from infra_gitops.models import SENSITIVE_MARKER, ApplyResult, ChangeCounts, Plan
from infra_gitops.redaction import Scrubber

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml", "Pulumi.json")
ARTIFACT_FORMAT = "infra-gitops/pulumi-plan/1"


LineSink = Callable[[str], None]

TERRAFORM_TYPES = {
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketV2:BucketV2": "aws_s3_bucket",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
}
"""Pulumi resource types -> the Terraform type `unmanaged` lists them as (others keep
their Pulumi type, which no lister scans)."""


@dataclass(frozen=True)
class _Session:
    """One stack opened through the Automation API (kept between prepare and plan)."""

    cli: PulumiCli
    stack: Stack
    scrubber: Scrubber
    log: LineSink | None


class PulumiEngine:
    name = "pulumi"

    def __init__(self) -> None:
        self._sessions: dict[tuple[Path, str], _Session] = {}

    # --- Engine protocol ---------------------------------------------------------------

    def version(self, ws: StackWorkspace) -> str:
        return f"pulumi {self._session(ws).cli.version}"

    def prepare(self, ws: StackWorkspace) -> None:
        resolve_pulumi(ws.stack, ws.env)  # a missing CLI is the first thing reported
        _check_project_dir(ws)
        session = self._session(ws, create=True)
        with _failures(ws, "config", session.scrubber):
            _set_config(ws, session)
        save_secrets_settings(ws)

    def plan(self, ws: StackWorkspace, *, refresh_only: bool = False) -> Plan:
        session = self._session(ws)
        plans_dir = ws.plans_dir
        plans_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        events = EventLog(session.scrubber, on_line=session.log)
        preview_doc: dict[str, Any] | None = None
        plan_file: Path | None = None
        if refresh_only:
            with _failures(ws, "refresh --preview-only", session.scrubber, events):
                session.stack.preview_refresh(on_event=events.add, color="never")
        else:
            plan_file = plans_dir / f"{stamp}.pulumiplan.json"
            with _failures(ws, "preview", session.scrubber, events):
                result = session.stack.preview(
                    on_event=events.add,
                    refresh=True,
                    plan=str(plan_file),
                    json=True,
                    color="never",
                )
            plan_file.chmod(0o600)
            preview_doc = _json_or_none(result.stdout)
        mapped = map_events(events.events, refresh_only=refresh_only, scrubber=session.scrubber)
        version = self.version(ws)
        artifact = _write_artifact(
            plans_dir / f"{stamp}.plan.json", mapped, preview_doc, version, session.scrubber
        )
        return Plan(
            stack=ws.stack.name,
            changes=mapped.changes,
            drift=mapped.drift,
            outputs=mapped.outputs,
            engine=self.name,
            engine_version=version,
            refresh_only=refresh_only,
            plan_file=plan_file,
            artifact=artifact,
        )

    def apply(self, ws: StackWorkspace, plan: Plan) -> ApplyResult:
        if plan.plan_file is None or not plan.plan_file.is_file():
            raise EngineError(
                f"stack {ws.stack.name!r}: apply: the saved update plan {plan.plan_file} is "
                "missing; plan again and apply that plan"
            )
        session = self._session(ws)
        events = EventLog(session.scrubber, on_line=session.log, on_progress=ws.progress)
        with _failures(ws, "up", session.scrubber, events):
            # Refresh as the preview did, so the plan's operations meet the same state.
            result = session.stack.up(
                on_event=events.add,
                plan=str(plan.plan_file),
                refresh=True,
                color="never",
                show_secrets=False,
            )
        plan.plan_file.unlink(missing_ok=True)
        return ApplyResult(
            stack=ws.stack.name,
            counts=plan.counts,
            outputs=_redacted_outputs(result.outputs, session.scrubber),
            engine_version=self.version(ws),
        )

    def outputs(self, ws: StackWorkspace) -> Mapping[str, Any]:
        session = self._session(ws)
        with _failures(ws, "stack output", session.scrubber):
            values = session.stack.outputs()
        return _redacted_outputs(values, session.scrubber)

    def destroy(self, ws: StackWorkspace) -> ApplyResult:
        session = self._session(ws)
        events = EventLog(session.scrubber, on_line=session.log, on_progress=ws.progress)
        with _failures(ws, "destroy", session.scrubber, events):
            session.stack.destroy(on_event=events.add, color="never", show_secrets=False)
        mapped = map_events(events.events, refresh_only=False, scrubber=session.scrubber)
        return ApplyResult(
            stack=ws.stack.name,
            counts=ChangeCounts.of(list(mapped.changes)),
            outputs={},
            engine_version=self.version(ws),
        )

    def state_resources(self, ws: StackWorkspace) -> tuple[ManagedResource, ...]:
        session = self._session(ws)
        with _failures(ws, "stack export", session.scrubber):
            deployment = session.stack.export_stack().deployment or {}
        return tuple(
            ManagedResource(
                type=TERRAFORM_TYPES.get(str(r.get("type")), str(r.get("type"))),
                id=str(r.get("id") or ""),
                address=str(r.get("urn", "")),
                arn=_text((r.get("outputs") or {}).get("arn")),
                name=_text((r.get("outputs") or {}).get("bucket"))
                or _text((r.get("outputs") or {}).get("name")),
            )
            for r in deployment.get("resources") or ()
            if r.get("custom") and not str(r.get("type")).startswith("pulumi:")
        )

    # --- the Automation API session ----------------------------------------------------

    def _session(self, ws: StackWorkspace, *, create: bool = False) -> _Session:
        key = (ws.source_dir, ws.stack.workspace)
        if key not in self._sessions:
            self._sessions[key] = _open(ws, create=create)
        return self._sessions[key]


def _open(ws: StackWorkspace, *, create: bool) -> _Session:
    binary = resolve_pulumi(ws.stack, ws.env)
    backend = backend_for(ws)
    env = pulumi_env(ws, backend)
    check_secrets_setup(ws, backend, env)
    scrubber = Scrubber([*ws.secrets, *credential_values(env)])
    log = _log_sink(ws.log_file)
    restore_secrets_settings(ws)
    try:
        cli = PulumiCli(binary, env=env, timeout=ws.timeout, log=log, scrub=scrubber.scrub)
    except EngineError as exc:  # an unusable CLI: its version check failed
        raise EngineError(f"stack {ws.stack.name!r}: {exc}") from None
    with _failures(ws, "stack select", scrubber):
        workspace = LocalWorkspace(
            work_dir=str(ws.source_dir),
            env_vars=env,
            secrets_provider=backend.secrets_provider,
            pulumi_command=cli,
        )
        mode = Stack.create_or_select if create else Stack.select
        stack = mode(ws.stack.workspace, workspace)
    return _Session(cli=cli, stack=stack, scrubber=scrubber, log=log)


def _log_sink(path: Path | None) -> LineSink | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(line: str) -> None:
        # Appending per line: several threads (stdout, stderr, events) write at once,
        # and O_APPEND keeps each line whole.
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    return write


def _check_project_dir(ws: StackWorkspace) -> None:
    where = f"stack {ws.stack.name!r} (path {ws.stack.path!r} in the manifest)"
    if not ws.source_dir.is_dir():
        raise EngineError(f"{where}: directory {ws.source_dir} does not exist")
    if not any((ws.source_dir / name).is_file() for name in PROJECT_FILES):
        raise EngineError(
            f"{where}: directory {ws.source_dir} has no Pulumi project (no Pulumi.yaml)"
        )


def _set_config(ws: StackWorkspace, session: _Session) -> None:
    """Manifest variables -> stack config; sensitive ones as Pulumi secrets, their
    values passed on stdin (never argv)."""
    stack = session.stack
    secret_names = ws.stack.sensitive_variables
    plain = {
        name: ConfigValue(config_text(value))
        for name, value in ws.variables.items()
        if value is not None and name not in secret_names
    }
    if plain:
        ws.progress("pulumi: config")
        stack.set_all_config(plain)
    for name in sorted(secret_names):
        value = ws.variables.get(name)
        if value is None:
            continue
        args = ["config", "set", "--secret", name, "--stack", stack.name]
        session.cli.run_with_input(args, str(ws.source_dir), {}, config_text(value))


@contextmanager
def _failures(
    ws: StackWorkspace, step: str, scrubber: Scrubber, events: EventLog | None = None
) -> Iterator[None]:
    """SDK and CLI failures -> errors naming the stack, the step and the cause."""
    ws.progress(f"pulumi {step}")
    where = f"stack {ws.stack.name!r}: pulumi {step} failed"
    try:
        yield
    except ConcurrentUpdateError as exc:
        raise StateLockedError(
            f"{where}: the stack is locked by another update. Wait for it to finish; if it "
            "died, `pulumi cancel` (Pulumi Cloud) or remove the stale lock under "
            "`.pulumi/locks/` in the state backend once you are sure nothing is running.\n"
            + scrubber.scrub(command_failure_text(exc))
        ) from None
    except CommandError as exc:
        raise EngineError(f"{where}:\n{_cause(exc, scrubber, events)}") from None
    except CommandTimeoutError:
        raise CommandTimeoutError(
            f"{where}: ran past its timeout of {ws.timeout:g}s and was killed with its child "
            "processes; the stack may be left locked (see `pulumi cancel`)"
        ) from None
    except (InvalidVersionError, RuntimeError) as exc:
        # The SDK raises RuntimeError("summary event never found") when the CLI died early.
        raise EngineError(f"{where}: {scrubber.scrub(str(exc))}") from None


def _cause(exc: CommandError, scrubber: Scrubber, events: EventLog | None) -> str:
    """The error diagnostics of the events (they name the resource), else the CLI's
    stderr."""
    if events is not None:
        mapped = map_events(events.events, refresh_only=False, scrubber=scrubber)
        lines = [
            f"  {d.urn}: {d.message}" if d.urn else f"  {d.message}"
            for d in mapped.diagnostics
            if d.severity == "error"
        ]
        lines += [f"  failed: {urn}" for urn in mapped.failed if not any(urn in ln for ln in lines)]
        if lines:
            return "\n".join(lines)
    return scrubber.scrub(command_failure_text(exc)) or "(no output)"


def _redacted_outputs(values: Mapping[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    """OutputMap -> name: value, secrets as SENSITIVE_MARKER."""
    found: set[str] = set()
    for item in values.values():
        if item.secret:
            found.update(_texts(item.value))
    outputs = {
        name: SENSITIVE_MARKER if item.secret else clean(item.value, scrubber, found)
        for name, item in values.items()
    }
    result: dict[str, Any] = scrubber.with_secrets(found).scrub_json(outputs)
    return result


def _texts(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        return set().union(*(_texts(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_texts(v) for v in value)) if value else set()
    return set()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _write_artifact(
    path: Path,
    mapped: MappedEvents,
    preview_doc: Mapping[str, Any] | None,
    version: str,
    scrubber: Scrubber,
) -> Path:
    doc = {
        "format": ARTIFACT_FORMAT,
        "engine_version": version,
        "changes": [c.to_dict() for c in mapped.changes],
        "drift": [c.to_dict() for c in mapped.drift],
        "diagnostics": [vars(d) for d in mapped.diagnostics],
        "change_summary": dict(mapped.summary),
        "preview": redact_preview(preview_doc, scrubber) if preview_doc is not None else None,
    }
    path.write_text(json.dumps(scrubber.scrub_json(doc), indent=2, sort_keys=True) + "\n")
    path.chmod(0o600)
    return path
