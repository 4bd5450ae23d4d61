"""Pulumi engine events (Automation API `on_event`) and `preview --json` -> models.

Both carry the same step metadata under different key names, so each is first turned
into a `Step`, and one function maps a Step to a ResourceChange.

What the engine emits (pulumi/pkg/engine/events.go, pkg/backend/display/json.go):

- ResourcePreEvent per step before it runs: the plan (`op` create / update / replace /
  delete / same / refresh ..., `old` and `new` state, `diffs`, `detailedDiff`, `keys`).
  A replacement is three steps (create-replacement, replace, delete-replaced); the
  `replace` one stands for the resource.
- ResOutputsEvent after a step: for a refresh step its `new` state is what was read
  from the cloud (None when the resource is gone). In `pulumi refresh` (also with
  --preview-only) its `op` is already the result: same / update / delete; in
  `preview --refresh` / `up --refresh` it stays `refresh` and old/new tell.
- ResOpFailedEvent when a resource operation fails, after a DiagnosticEvent (severity
  "error") with the same URN saying why.
- SummaryEvent at the end: counts per op.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.automation import events as pe

from infra_gitops.engines.pulumi_values import clean, clean_map, diff_paths, dotted_path
from infra_gitops.models import Action, ResourceChange
from infra_gitops.redaction import Scrubber

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"

CHANGE_ACTIONS: Mapping[str, Action] = {
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "replace": Action.REPLACE,
    "delete": Action.DELETE,
    # Importing adopts an existing cloud resource: new to the stack, so a reviewer sees
    # it where new resources are listed (there is no separate import action).
    "import": Action.CREATE,
    "import-replacement": Action.REPLACE,
}
"""Ops that change the stack. The others (same, read, refresh, and the halves of a
replacement: create-replacement, delete-replaced, ...) are folded away."""

REPLACEMENT_HALVES = frozenset({"create-replacement", "delete-replaced"})


@dataclass(frozen=True)
class Step:
    """One step as either source describes it; values not yet cleaned."""

    op: str
    urn: str
    type: str
    old_inputs: Mapping[str, Any] | None = None
    old_outputs: Mapping[str, Any] | None = None
    new_inputs: Mapping[str, Any] | None = None
    new_outputs: Mapping[str, Any] | None = None
    has_old: bool = False
    has_new: bool = False
    detailed_diff: tuple[str, ...] = ()
    """Pulumi property paths that differ (keys of detailedDiff)."""
    diffs: tuple[str, ...] = ()
    """Top-level keys that differ, and keys forcing a replacement."""

    @property
    def name(self) -> str:
        return urn_parts(self.urn)[2]

    @property
    def hidden(self) -> bool:
        """The root stack and the default providers: bookkeeping, not infrastructure."""
        if self.type == ROOT_STACK_TYPE:
            return True
        return self.type.startswith(PROVIDER_TYPE_PREFIX) and self.name.startswith("default")


def urn_parts(urn: str) -> tuple[str, str | None, str]:
    """(type, parent type chain or None, name) of
    `urn:pulumi:STACK::PROJECT::[PARENT$]*TYPE::NAME` (names may contain "::")."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return "", None, urn
    chain = parts[2].split("$")
    return chain[-1], "$".join(chain[:-1]) or None, parts[3]


# --- sources -> Step --------------------------------------------------------------------


def step_from_metadata(meta: pe.StepEventMetadata) -> Step:
    old, new = meta.old, meta.new
    return Step(
        op=_op_text(meta.op),
        urn=meta.urn,
        type=meta.type or urn_parts(meta.urn)[0],
        old_inputs=old.inputs if old else None,
        old_outputs=old.outputs if old else None,
        new_inputs=new.inputs if new else None,
        new_outputs=new.outputs if new else None,
        has_old=old is not None,
        has_new=new is not None,
        detailed_diff=tuple(sorted(meta.detailed_diff or {})),
        diffs=tuple(dict.fromkeys([*(meta.diffs or ()), *(meta.keys or ())])),
    )


