"""Pulumi engine events and `preview --json` -> the normalized model.

The streams in data/pulumi/ are parsed by the SDK's own EngineEvent.from_json (see the
README there for where their shapes come from).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation import events as pe

from infra_gitops.engines.pulumi_events import (
    EventLog,
    MappedEvents,
    changes_from_preview,
    diagnostics_from_preview,
    map_events,
    redact_preview,
    urn_parts,
)
from infra_gitops.models import SENSITIVE_MARKER, Action, ChangeCounts
from infra_gitops.redaction import Scrubber

DATA = Path(__file__).parent / "data" / "pulumi"
QUEUE = "urn:pulumi:dev::queue::aws:sqs/queue:Queue::jobs"
PARAM = "urn:pulumi:dev::queue::aws:ssm/parameter:Parameter::jobs-url"
NO_SECRETS = Scrubber(())

EVENT_FIELDS = {
    "cancelEvent",
    "stdoutEvent",
    "diagnosticEvent",
    "preludeEvent",
    "summaryEvent",
    "resourcePreEvent",
    "resOutputsEvent",
    "resOpFailedEvent",
    "policyEvent",
    "startDebuggingEvent",
}
METADATA_FIELDS = {"op", "urn", "type", "provider", "old", "new", "keys", "diffs"}
METADATA_FIELDS |= {"detailedDiff", "logical"}


def load(name: str) -> list[pe.EngineEvent]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [pe.EngineEvent.from_json(json.loads(line)) for line in lines]


def mapped(
    name: str, *, refresh_only: bool = False, scrubber: Scrubber = NO_SECRETS
) -> MappedEvents:
    return map_events(load(name), refresh_only=refresh_only, scrubber=scrubber)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.jsonl")))
def test_every_recorded_line_is_one_sdk_event_of_the_api_shape(name: str) -> None:
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        kinds = set(raw) & EVENT_FIELDS
        assert len(kinds) == 1 and set(raw) - kinds == {"sequence", "timestamp"}, raw
        for key in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
            if key in raw:
                assert set(raw[key]["metadata"]) <= METADATA_FIELDS, raw[key]["metadata"]
        event = pe.EngineEvent.from_json(raw)
        assert event.sequence == raw["sequence"]


def test_a_first_preview_lists_the_creates_without_the_stack_and_default_provider() -> None:
    result = mapped("preview_create.jsonl")
    assert [(c.address, c.action) for c in result.changes] == [
        (QUEUE, Action.CREATE),
        (PARAM, Action.CREATE),
    ]
    queue = result.changes[0]
    assert (queue.type, queue.name, queue.module) == ("aws:sqs/queue:Queue", "jobs", None)
    assert queue.before is None
    # Engine bookkeeping (__defaults) is not part of what a reviewer reads.
    assert queue.after == {
        "name": "jobs-3f1c2a7",
        "visibilityTimeoutSeconds": 30,
        "tags": {"env": "dev", "team": "platform"},
    }
    assert queue.changed_paths == ()
    assert result.changes[1].after == {
        "name": "/queue/dev/jobs-url",
        "type": "SecureString",
        "value": SENSITIVE_MARKER,
        "description": None,  # known after apply
    }
    assert result.drift == ()
    assert result.summary == {"create": 4}


def test_planned_stack_outputs_come_from_the_root_stack_with_secrets_masked() -> None:
    assert mapped("preview_create.jsonl").outputs == {
        "queueUrl": None,
        "parameterName": "/queue/dev/jobs-url",
        "webhookToken": SENSITIVE_MARKER,
    }


def test_an_update_lists_the_changed_property_paths_and_ignores_clean_refreshes() -> None:
    result = mapped("preview_update.jsonl")
    assert len(result.changes) == 1
    update = result.changes[0]
    assert (update.address, update.action) == (QUEUE, Action.UPDATE)
    assert update.changed_paths == ("tags.env", "visibilityTimeoutSeconds")
    assert update.before is not None and update.after is not None
    assert update.before["tags"]["env"] == "dev"
    assert update.after["tags"]["env"] == "staging"
    # The refresh steps found the cloud as the state says: no drift.
    assert result.drift == ()


def test_a_replacement_is_one_replace_not_its_create_and_delete_halves() -> None:
    result = mapped("preview_replace.jsonl")
    assert [(c.address, c.action, c.changed_paths) for c in result.changes] == [
        (QUEUE, Action.REPLACE, ("name",))
    ]
    assert ChangeCounts.of(list(result.changes)) == ChangeCounts(replace=1)


def test_a_delete_keeps_what_is_deleted_as_before() -> None:
    (change,) = mapped("preview_delete.jsonl").changes
    assert (change.address, change.action, change.after) == (PARAM, Action.DELETE, None)
    assert change.before == {
        "name": "/queue/dev/jobs-url",
        "type": "SecureString",
        "value": SENSITIVE_MARKER,
    }


def test_refresh_preview_only_reports_drift_with_paths_and_live_values() -> None:
    result = mapped("refresh_drift.jsonl", refresh_only=True)
    assert result.changes == ()
    drift = {c.address: c for c in result.drift}
    assert set(drift) == {QUEUE, PARAM}
    queue = drift[QUEUE]
    assert queue.action is Action.UPDATE
    assert queue.changed_paths == (
        "tags.owner",
        "tagsAll.owner",
        "visibilityTimeoutSeconds",
    )
    assert queue.before is not None and queue.after is not None
    assert (queue.before["visibilityTimeoutSeconds"], queue.after["visibilityTimeoutSeconds"]) == (
        30,
        45,
    )
    assert "__meta" not in queue.after
    deleted = drift[PARAM]
    assert (deleted.action, deleted.after) == (Action.DELETE, None)
    assert deleted.before is not None and deleted.before["value"] == SENSITIVE_MARKER


def test_preview_with_refresh_reports_both_the_drift_and_the_changes_that_heal_it() -> None:
    result = mapped("preview_refresh_drift.jsonl")
    assert {(c.address, c.action) for c in result.drift} == {
        (QUEUE, Action.UPDATE),
        (PARAM, Action.DELETE),
    }
    assert [(c.address, c.action, c.changed_paths) for c in result.changes] == [
        (QUEUE, Action.UPDATE, ("tags.owner", "visibilityTimeoutSeconds")),
        (PARAM, Action.CREATE, ()),
    ]


def test_outputs_events_of_a_normal_update_are_not_drift() -> None:
    # In an update, only refresh steps can show drift: a create's outputs event is not.
    assert mapped("preview_create.jsonl", refresh_only=False).drift == ()


def test_a_failed_resource_is_named_with_the_providers_error_without_colour_tags() -> None:
    result = mapped("up_failed.jsonl")
    assert result.failed == (QUEUE,)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert errors[0].urn == QUEUE
    assert "InvalidAttributeValue: Invalid value for the parameter VisibilityTimeout" in (
        errors[0].message
    )
    assert all("<{%" not in d.message for d in result.diagnostics)


def test_diagnostics_keep_warnings_and_program_output_but_not_ephemeral_status() -> None:
    diagnostics = mapped("preview_diagnostics.jsonl").diagnostics
    assert [(d.severity, d.urn) for d in diagnostics] == [
        ("info", "urn:pulumi:dev::queue::pulumi:pulumi:Stack::queue-dev"),
        ("warning", QUEUE),
    ]
    assert diagnostics[1].message.startswith("warning: aws:sqs/queue:Queue resource 'jobs'")


def test_known_secret_values_are_scrubbed_from_values_and_messages() -> None:
    scrubber = Scrubber(["jobs-3f1c2a7", "127.0.0.1:4566"])
    result = mapped("preview_diagnostics.jsonl", scrubber=scrubber)
    assert "127.0.0.1:4566" not in json.dumps([vars(d) for d in result.diagnostics])
    change = mapped("preview_update.jsonl", scrubber=scrubber).changes[0]
    assert "jobs-3f1c2a7" not in json.dumps(change.to_dict())
    assert change.after is not None and change.after["name"] == SENSITIVE_MARKER


def test_the_event_log_orders_by_sequence_and_writes_readable_lines() -> None:
    lines: list[str] = []
    log = EventLog(Scrubber(["staging"]), on_line=lines.append)
    for event in reversed(load("preview_update.jsonl")):
        log.add(event)
    assert [e.sequence for e in log.events] == sorted(e.sequence for e in log.events)
    assert f"update {QUEUE} [diff: tags.env, visibilityTimeoutSeconds]" in lines
    assert not any(line.startswith("same ") for line in lines)


def test_urn_parts_reads_component_parents_and_names_with_separators() -> None:
    urn = "urn:pulumi:prod::web::my:app:Site$aws:s3/bucket:Bucket::assets::eu"
    assert urn_parts(urn) == ("aws:s3/bucket:Bucket", "my:app:Site", "assets::eu")


# --- preview --json -------------------------------------------------------------------


def preview_doc() -> dict:
    return json.loads((DATA / "preview_json_update.json").read_text(encoding="utf-8"))


def test_preview_json_steps_map_like_the_events() -> None:
    changes = changes_from_preview(preview_doc(), NO_SECRETS)
    assert [(c.address, c.action, c.changed_paths) for c in changes] == [
        (QUEUE, Action.UPDATE, ("tags.env", "visibilityTimeoutSeconds")),
        (PARAM, Action.REPLACE, ("name",)),
        ("urn:pulumi:dev::queue::aws:sqs/queue:Queue::dead-letters", Action.CREATE, ()),
    ]
    replace = changes[1]
    assert replace.before is not None and replace.before["value"] == SENSITIVE_MARKER
    assert ChangeCounts.of(list(changes)) == ChangeCounts(create=1, update=1, replace=1)


def test_preview_json_diagnostics_and_redaction() -> None:
    doc = preview_doc()
    (warning,) = diagnostics_from_preview(doc, NO_SECRETS)
    assert (warning.severity, warning.urn) == ("warning", QUEUE)
    safe = redact_preview(doc, Scrubber(["platform"]))
    text = json.dumps(safe)
    assert "platform" not in text and "[secret]" not in json.dumps(safe["steps"])
    assert "__defaults" not in text
    assert safe["changeSummary"] == doc["changeSummary"]


def test_replace_paths_come_from_the_create_replacement_half_when_replace_has_none() -> None:
    raws = [json.loads(line) for line in (DATA / "preview_replace.jsonl").read_text().splitlines()]
    for raw in raws:
        meta = raw.get("resourcePreEvent", {}).get("metadata", {})
        if meta.get("op") == "replace":
            meta.pop("detailedDiff"), meta.pop("diffs"), meta.pop("keys")
            meta["new"]["inputs"] = meta["old"]["inputs"]  # nothing to diff on this step
    events = [pe.EngineEvent.from_json(raw) for raw in raws]
    (change,) = map_events(events, refresh_only=False, scrubber=NO_SECRETS).changes
    assert (change.action, change.changed_paths) == (Action.REPLACE, ("name",))


def test_an_update_reports_which_resource_starts_and_ends_changing() -> None:
    # An `up` streams each step's pre event, then its outputs event when it is done (or
    # a failed event): the recorded create step of the queue, completed 3s later.
    raws = [json.loads(line) for line in (DATA / "preview_create.jsonl").read_text().splitlines()]
    pre = next(r for r in raws if _pre_urn(r) == QUEUE)
    done = {
        "sequence": 99,
        "timestamp": pre["timestamp"] + 3,
        "resOutputsEvent": pre["resourcePreEvent"],
    }
    steps: list[str] = []
    log = EventLog(NO_SECRETS, on_progress=steps.append)
    for raw in [*raws, done]:
        log.add(pe.EngineEvent.from_json(raw))
    assert steps == [
        "aws:sqs/queue:Queue jobs: creating...",
        "aws:ssm/parameter:Parameter jobs-url: creating...",
        "aws:sqs/queue:Queue jobs: created (3s)",
    ]

    failed: list[str] = []
    log = EventLog(NO_SECRETS, on_progress=failed.append)
    for event in load("up_failed.jsonl"):
        log.add(event)
    assert failed == [
        "aws:sqs/queue:Queue jobs: updating...",
        "aws:sqs/queue:Queue jobs: updating failed (2s)",
    ]


def _pre_urn(raw: dict) -> str | None:
    return raw.get("resourcePreEvent", {}).get("metadata", {}).get("urn")
