"""The pull request report in Markdown (GitHub and GitLab flavours both render it).

Only redacted models are rendered (sensitive values never reach a model), and only
attribute names, never values: a reviewer sees what changes, the run record has the rest.
A comment holds at most 65,536 characters: past that, resource tables are cut, largest
first, then whole stacks, and the report says what was cut.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infra_gitops.ci.result import PlanReport
from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    OutputChange,
    ResourceChange,
    RunStatus,
    StackOutcome,
    unexpected,
)

MARKER = "<!-- infra-gitops:plan -->"
"""Hidden first line: finds our comment again on the next run."""

MAX_CHARS = 65_536
"""GitHub's limit for a comment body (and for a step summary it is 1 MiB)."""

FOLD_AFTER = 10
"""Tables with more rows than this are folded in <details>."""

MAX_ATTRIBUTES = 8
"""Changed attributes listed per resource; the rest are counted."""

MAX_VALUE_CHARS = 80
"""An output value longer than this is cut in the table (the run record has it all)."""

_ACTION_CELLS = {
    Action.CREATE: ":heavy_plus_sign: create",
    Action.UPDATE: ":pencil2: update",
    Action.REPLACE: ":warning: **replace**",
    Action.DELETE: ":x: **delete**",
    Action.READ: "read",
    Action.NOOP: "no-op",
    Action.FORGET: ":wave: forget (not destroyed)",
}

_RESULT_CELLS = {
    RunStatus.NO_CHANGES: "no changes",
    RunStatus.CHANGES: "changes",
    RunStatus.FAILED: ":x: **failed**",
    RunStatus.SKIPPED: "skipped",
    RunStatus.INTERRUPTED: "interrupted",
    RunStatus.RUNNING: "running",
    RunStatus.DRIFTED: "drifted",
    RunStatus.APPLIED: "applied",
}


def render(report: PlanReport, *, limit: int = MAX_CHARS) -> str:
    """The whole report, at most limit characters."""
    head = _head(report)
    full = [_stack_section(o, report, cut=False) for o in report.outcomes]
    short = [_stack_section(o, report, cut=True) for o in report.outcomes]
    return _fit(head, full, short, limit)


# --- fitting into the limit ------------------------------------------------------------


def _fit(head: str, full: list[str], short: list[str], limit: int) -> str:
    chosen = list(full)
    cut: list[int] = []
    for index in sorted(range(len(full)), key=lambda i: -len(full[i])):
        if _length(head, chosen, _notice(cut, 0)) <= limit:
            break
        chosen[index] = short[index]
        cut.append(index)
    dropped = 0
    while chosen and _length(head, chosen, _notice(cut, dropped)) > limit:
        chosen.pop()
        dropped += 1
    text = _join(head, chosen, _notice(cut, dropped))
    if len(text) > limit:  # only a head alone past the limit: cut it hard
        notice = "\n\n:scissors: *Report cut at the comment size limit.*\n"
        text = text[: limit - len(notice)] + notice
    return text


def _notice(cut: Sequence[int], dropped: int) -> str:
    if not cut and not dropped:
        return ""
    parts = []
    if cut:
        parts.append(f"the resource tables of {len(cut)} stack(s) were left out")
    if dropped:
        parts.append(f"the last {dropped} stack(s) were left out")
    return (
        f":scissors: **This report was cut** to fit the {MAX_CHARS:,}-character comment "
        f"limit: {' and '.join(parts)}. The job's `--json` output and "
        "`infra-gitops show RUN_ID` have everything."
    )


def _join(head: str, sections: Sequence[str], notice: str) -> str:
    parts = [head, *([notice] if notice else []), *sections]
    return "\n\n".join(parts) + "\n"


def _length(head: str, sections: Sequence[str], notice: str) -> int:
    return len(_join(head, sections, notice))


# --- the head: title, summary table, policy ----------------------------------------------