def step_from_preview(raw: Mapping[str, Any]) -> Step:
    """One entry of `steps` in a `pulumi preview --json` document."""
    old, new = raw.get("oldState"), raw.get("newState")
    urn = str(raw.get("urn", ""))
    state_type = (new or old or {}).get("type")
    reasons = [*(raw.get("diffReasons") or ()), *(raw.get("replaceReasons") or ())]
    return Step(
        op=str(raw.get("op", "")),
        urn=urn,
        type=str(state_type or urn_parts(urn)[0]),
        old_inputs=old.get("inputs") if old else None,
        old_outputs=old.get("outputs") if old else None,
        new_inputs=new.get("inputs") if new else None,
        new_outputs=new.get("outputs") if new else None,
        has_old=old is not None,
        has_new=new is not None,
        detailed_diff=tuple(sorted(raw.get("detailedDiff") or {})),
        diffs=tuple(dict.fromkeys(reasons)),
    )


def _op_text(op: Any) -> str:
    return str(op.value) if isinstance(op, pe.OpType) else str(op)


# --- Step -> ResourceChange -------------------------------------------------------------


def planned_change(
    step: Step, scrubber: Scrubber, extra_paths: Iterable[str] = ()
) -> ResourceChange:
    """A change the program asks for. before/after are the resource's inputs: what the
    program declared last time and declares now (outputs are mostly unknown in a
    preview). Paths are listed for updates and replacements only, as for Terraform."""
    action = CHANGE_ACTIONS[step.op]
    before = clean_map(step.old_inputs, scrubber) if step.has_old else None
    after = clean_map(step.new_inputs, scrubber) if step.has_new else None
    if action is Action.CREATE:
        before = None
    elif action is Action.DELETE:
        after = None
    paths: tuple[str, ...] = ()
    if action in (Action.UPDATE, Action.REPLACE):
        paths = _changed_paths(step, before, after, extra_paths)
    return _change(step, action, paths, before, after)


def drift_change(step: Step, scrubber: Scrubber) -> ResourceChange | None:
    """What a refresh found changed outside Pulumi, from the refresh step's outputs
    event; None when the cloud matches the state."""
    before = clean_map(step.old_outputs, scrubber)
    if not step.has_new or step.op == "delete":
        return _change(step, Action.DELETE, (), before, None)
    after = clean_map(step.new_outputs, scrubber)
    paths = tuple(dotted_path(p) for p in step.detailed_diff) or diff_paths(before, after)
    if not paths:
        return None
    return _change(step, Action.UPDATE, paths, before, after)


def _changed_paths(step: Step, before: Any, after: Any, extra: Iterable[str]) -> tuple[str, ...]:
    raw = [*step.detailed_diff, *extra] or [*step.diffs]
    if raw:
        return tuple(dict.fromkeys(dotted_path(p) for p in sorted(raw)))
    return diff_paths(before, after)


def _change(
    step: Step, action: Action, paths: tuple[str, ...], before: Any, after: Any
) -> ResourceChange:
    _, parents, name = urn_parts(step.urn)
    return ResourceChange(
        address=step.urn,
        type=step.type,
        name=name,
        module=parents,
        action=action,
        changed_paths=paths,
        before=before,
        after=after,
    )


# --- event streams ----------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    """error, warning, info, info#err"""
    message: str
    urn: str | None = None


_COLOR_TAG = re.compile(r"<\{%[^%]*%\}>")


def plain(message: str) -> str:
    """A diagnostic message without Pulumi's raw colour tags (`<{%fg 1%}>`)."""
    return _COLOR_TAG.sub("", message).strip()


