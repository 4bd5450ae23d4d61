"""Rendering results for people (terminal text) and for machines (the JSON envelope).

Everything rendered here is already redacted: engines replace sensitive values before
they reach a model, so the report never sees a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TextIO

from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    OutputChange,
    Plan,
    ResourceChange,
    Run,
    RunKind,
    RunStatus,
    StackOutcome,
    unexpected,
)

ENVELOPE_SCHEMA = "infra-gitops/v1"
"""Version of the --json envelope. Bump on any incompatible change (a contract test pins it)."""

_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.READ: "<=",
    Action.NOOP: " ",
    Action.FORGET: ".",
}

_TERRAFORM_ENGINES = ("terraform", "tofu")

_STATUS_WORDS = {
    RunStatus.NO_CHANGES: "no changes",
    RunStatus.CHANGES: "changes",
    RunStatus.DRIFTED: "DRIFTED",
    RunStatus.APPLIED: "applied",
    RunStatus.FAILED: "FAILED",
    RunStatus.SKIPPED: "skipped",
    RunStatus.RUNNING: "running",
    RunStatus.INTERRUPTED: "interrupted",
}


# ---------------------------------------------------------------- colour

_ANSI = {"red": "31", "green": "32", "yellow": "33", "bold": "1"}
_STATUS_COLOURS = {
    # a run's status (RunStatus) and a stack's sync status (SyncStatus), by value
    "no-changes": "green",
    "applied": "green",
    "synced": "green",
    "changes": "yellow",
    "running": "yellow",
    "outofsync": "yellow",
    "progressing": "yellow",
    "drifted": "red",
    "failed": "red",
    "interrupted": "red",
    "orphaned": "red",
}
_colour = False
"""Whether text for people is coloured: cli.main decides (a terminal, no $NO_COLOR)."""


def set_colour(enabled: bool) -> None:
    global _colour
    _colour = enabled


def paint(text: str, colour: str | None) -> str:
    """text in colour (a name of _ANSI) when colour is on, else as it is."""
    if not _colour or colour is None:
        return text
    return f"\033[{_ANSI[colour]}m{text}\033[0m"


def paint_status(text: str, status: str) -> str:
    """text (a status's words, maybe padded to a column) in the colour of status, a
    RunStatus or SyncStatus (both are str)."""
    return paint(text, _STATUS_COLOURS.get(str(status).lower()))


def envelope(command: str, exit_code: int, result: Any) -> str:
    """The versioned machine-readable result of any command."""
    return json.dumps(
        {
            "schema": ENVELOPE_SCHEMA,
            "command": command,
            "ok": exit_code != 1,
            "exit_code": exit_code,
            "result": result,
        },
        indent=2,
        sort_keys=False,
        default=str,
    )


# ---------------------------------------------------------------- JSON shapes


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "refresh_only": plan.refresh_only,
        "counts": plan.counts.to_dict(),
        "changes": [c.to_dict() for c in plan.changes],
        "drift": [c.to_dict() for c in plan.drift],
        "output_changes": [o.to_dict() for o in plan.output_changes],
        "deferred": [c.to_dict() for c in plan.deferred],
        "outputs": dict(plan.outputs),
        "engine": plan.engine,
        "engine_version": plan.engine_version,
        "mock_outputs": list(plan.mock_outputs),
    }


def outcome_to_dict(outcome: StackOutcome) -> dict[str, Any]:
    return {
        "stack": outcome.stack,
        "kind": str(outcome.kind),
        "status": str(outcome.status),
        "run_id": outcome.run_id,
        "error": outcome.error,
        "note": outcome.note,
        "duration_s": round(outcome.duration_s, 3),
        "plan": plan_to_dict(outcome.plan) if outcome.plan else None,
        "heal_plan": plan_to_dict(outcome.heal_plan) if outcome.heal_plan else None,
    }


def run_to_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "stack": run.stack,
        "kind": str(run.kind),
        "trigger": run.trigger,
        "status": str(run.status),
        "commit": {
            "sha": run.commit.sha,
            "author": run.commit.author,
            "email": run.commit.email,
            "date": run.commit.date,
            "message": run.commit.message,
            "dirty": run.commit.dirty,
        },
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": run.duration_s,
        "counts": run.counts.to_dict(),
        "changes": [c.to_dict() for c in run.changes],
        "drift": [c.to_dict() for c in run.drift],
        "output_changes": [o.to_dict() for o in run.output_changes],
        "engine": run.engine,
        "engine_version": run.engine_version,
        "error": run.error,
        "plan_artifact": run.plan_artifact,
        "log_artifact": run.log_artifact,
        "actor": run.actor,
    }


# ---------------------------------------------------------------- terminal text


def render_value(value: Any) -> str:
    if value in (UNKNOWN_MARKER, SENSITIVE_MARKER):
        return str(value)  # as Terraform prints them: markers, not string values
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)


def value_at(doc: Mapping[str, Any] | None, dotted: str) -> Any:
    """The value at a dotted attribute path (tags.env, rules.0.port), or None. Under a
    value known only after apply, UNKNOWN_MARKER."""
    node: Any = doc
    for part in dotted.split("."):
        if node == UNKNOWN_MARKER:
            return UNKNOWN_MARKER
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def describe_change(change: ResourceChange) -> str:
    """What happens to the resource, as Terraform says it: the action, and whether it
    is imported, moved or deferred."""
    parts = [] if change.action is Action.NOOP else [str(change.action)]
    if change.create_before_destroy:
        parts.append("create before destroy")
    if change.action is Action.FORGET:
        parts = ["forget: removed from the state, not destroyed"]
    if change.imported:
        parts.append(f"import {change.importing}")
    if change.moved:
        parts.append(f"moved from {change.previous_address}")
    if change.deferred_reason:
        parts.append(f"deferred: {change.deferred_reason}")
    return ", ".join(parts) or str(change.action)


def render_change(change: ResourceChange, *, show_values: bool) -> list[str]:
    symbol = "+/-" if change.create_before_destroy else _SYMBOLS[change.action]
    lines = [f"  {symbol:>3} {change.address} ({describe_change(change)})"]
    if not show_values:
        if change.changed_paths:
            lines.append(f"        changed: {', '.join(change.changed_paths)}")
        if change.unknown_paths:
            known_later = ", ".join(p or "(whole value)" for p in change.unknown_paths)
            lines.append(f"        {UNKNOWN_MARKER}: {known_later}")
        return lines
    for path in change.changed_paths:
        before = render_value(value_at(change.before, path))
        after = render_value(value_at(change.after, path))
        lines.append(f"        {path}: {before} -> {after}")
    return lines


def render_output_change(change: OutputChange) -> str:
    symbol = _SYMBOLS.get(change.action, "~")
    if change.action is Action.DELETE:
        return f"  {symbol:>3} output {change.name}: {render_value(change.before)} -> (removed)"
    if change.action is Action.CREATE:
        return f"  {symbol:>3} output {change.name} = {render_value(change.after)}"
    before, after = render_value(change.before), render_value(change.after)
    return f"  {symbol:>3} output {change.name}: {before} -> {after}"


def render_drift(drift: Sequence[ResourceChange], *, show_ignored: bool = False) -> list[str]:
    """Drift that counts, resource by resource; then the expected drift (policy
    ignore_drift): listed with show_ignored, else one line saying how much there is."""
    lines: list[str] = []
    counted = unexpected(drift)
    if counted:
        lines.append(f"  Changed outside of Git ({len(counted)} resource(s)):")
        for change in counted:
            shown = [p for p in change.changed_paths if p not in change.ignored_paths]
            lines.extend(
                render_change(replace(change, changed_paths=tuple(shown)), show_values=True)
            )
    ignored = [c for c in drift if c.ignored_paths]
    if not ignored:
        return lines
    paths = sum(len(c.ignored_paths) for c in ignored)
    if not show_ignored:
        addresses = ", ".join(c.address for c in ignored[:5]) + (
            ", ..." if len(ignored) > 5 else ""
        )
        lines.append(
            f"  Expected drift, not counted (policy ignore_drift): {paths} change(s) in "
            f"{addresses}; --show-ignored lists them"
        )
        return lines
    lines.append(f"  Expected drift, not counted (policy ignore_drift): {paths} change(s):")
    for change in ignored:
        kept = replace(change, changed_paths=change.ignored_paths)
        lines.extend(render_change(kept, show_values=True))
    return lines


def render_plan(plan: Plan, *, show_ignored: bool = False) -> list[str]:
    lines = render_drift(plan.drift, show_ignored=show_ignored)
    if plan.changes or plan.output_changes:
        lines.append(f"  Plan: {plan.counts}")
        if plan.engine in _TERRAFORM_ENGINES and plan.changes:
            # Terraform counts a replace as one add and one destroy: say it its way too.
            lines.append(f"  Terraform says: {plan.counts.terraform_summary()}")
        for change in plan.changes:
            lines.extend(render_change(change, show_values=change.action is Action.UPDATE))
    if plan.output_changes:
        lines.append(f"  Changes to outputs ({len(plan.output_changes)}):")
        lines.extend(render_output_change(o) for o in plan.output_changes)
    if plan.deferred:
        lines.append(
            f"  Deferred to a later plan ({len(plan.deferred)}): not applied with this plan"
        )
        for change in plan.deferred:
            lines.extend(render_change(change, show_values=False))
    return lines


def _outcome_word(outcome: StackOutcome) -> str:
    # A destroy (destroy, prune) that went through is recorded as applied: say what it did.
    if outcome.kind is RunKind.DESTROY and outcome.status is RunStatus.APPLIED:
        return "destroyed"
    return _STATUS_WORDS[outcome.status]


def render_outcome(outcome: StackOutcome, *, show_ignored: bool = False) -> str:
    word = _outcome_word(outcome)
    if outcome.kind is RunKind.HEAL and outcome.status is RunStatus.DRIFTED:
        word = "DRIFTED, healed"
    head = f"{outcome.stack}: {paint_status(word, outcome.status)}"
    if outcome.plan is not None and outcome.plan.mock_outputs:
        head += " " + paint("[planned against mock outputs]", "yellow")
    if outcome.run_id:
        head += f"  (run {outcome.run_id}, {outcome.duration_s:.1f}s)"
    lines = [head]
    for text in (outcome.error, outcome.note):
        lines.extend("  " + line for line in (text or "").splitlines())
    if outcome.plan:
        lines.extend(render_plan(outcome.plan, show_ignored=show_ignored))
    if outcome.heal_plan and outcome.heal_plan.changes:
        lines.append(f"  Healed by applying the Git state: {outcome.heal_plan.counts}")
        for change in outcome.heal_plan.changes:
            lines.extend(render_change(change, show_values=change.action is Action.UPDATE))
    return "\n".join(lines)


def render_outcomes(outcomes: Sequence[StackOutcome], *, show_ignored: bool = False) -> str:
    blocks = [render_outcome(o, show_ignored=show_ignored) for o in outcomes]
    tally: dict[tuple[str, RunStatus], int] = {}
    for outcome in outcomes:
        key = (_outcome_word(outcome), outcome.status)
        tally[key] = tally.get(key, 0) + 1
    summary = (
        ", ".join(paint_status(f"{n} {word}", status) for (word, status), n in tally.items())
        or "no stacks"
    )
    return "\n\n".join([*blocks, f"Summary: {summary}"])


def render_history(runs: Iterable[Run]) -> str:
    rows = [
        (
            run.id,
            run.stack,
            str(run.kind) + (f" (by {run.actor})" if run.actor else ""),
            str(run.status),
            run.commit.short_sha + ("+dirty" if run.commit.dirty else ""),
            run.commit.author,
            run.started_at,
            run.commit.subject[:50],
        )
        for run in runs
    ]
    if not rows:
        return "No runs recorded."
    header = ("RUN", "STACK", "KIND", "STATUS", "COMMIT", "AUTHOR", "STARTED", "MESSAGE")
    return _table(header, rows, status_column=3)


def render_run(run: Run) -> str:
    lines = [
        f"Run {run.id}",
        f"  stack:    {run.stack}",
        f"  kind:     {run.kind} (trigger: {run.trigger}"
        + (f", run by {run.actor})" if run.actor else ")"),
        f"  status:   {run.status}",
        f"  commit:   {run.commit.sha}{' (with uncommitted changes)' if run.commit.dirty else ''}",
        f"  author:   {run.commit.author} <{run.commit.email}>  {run.commit.date}",
        f"  message:  {run.commit.subject}",
        f"  started:  {run.started_at}",
        f"  finished: {run.finished_at or '-'}"
        + (f" ({run.duration_s:.1f}s)" if run.duration_s is not None else ""),
        f"  engine:   {run.engine_version or run.engine}",
        f"  counts:   {run.counts}",
    ]
    if run.error:
        lines.append("  error:")
        lines.extend("    " + line for line in run.error.splitlines())
    lines.extend("  " + line for line in render_drift(run.drift, show_ignored=True))
    if run.changes:
        lines.append("  changes:")
        for change in run.changes:
            show = change.action is Action.UPDATE
            lines.extend("  " + line for line in render_change(change, show_values=show))
    if run.output_changes:
        lines.append("  output changes:")
        lines.extend("  " + render_output_change(o) for o in run.output_changes)
    for label, path in (("plan", run.plan_artifact), ("log", run.log_artifact)):
        if path:
            lines.append(f"  {label} artifact: {path}")
    return "\n".join(lines)


def write_artifact(data: bytes, out: TextIO) -> None:
    """An artifact's bytes as they are: to out's binary buffer when it has one (stdout),
    else decoded (a text stream in tests)."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(data.decode("utf-8", errors="replace"))
        return
    out.flush()
    buffer.write(data)
    buffer.flush()


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain table: columns padded to their widest cell."""
    return _table(header, rows)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: int | None = None
) -> str:
    """Columns padded to their widest cell; the status column's cells coloured after the
    padding, so escape codes never count as width."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(f"{c:<{w}}" for c, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        cells = [f"{str(c):<{w}}" for c, w in zip(row, widths, strict=True)]
        if status_column is not None:
            cell = cells[status_column]
            cells[status_column] = paint_status(cell, str(row[status_column])) if cell else cell
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