def _head(report: PlanReport) -> str:
    lines = [MARKER, f"## {_title(report)}", ""]
    base = f" against merge base `{report.base_sha[:10]}`" if report.base_sha else ""
    lines.append(
        f"Planned commit `{report.head_sha[:10]}`{base}: "
        f"{len(report.outcomes)} stack(s) affected by {report.changed_paths} changed file(s)."
    )
    if report.outcomes:
        lines += ["", *_summary_table(report.outcomes)]
    if report.violations:
        lines += ["", *_violations(report)]
    if report.notices:
        lines += [""] + [f"> :information_source: {_inline(n)}" for n in report.notices]
    if report.store and any(o not in report.mocked for o in report.with_changes):
        lines += [
            "",
            "After the merge, `infra-gitops apply --from-plan` applies exactly these plans "
            "(it refuses a plan whose stack code or state moved since).",
        ]
    if report.mocked:
        names = ", ".join(f"`{_cell(o.stack)}`" for o in report.mocked)
        lines += [
            "",
            f"> :warning: **Not ready to apply: {names} planned against mock outputs** of "
            "stacks not applied yet. `apply --from-plan` refuses these plans; plan again "
            "once their dependencies are applied.",
        ]
    return "\n".join(lines)


def _title(report: PlanReport) -> str:
    if report.violations:
        return ":no_entry: infra-gitops plan: policy violated"
    if report.failed:
        return ":x: infra-gitops plan: failed"
    if not report.outcomes:
        return ":white_check_mark: infra-gitops plan: no stacks affected"
    if report.with_changes:
        return f":memo: infra-gitops plan: changes in {len(report.with_changes)} stack(s)"
    return ":white_check_mark: infra-gitops plan: no changes"


def _summary_table(outcomes: Sequence[StackOutcome]) -> list[str]:
    rows = [
        "| Stack | Result | Create | Update | Replace | Delete | Drift |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for o in outcomes:
        if o.plan is None:
            rows.append(f"| `{_cell(o.stack)}` | {_RESULT_CELLS[o.status]} | | | | | |")
            continue
        c = o.plan.counts
        drifted = len(unexpected(o.plan.drift))
        mocked = " :warning: mock outputs" if o.plan.mock_outputs else ""
        result = _RESULT_CELLS[o.status] + mocked
        rows.append(
            f"| `{_cell(o.stack)}` | {result} | {c.create} | {c.update} | "
            f"{_strong(c.replace)} | {_strong(c.delete)} | {_strong(drifted)} |"
        )
    return rows


def _strong(count: int) -> str:
    return f"**{count}**" if count else "0"


def _violations(report: PlanReport) -> list[str]:
    rows = [
        f"### :no_entry: Policy violations ({len(report.violations)})",
        "",
        "| Rule | Stack | Resource | Why |",
        "|---|---|---|---|",
    ]
    for v in report.violations:
        address = f"`{_cell(v.address)}`" if v.address else ""
        rows.append(
            f"| **{_cell(v.rule)}** | `{_cell(v.stack)}` | {address} | {_cell(v.message)} |"
        )
    return rows


# --- one stack -------------------------------------------------------------------------


def _stack_section(outcome: StackOutcome, report: PlanReport, *, cut: bool) -> str:
    lines = [f"### `{outcome.stack}`: {_stack_headline(outcome)}"]
    if outcome.error:
        lines += ["", "```text", outcome.error.replace("```", "'''"), "```"]
    plan = outcome.plan
    if plan is not None and plan.mock_note:
        lines += ["", f"> :warning: **Mock outputs**: {_inline(plan.mock_note)}."]
    if plan is not None:
        risky = plan.counts.replace + plan.counts.delete
        if risky:
            lines += [
                "",
                f"> :warning: **{plan.counts.replace} to replace, {plan.counts.delete} to "
                "delete**: review these resources carefully.",
            ]
        if cut:
            hidden = (
                len(plan.changes) + len(plan.output_changes) + len(plan.deferred) + len(plan.drift)
            )
            lines += ["", f"*{hidden} resource row(s) cut to fit the size limit.*"]
        else:
            lines += _changes_block(plan.changes)
            lines += _outputs_block(plan.output_changes)
            lines += _deferred_block(plan.deferred)
            lines += _drift_block(unexpected(plan.drift))
    lines += ["", _footer(outcome, report)]
    return "\n".join(lines)


def _stack_headline(outcome: StackOutcome) -> str:
    mocked = " (against mock outputs)" if outcome.plan and outcome.plan.mock_outputs else ""
    if outcome.plan is not None and outcome.status is RunStatus.CHANGES:
        return str(outcome.plan.counts) + mocked
    return _RESULT_CELLS[outcome.status].replace("**", "") + mocked


def _changes_block(changes: Sequence[ResourceChange]) -> list[str]:
    if not changes:
        return []
    # Riskiest first: a reviewer reads the top of a long table.
    order = {
        Action.DELETE: 0,
        Action.REPLACE: 1,
        Action.FORGET: 2,
        Action.UPDATE: 3,
        Action.CREATE: 4,
    }
    ordered = sorted(changes, key=lambda c: (order.get(c.action, 5), c.address))
    title = f"Changes in this pull request ({len(changes)})"
    return ["", *_folded(title, _resource_table(ordered))]


def _drift_block(drift: Sequence[ResourceChange]) -> list[str]:
    if not drift:
        return []
    lines = [
        "",
        f"**:warning: Drift: {len(drift)} resource(s) changed outside of Git.** Not part of "
        "this pull request; applying it puts these resources back to what Git declares.",
    ]
    return [*lines, "", *_folded(f"Drift ({len(drift)})", _resource_table(drift))]


def _folded(title: str, table: list[str]) -> list[str]:
    if len(table) - 2 <= FOLD_AFTER:
        return [f"**{title}**", "", *table]
    return [f"<details><summary>{title}</summary>", "", *table, "", "</details>"]


def _outputs_block(outputs: Sequence[OutputChange]) -> list[str]:
    if not outputs:
        return []
    rows = ["| Action | Output | New value |", "|---|---|---|"]
    for o in outputs:
        value = "" if o.action is Action.DELETE else _output_value(o.after)
        rows.append(f"| {_ACTION_CELLS[o.action]} | `{_cell(o.name)}` | {value} |")
    return ["", *_folded(f"Changes to outputs ({len(outputs)})", rows)]


def _output_value(value: Any) -> str:
    if value in (SENSITIVE_MARKER, UNKNOWN_MARKER):
        return f"*{value}*"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 3] + "..."
    return f"`{_cell(text)}`"