@dataclass
class EventLog:
    """Collects the events of one operation (the SDK calls `add` from its event thread)
    and forwards a one-line description of each to `on_line` for the run log."""

    scrubber: Scrubber = field(default_factory=lambda: Scrubber(()))
    on_line: Callable[[str], None] | None = None
    on_progress: Callable[[str], None] | None = None
    """Receives which resource starts and ends changing (updates and destroys only)."""
    _events: list[pe.EngineEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: dict[str, int] = field(default_factory=dict)

    def add(self, event: pe.EngineEvent) -> None:
        with self._lock:
            self._events.append(event)
            step = progress_line(event, self._started) if self.on_progress else None
        if self.on_line is not None:
            line = describe(event)
            if line:
                self.on_line(self.scrubber.scrub(line))
        if step is not None and self.on_progress is not None:
            self.on_progress(self.scrubber.scrub(step))

    @property
    def events(self) -> list[pe.EngineEvent]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.sequence)


PROGRESS_WORDS: Mapping[str, tuple[str, str]] = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "replace": ("replacing", "replaced"),
    "delete": ("destroying", "destroyed"),
    "import": ("importing", "imported"),
    "create-replacement": ("creating replacement", "created replacement"),
    "delete-replaced": ("destroying replaced", "destroyed replaced"),
}
"""Ops that change a resource -> (in progress, done), the words of Terraform's lines."""


def progress_line(event: pe.EngineEvent, started: dict[str, int]) -> str | None:
    """Which resource starts or ends changing ("aws:s3/bucket:Bucket artifacts: creating...",
    "... created (2s)"), like the Terraform engine's progress; started maps URN -> the
    start event's timestamp (seconds), for the elapsed time."""
    if event.resource_pre_event is not None:
        meta, ending = event.resource_pre_event.metadata, None
    elif event.res_outputs_event is not None:
        meta, ending = event.res_outputs_event.metadata, "done"
    elif event.res_op_failed_event is not None:
        meta, ending = event.res_op_failed_event.metadata, "failed"
    else:
        return None
    step = step_from_metadata(meta)
    words = PROGRESS_WORDS.get(step.op)
    if words is None or step.hidden:
        return None
    resource = f"{step.type} {step.name}"
    if ending is None:
        started[step.urn] = event.timestamp
        return f"{resource}: {words[0]}..."
    elapsed = max(0, event.timestamp - started.pop(step.urn, event.timestamp))
    if ending == "failed":
        return f"{resource}: {words[0]} failed ({elapsed}s)"
    return f"{resource}: {words[1]} ({elapsed}s)"


def describe(event: pe.EngineEvent) -> str | None:
    """A line for the run log, like Pulumi's own progress display."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        step = step_from_metadata(meta)
        if step.hidden or step.op in ("same", "refresh"):
            return None
        paths = ", ".join(dotted_path(p) for p in step.detailed_diff or step.diffs)
        return f"{step.op} {step.urn}" + (f" [diff: {paths}]" if paths else "")
    if event.res_op_failed_event is not None:
        return f"failed: {event.res_op_failed_event.metadata.urn}"
    diag = event.diagnostic_event
    if diag is not None and not diag.ephemeral and diag.severity in ("error", "warning"):
        return f"{diag.severity}: {plain(diag.message)}"
    return None


@dataclass(frozen=True)
class MappedEvents:
    changes: tuple[ResourceChange, ...]
    drift: tuple[ResourceChange, ...]
    diagnostics: tuple[Diagnostic, ...]
    failed: tuple[str, ...]
    """URNs whose operation failed."""
    outputs: Mapping[str, Any]
    """The root stack's outputs as the events last showed them (cleaned)."""
    summary: Mapping[str, int]
    maybe_corrupt: bool = False


def map_events(
    events: Iterable[pe.EngineEvent], *, refresh_only: bool, scrubber: Scrubber
) -> MappedEvents:
    """Normalize one operation's events. refresh_only: the events of `pulumi refresh`
    (their outputs events carry the refresh result as the op)."""
    ordered = sorted(events, key=lambda e: e.sequence)
    pre = [
        step_from_metadata(e.resource_pre_event.metadata) for e in ordered if e.resource_pre_event
    ]
    outs = [
        step_from_metadata(e.res_outputs_event.metadata) for e in ordered if e.res_outputs_event
    ]
    summary = next((e.summary_event for e in reversed(ordered) if e.summary_event), None)
    return MappedEvents(
        changes=() if refresh_only else _planned_changes(pre, scrubber),
        drift=_drift(outs, refresh_only, scrubber),
        diagnostics=tuple(_diagnostics(ordered, scrubber)),
        failed=tuple(
            dict.fromkeys(
                e.res_op_failed_event.metadata.urn for e in ordered if e.res_op_failed_event
            )
        ),
        outputs=_root_outputs([*pre, *outs], scrubber),
        summary={_op_text(k): v for k, v in summary.resource_changes.items()} if summary else {},
        maybe_corrupt=bool(summary and summary.maybe_corrupt),
    )


