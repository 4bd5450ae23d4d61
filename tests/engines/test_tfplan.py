"""The plan parser and redaction, on `show -json` documents recorded from the real
embedded Terraform (tests/engines/data/record_plans.py regenerates them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra_gitops.engines.tfplan import (
    action_of,
    changed_paths,
    mark_unknown,
    mask_paths,
    parse_plan,
    redact,
    redact_plan_document,
    state_outputs,
)
from infra_gitops.models import SENSITIVE_MARKER, UNKNOWN_MARKER, Action, ChangeCounts, Plan

DATA = Path(__file__).parent / "data"
RECORDED_SECRETS = ("rec-secret-one", "rec-secret-two", "rec-secret-literal-token")


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def parsed(name: str, **kwargs: Any) -> Plan:
    return parse_plan(recorded(name), stack="app", engine="terraform", engine_version="t", **kwargs)


def by_address(plan: Plan) -> dict[str, Any]:
    return {c.address: c for c in (*plan.changes, *plan.drift)}


def test_create_plan_lists_every_new_resource_with_its_module() -> None:
    plan = parsed("plan_create")
    changes = by_address(plan)
    assert set(changes) == {
        "terraform_data.config",
        "terraform_data.legacy[0]",
        "terraform_data.server",
        "module.child.terraform_data.inner",
    }
    assert all(c.action is Action.CREATE for c in plan.changes)
    assert changes["module.child.terraform_data.inner"].module == "module.child"
    assert changes["terraform_data.server"].module is None
    assert changes["terraform_data.server"].before is None
    # id and output exist only after apply: marked, never null
    assert changes["terraform_data.server"].after == {
        "input": "web",
        "triggers_replace": [1],
        "id": UNKNOWN_MARKER,
        "output": UNKNOWN_MARKER,
    }
    assert changes["terraform_data.server"].unknown_paths == ("id", "output")
    assert plan.counts == ChangeCounts(create=4, outputs=3)
    assert plan.drift == ()


def test_outputs_are_redacted_and_unknown_ones_marked() -> None:
    plan = parsed("plan_create")
    assert plan.outputs == {
        "password": SENSITIVE_MARKER,
        "server_id": UNKNOWN_MARKER,  # known only after apply, never null
        "tags": {"env": "dev", "team": "a"},
    }


def test_update_replace_delete_and_no_op_left_out() -> None:
    plan = parsed("plan_changes")
    changes = by_address(plan)
    assert {a: c.action for a, c in changes.items()} == {
        "terraform_data.config": Action.UPDATE,
        "terraform_data.server": Action.REPLACE,
        "terraform_data.legacy[0]": Action.DELETE,
    }
    assert plan.counts == ChangeCounts(update=1, replace=1, delete=1, outputs=3)
    config = changes["terraform_data.config"]
    # input.password changed but stays hidden; output is recomputed (known after apply)
    assert config.changed_paths == ("input.password", "input.tags.env", "output")
    assert changes["terraform_data.server"].changed_paths == ("id", "output", "triggers_replace.0")
    assert changes["terraform_data.legacy[0]"].after is None


def test_sensitive_values_are_masked_in_before_and_after() -> None:
    config = by_address(parsed("plan_changes"))["terraform_data.config"]
    assert config.before is not None and config.after is not None
    assert config.before["input"] == {
        "password": SENSITIVE_MARKER,
        "tags": {"env": "dev", "team": "a"},
    }
    assert config.after["input"]["password"] == SENSITIVE_MARKER
    # terraform_data.output copies the password without Terraform's sensitive mark: the
    # value is still removed because Terraform marked it sensitive elsewhere.
    assert config.before["output"]["password"] == SENSITIVE_MARKER


@pytest.mark.parametrize("name", ["plan_create", "plan_changes", "plan_drift"])
def test_no_recorded_secret_survives_in_the_plan_or_the_artifact(name: str) -> None:
    raw_text = (DATA / f"{name}.json").read_text()
    plan_text = repr(parsed(name))
    artifact_text = json.dumps(redact_plan_document(recorded(name)))
    for secret in RECORDED_SECRETS:
        assert secret not in plan_text
        assert secret not in artifact_text
    if name != "plan_drift":
        assert "rec-secret" in raw_text  # the recordings do hold secrets to remove


def test_drift_shows_live_changes_made_outside_terraform() -> None:
    plan = parsed("plan_drift", refresh_only=True)
    assert plan.changes == ()
    assert plan.has_drift and plan.refresh_only
    drift = by_address(plan)
    retagged = drift["aws_s3_bucket.retagged"]
    assert retagged.action is Action.UPDATE
    assert retagged.changed_paths == ("tags.env", "tags_all.env")
    assert retagged.before is not None and retagged.after is not None
    assert retagged.before["tags"] == {"env": "dev", "team": "a"}  # prior state
    assert retagged.after["tags"] == {"env": "hacked", "team": "a"}  # live
    assert drift["aws_s3_bucket.deleted"].action is Action.DELETE


def test_artifact_masks_variables_outputs_state_and_configuration() -> None:
    doc = redact_plan_document(recorded("plan_changes"))
    assert doc["variables"]["db_password"]["value"] == SENSITIVE_MARKER
    assert doc["variables"]["tags"]["value"] == {"env": "prod", "team": "a"}  # not secret
    assert doc["planned_values"]["outputs"]["password"]["value"] == SENSITIVE_MARKER
    assert doc["prior_state"]["values"]["outputs"]["password"]["value"] == SENSITIVE_MARKER
    change = doc["output_changes"]["password"]
    assert (change["before"], change["after"]) == (SENSITIVE_MARKER, SENSITIVE_MARKER)
    call = doc["configuration"]["root_module"]["module_calls"]["child"]
    assert call["expressions"]["token"]["constant_value"] == SENSITIVE_MARKER
    assert call["expressions"]["label"]["constant_value"] == "blue"
    resources = doc["planned_values"]["root_module"]["resources"]
    config = next(r for r in resources if r["address"] == "terraform_data.config")
    assert config["values"]["input"]["password"] == SENSITIVE_MARKER


def test_manifest_sensitive_variables_and_literal_secrets_are_masked_too() -> None:
    doc = redact_plan_document(
        recorded("plan_changes"), sensitive_variables={"tags"}, secrets={"web"}
    )
    assert doc["variables"]["tags"]["value"] == SENSITIVE_MARKER
    assert '"web"' not in json.dumps(doc)
    server = next(r for r in doc["resource_changes"] if r["address"] == "terraform_data.server")
    assert server["change"]["after"]["input"] == SENSITIVE_MARKER


def test_sensitive_default_of_a_variable_is_masked() -> None:
    doc = {
        "configuration": {
            "root_module": {
                "variables": {
                    "token": {"default": "default-token", "sensitive": True},
                    "region": {"default": "eu-west-1"},
                }
            }
        },
        "variables": {"token": {"value": "default-token"}, "region": {"value": "eu-west-1"}},
    }
    out = redact_plan_document(doc)
    assert out["configuration"]["root_module"]["variables"]["token"]["default"] == SENSITIVE_MARKER
    assert out["variables"] == {
        "token": {"value": SENSITIVE_MARKER},
        "region": {"value": "eu-west-1"},
    }


@pytest.mark.parametrize(
    ("before", "after", "kwargs", "expected"),
    [
        ({"tags": {"env": "a"}}, {"tags": {"env": "b"}}, {}, ("tags.env",)),
        ({"ports": [1, 2]}, {"ports": [1, 3]}, {}, ("ports.1",)),
        ({"ports": [1]}, {"ports": [1, 2]}, {}, ("ports",)),
        ({"tags": None}, {"tags": {}}, {}, ("tags",)),  # null and {} differ for Terraform
        ({"a": None}, {}, {}, ()),  # absent and null do not
        ({"id": "x"}, {}, {"after_unknown": {"id": True}}, ("id",)),
        # a sensitive map: its keys may be secret too, so only its path is given
        ({"m": {"k1": "v"}}, {"m": {"k2": "v"}}, {"after_sensitive": {"m": True}}, ("m",)),
        ({"s": "same"}, {"s": "same"}, {"before_sensitive": {"s": True}}, ()),
    ],
)
def test_changed_paths(before: Any, after: Any, kwargs: Any, expected: tuple[str, ...]) -> None:
    assert changed_paths(before, after, **kwargs) == expected


def test_actions() -> None:
    assert action_of(["delete", "create"]) is Action.REPLACE
    assert action_of(["create", "delete"]) is Action.REPLACE
    assert action_of(["no-op"]) is Action.NOOP
    with pytest.raises(ValueError, match="unknown Terraform action"):
        action_of(["teleport"])


def test_redact_follows_nested_masks() -> None:
    value = {"a": [{"s": "x", "p": "y"}], "b": {"c": None}}
    mask = {"a": [{"s": True}], "b": {"c": True}}
    assert redact(value, mask) == {"a": [{"s": SENSITIVE_MARKER, "p": "y"}], "b": {"c": None}}


def test_state_outputs_redact_sensitive_and_scrub_secrets() -> None:
    doc = {
        "pw": {"sensitive": True, "type": "string", "value": "hunter22"},
        "url": {"sensitive": False, "type": "string", "value": "https://u:hunter22@h"},
        "name": {"sensitive": False, "type": "string", "value": "x"},
    }
    assert state_outputs(doc) == {
        "pw": SENSITIVE_MARKER,
        "url": f"https://u:{SENSITIVE_MARKER}@h",
        "name": "x",
    }


def test_values_known_after_apply_are_marked_at_any_depth() -> None:
    after = {"name": "a", "tags": {"env": "dev"}, "rules": [{"port": 80}, None]}
    unknown = {"id": True, "tags": {"owner": True}, "rules": [{"cidr": True}, True]}
    assert mark_unknown(after, unknown) == {
        "name": "a",
        "id": UNKNOWN_MARKER,
        "tags": {"env": "dev", "owner": UNKNOWN_MARKER},
        "rules": [{"port": 80, "cidr": UNKNOWN_MARKER}, UNKNOWN_MARKER],
    }
    assert mark_unknown(None, True) == UNKNOWN_MARKER
    assert mark_unknown(after, {}) == after
    assert mask_paths(unknown) == ["id", "rules.0.cidr", "rules.1", "tags.owner"]