def _deferred_block(deferred: Sequence[ResourceChange]) -> list[str]:
    if not deferred:
        return []
    lines = [
        "",
        f"**:hourglass: Deferred: {len(deferred)} change(s) Terraform could not plan yet.** "
        "Not applied with this plan; a later plan will include them.",
    ]
    return [*lines, "", *_folded(f"Deferred ({len(deferred)})", _resource_table(deferred))]


def _resource_table(changes: Sequence[ResourceChange]) -> list[str]:
    rows = ["| Action | Resource | Changed attributes |", "|---|---|---|"]
    for c in changes:
        rows.append(f"| {_action_cell(c)} | {_resource_cell(c)} | {_attributes(c)} |")
    return rows


def _action_cell(change: ResourceChange) -> str:
    if change.action is Action.NOOP and change.imported:
        return ":inbox_tray: import"
    if change.action is Action.NOOP and change.moved:
        return ":truck: move"
    cell = _ACTION_CELLS[change.action]
    if change.create_before_destroy:
        cell += " (create before destroy)"
    return f"{cell}, :inbox_tray: import" if change.imported else cell


def _resource_cell(change: ResourceChange) -> str:
    cell = f"`{_cell(change.address)}`"
    if change.moved and change.previous_address is not None:
        cell += f" (moved from `{_cell(change.previous_address)}`)"
    if change.imported and change.importing is not None:
        cell += f" (import ID `{_cell(change.importing)}`)"
    if change.deferred_reason:
        cell += f" (deferred: {_cell(change.deferred_reason)})"
    return cell


def _attributes(change: ResourceChange) -> str:
    unknown = set(change.unknown_paths)
    paths = list(change.changed_paths) + [
        p for p in change.unknown_paths if p and p not in change.changed_paths
    ]
    shown = ", ".join(
        f"`{_cell(p)}`" + (f" {UNKNOWN_MARKER}" if p in unknown else "")
        for p in paths[:MAX_ATTRIBUTES]
    )
    more = len(paths) - MAX_ATTRIBUTES
    return shown + (f" and {more} more" if more > 0 else "")


def _footer(outcome: StackOutcome, report: PlanReport) -> str:
    parts = []
    if outcome.run_id:
        parts.append(f"run `{outcome.run_id}`")
    plan_hash = report.plan_hashes.get(outcome.stack)
    appliable = outcome.plan is not None and not outcome.plan.mock_outputs
    if plan_hash and outcome.status is RunStatus.CHANGES and appliable:
        parts.append(f"plan `sha256:{plan_hash[:16]}`")
    if outcome.plan is not None:
        parts.append(outcome.plan.engine_version)
    return f"<sub>{' · '.join(parts)}</sub>" if parts else ""


# --- escaping --------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Safe inside a table cell (and a code span in one): no pipes, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _inline(text: str) -> str:
    return text.replace("\n", " ")