def _planned_changes(steps: list[Step], scrubber: Scrubber) -> tuple[ResourceChange, ...]:
    halves: dict[str, list[str]] = {}
    for step in steps:
        if step.op in REPLACEMENT_HALVES:
            halves.setdefault(step.urn, []).extend(step.detailed_diff or step.diffs)
    seen: set[tuple[str, str]] = set()
    changes: list[ResourceChange] = []
    for step in steps:
        if step.op not in CHANGE_ACTIONS or step.hidden or (step.urn, step.op) in seen:
            continue
        seen.add((step.urn, step.op))
        changes.append(planned_change(step, scrubber, halves.get(step.urn, ())))
    return tuple(changes)


def _drift(steps: list[Step], refresh_only: bool, scrubber: Scrubber) -> tuple[ResourceChange, ...]:
    found: dict[str, ResourceChange] = {}
    for step in steps:
        is_refresh = step.op == "refresh" or (refresh_only and step.op in ("update", "delete"))
        if not is_refresh or step.hidden:
            continue
        change = drift_change(step, scrubber)
        if change is not None:
            found[step.urn] = change
        else:
            found.pop(step.urn, None)
    return tuple(found.values())


def _diagnostics(events: list[pe.EngineEvent], scrubber: Scrubber) -> Iterable[Diagnostic]:
    seen: set[Diagnostic] = set()
    for event in events:
        diag = event.diagnostic_event
        if diag is None or diag.ephemeral or diag.severity == "debug":
            continue
        found = Diagnostic(diag.severity, scrubber.scrub(plain(diag.message)), diag.urn or None)
        if found.message and found not in seen:
            seen.add(found)
            yield found


def _root_outputs(steps: list[Step], scrubber: Scrubber) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for step in steps:
        if step.type == ROOT_STACK_TYPE and step.has_new and step.new_outputs:
            outputs = clean(dict(step.new_outputs), scrubber)
    return outputs


# --- preview --json ---------------------------------------------------------------------


def changes_from_preview(doc: Mapping[str, Any], scrubber: Scrubber) -> tuple[ResourceChange, ...]:
    """The changes of a `pulumi preview --json` document (its steps are the
    ResourcePreEvents of the preview; drift needs the events: see the module doc)."""
    steps = [step_from_preview(raw) for raw in doc.get("steps") or ()]
    return _planned_changes(steps, scrubber)


def diagnostics_from_preview(doc: Mapping[str, Any], scrubber: Scrubber) -> tuple[Diagnostic, ...]:
    return tuple(
        Diagnostic(
            str(d.get("severity", "")),
            scrubber.scrub(plain(str(d.get("prefix", "")) + str(d.get("message", "")))),
            d.get("urn") or None,
        )
        for d in doc.get("diagnostics") or ()
    )


def redact_preview(doc: Mapping[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    """A `preview --json` document safe to keep: every state's inputs and outputs
    cleaned (the CLI already prints secrets as "[secret]"), every string scrubbed."""
    out: dict[str, Any] = dict(doc)
    steps = []
    for raw in doc.get("steps") or ():
        step = dict(raw)
        for side in ("oldState", "newState"):
            if isinstance(step.get(side), Mapping):
                state = dict(step[side])
                for key in ("inputs", "outputs"):
                    if key in state:
                        state[key] = clean(state[key], scrubber)
                step[side] = state
        steps.append(step)
    out["steps"] = steps
    result: dict[str, Any] = scrubber.scrub_json(out)
    return result
