"""Terraform's JSON plan (`terraform show -json PLANFILE`) -> models, with redaction.

Terraform marks sensitive values with masks (before_sensitive, after_sensitive,
sensitive_values) that mirror the shape of the value they describe; a `true` leaf means
"this value (and everything under it) is sensitive". Every value that leaves this module
has been passed through those masks, and then through a literal scrub of the run's
secrets, because Terraform does not mark everything (it prints sensitive variables in
plain text under `variables`, and attributes derived from a sensitive value through some
resources, e.g. terraform_data.output, lose their mark).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    OutputChange,
    Plan,
    ResourceChange,
)
from infra_gitops.redaction import MIN_SECRET_LENGTH, Scrubber

Mask = Any
"""A sensitivity/unknown mask: bool, or a dict/list mirroring the value's shape."""

_ACTIONS: Mapping[tuple[str, ...], Action] = {
    ("create",): Action.CREATE,
    ("update",): Action.UPDATE,
    ("delete",): Action.DELETE,
    ("delete", "create"): Action.REPLACE,
    ("create", "delete"): Action.REPLACE,
    ("read",): Action.READ,
    ("no-op",): Action.NOOP,
    # `removed { lifecycle { destroy = false } }`: the object leaves Terraform's
    # management and stays in the cloud. Not a destroy, as Terraform says ("to forget").
    ("forget",): Action.FORGET,
    # A new object is created and the old one forgotten, never destroyed: a create for
    # the cloud (the forgotten object is not counted as a destroy).
    ("create", "forget"): Action.CREATE,
}

_HIDDEN_ACTIONS = frozenset({Action.NOOP, Action.READ})


# --- secrets ---------------------------------------------------------------------------


# --- masks -----------------------------------------------------------------------------


def redact(value: Any, mask: Mask, found: set[str] | None = None) -> Any:
    """value with every part the mask marks sensitive replaced by SENSITIVE_MARKER.

    The strings replaced are added to `found`, so they can be scrubbed wherever else
    they appear unmarked.
    """
    if mask is True:
        if found is not None:
            found.update(_strings_in(value))
        # A sensitive null reveals nothing, and keeping it null keeps "unset" readable.
        return None if value is None else SENSITIVE_MARKER
    if isinstance(value, Mapping) and isinstance(mask, Mapping):
        return {k: redact(v, mask.get(k, False), found) for k, v in value.items()}
    if isinstance(value, list) and isinstance(mask, list):
        return [redact(v, _sub_mask(mask, i), found) for i, v in enumerate(value)]
    return value


def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def _sub_mask(mask: Mask, key: str | int) -> Mask:
    if mask is True:
        return True
    if isinstance(mask, Mapping) and isinstance(key, str):
        return mask.get(key, False)
    if isinstance(mask, list) and isinstance(key, int) and key < len(mask):
        return mask[key]
    return False


def _has_sensitive(mask: Mask) -> bool:
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return any(_has_sensitive(m) for m in mask.values())
    if isinstance(mask, list):
        return any(_has_sensitive(m) for m in mask)
    return False


# --- changed paths ---------------------------------------------------------------------


def changed_paths(
    before: Any,
    after: Any,
    *,
    after_unknown: Mask = False,
    before_sensitive: Mask = False,
    after_sensitive: Mask = False,
) -> tuple[str, ...]:
    """Dotted paths of the leaves that differ between before and after (tags.env,
    ingress.0.port). A value known only after apply counts as changed. The diff stops at
    a sensitive value: its path is reported, never the keys inside it (they may be part
    of the secret). Null and absent are the same (Terraform omits unknowns from after)."""
    found: list[str] = []
    _diff(before, after, after_unknown, before_sensitive, after_sensitive, "", found)
    return tuple(found)


def _diff(
    before: Any,
    after: Any,
    unknown: Mask,
    sens_before: Mask,
    sens_after: Mask,
    path: str,
    found: list[str],
) -> None:
    if unknown is True or sens_before is True or sens_after is True:
        if unknown is True or before != after:
            found.append(path)
        return
    if _is_map_or_null(before) and _is_map_or_null(after) and (before or after):
        b, a = before or {}, after or {}
        keys = sorted(set(b) | set(a) | _unknown_keys(unknown))
        for key in keys:
            _diff(
                b.get(key),
                a.get(key),
                _sub_mask(unknown, key),
                _sub_mask(sens_before, key),
                _sub_mask(sens_after, key),
                _join(path, key),
                found,
            )
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b_item, a_item) in enumerate(zip(before, after, strict=True)):
            _diff(
                b_item,
                a_item,
                _sub_mask(unknown, i),
                _sub_mask(sens_before, i),
                _sub_mask(sens_after, i),
                _join(path, str(i)),
                found,
            )
        return
    if before != after or _has_unknown(unknown):
        found.append(path)


def _is_map_or_null(value: Any) -> bool:
    return value is None or isinstance(value, Mapping)


def _unknown_keys(unknown: Mask) -> set[str]:
    if not isinstance(unknown, Mapping):
        return set()
    return {k for k, v in unknown.items() if _has_unknown(v)}


def _has_unknown(mask: Mask) -> bool:
    return _has_sensitive(mask)  # same shape: any `true` leaf


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- plan -> models --------------------------------------------------------------------


def action_of(actions: Iterable[str]) -> Action:
    key = tuple(actions)
    try:
        return _ACTIONS[key]
    except KeyError:
        raise ValueError(f"unknown Terraform action list {list(key)}") from None


def resource_change(raw: Mapping[str, Any], safe: Mapping[str, Any]) -> ResourceChange:
    """One entry of resource_changes or resource_drift: `raw` as Terraform printed it,
    `safe` the same entry from the redacted document.

    Paths are diffed on the raw values (two different secrets are a change even though
    both redact to the marker) but only for update and replace: for a create or a delete
    every attribute changes, and listing them all says nothing.
    """
    change = raw["change"]
    action = action_of(change["actions"])
    unknown = change.get("after_unknown", False)
    paths: tuple[str, ...] = ()
    if action in (Action.UPDATE, Action.REPLACE):
        paths = changed_paths(
            change.get("before"),
            change.get("after"),
            after_unknown=unknown,
            before_sensitive=change.get("before_sensitive", False),
            after_sensitive=change.get("after_sensitive", False),
        )
    after = safe["change"].get("after")
    return ResourceChange(
        address=address_of(raw),
        type=raw["type"],
        name=raw["name"],
        module=raw.get("module_address"),
        action=action,
        changed_paths=paths,
        before=safe["change"].get("before"),
        after=mark_unknown(after, unknown),
        unknown_paths=tuple(mask_paths(unknown)),
        importing=_import_id(change.get("importing")),
        previous_address=raw.get("previous_address"),
        action_reason=raw.get("action_reason"),
        create_before_destroy=list(change["actions"]) == ["create", "delete"],
    )


def address_of(raw: Mapping[str, Any]) -> str:
    """An entry's address. Terraform 0.15 to 1.0 print resource_drift entries without
    one: it is built from the parts they do print, as Terraform writes addresses."""
    if raw.get("address"):
        return str(raw["address"])
    local = f"{raw['type']}.{raw['name']}"
    if raw.get("mode") == "data":
        local = f"data.{local}"
    index = raw.get("index")
    if isinstance(index, bool) or index is None:
        pass
    elif isinstance(index, int):
        local += f"[{index}]"
    else:
        local += f"[{json.dumps(str(index))}]"
    module = raw.get("module_address")
    return f"{module}.{local}" if module else local


def _import_id(importing: Any) -> str | None:
    """The ID (or, Terraform 1.12+, the identity) an import block imports; None when the
    change imports nothing."""
    if not isinstance(importing, Mapping):
        return None
    if importing.get("id"):
        return str(importing["id"])
    if importing.get("identity"):
        return json.dumps(importing["identity"], sort_keys=True)
    return "(unknown)"  # the ID itself is known only after apply


def mask_paths(mask: Mask, path: str = "") -> list[str]:
    """Dotted paths of the `true` leaves of a mask ("" for the whole value)."""
    if mask is True:
        return [path]
    if isinstance(mask, Mapping):
        return [p for key in sorted(mask) for p in mask_paths(mask[key], _join(path, key))]
    if isinstance(mask, list):
        return [p for i, m in enumerate(mask) for p in mask_paths(m, _join(path, str(i)))]
    return []


def mark_unknown(value: Any, unknown: Mask) -> Any:
    """value with every part the after_unknown mask marks replaced by UNKNOWN_MARKER:
    Terraform leaves those out of `after` (or prints null in a list), and a null would
    read as "will be unset"."""
    if unknown is True:
        return UNKNOWN_MARKER
    if isinstance(unknown, Mapping) and _has_unknown(unknown):
        base = dict(value) if isinstance(value, Mapping) else {}
        for key, mask in unknown.items():
            if _has_unknown(mask):
                base[key] = mark_unknown(base.get(key), mask)
        return base
    if isinstance(unknown, list) and _has_unknown(unknown):
        items = list(value) if isinstance(value, list) else []
        items += [None] * (len(unknown) - len(items))
        return [mark_unknown(item, _sub_mask(unknown, i)) for i, item in enumerate(items)]
    return value


def _changes_in(raw: Any, safe: Any) -> Iterator[ResourceChange]:
    return (resource_change(r, s) for r, s in zip(raw or (), safe or (), strict=True))


def _visible_changes(raw: Any, safe: Any) -> tuple[ResourceChange, ...]:
    """The entries that change something. No-ops and data-source reads are left out,
    except a no-op that moves or imports a resource: that changes the state."""
    return tuple(
        c
        for c in _changes_in(raw, safe)
        if c.action not in _HIDDEN_ACTIONS or c.moved or c.imported
    )


def deferred_changes(raw: Any, safe: Any) -> tuple[ResourceChange, ...]:
    """`deferred_changes` (Terraform 1.9+ with deferred actions enabled): changes that
    Terraform could not plan yet and will not apply with this plan."""
    found = []
    for r, s in zip(raw or (), safe or (), strict=True):
        change = resource_change(r["resource_change"], s["resource_change"])
        found.append(replace(change, deferred_reason=str(r.get("reason") or "unknown")))
    return tuple(found)


def output_changes(raw: Mapping[str, Any], safe: Mapping[str, Any]) -> tuple[OutputChange, ...]:
    """The root module outputs the plan adds, changes or removes (no-ops left out)."""
    found = []
    safe_outputs = safe.get("output_changes") or {}
    for name, change in sorted((raw.get("output_changes") or {}).items()):
        action = action_of(change.get("actions", ("no-op",)))
        if action in _HIDDEN_ACTIONS:
            continue
        redacted = safe_outputs.get(name) or {}
        unknown = change.get("after_unknown", False)
        found.append(
            OutputChange(
                name=name,
                action=action,
                before=redacted.get("before"),
                after=mark_unknown(redacted.get("after"), unknown),
                sensitive=_has_sensitive(change.get("after_sensitive", False))
                or _has_sensitive(change.get("before_sensitive", False)),
                unknown=_has_unknown(unknown),
            )
        )
    return tuple(found)


def planned_outputs(safe: Mapping[str, Any]) -> dict[str, Any]:
    """Output values once the plan is applied, from the redacted document: unknown parts
    UNKNOWN_MARKER, outputs the plan removes left out."""
    outputs: dict[str, Any] = {}
    for name, change in (safe.get("output_changes") or {}).items():
        if list(change.get("actions", ())) == ["delete"]:
            continue
        outputs[name] = mark_unknown(change.get("after"), change.get("after_unknown", False))
    return outputs


def prior_outputs(safe: Mapping[str, Any]) -> dict[str, Any]:
    """Output values in the state the plan starts from, from the redacted document: the
    `before` of every output the plan does not create. Not `prior_state`: Terraform
    evaluates some outputs there again with the new configuration."""
    return {
        name: change.get("before")
        for name, change in (safe.get("output_changes") or {}).items()
        if "create" not in change.get("actions", ())
    }


def state_outputs(doc: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """`terraform output -json` -> name: value, sensitive ones redacted."""
    found: set[str] = set()
    outputs = {
        name: redact(item.get("value"), bool(item.get("sensitive")), found)
        for name, item in doc.items()
    }
    result: dict[str, Any] = _scrubber(secrets, found).scrub_json(outputs)
    return result


def parse_plan(
    doc: Mapping[str, Any],
    *,
    stack: str,
    engine: str,
    engine_version: str,
    refresh_only: bool = False,
    plan_file: Path | None = None,
    artifact: Path | None = None,
    sensitive_variables: Iterable[str] = (),
    secrets: Iterable[str] = (),
    redacted: Mapping[str, Any] | None = None,
) -> Plan:
    """models.Plan from a `show -json` document. Every value in it comes from the
    redacted document (pass it as `redacted` when already computed for the artifact)."""
    safe = redacted
    if safe is None:
        safe = redact_plan_document(doc, sensitive_variables=sensitive_variables, secrets=secrets)
    return Plan(
        stack=stack,
        changes=_visible_changes(doc.get("resource_changes"), safe.get("resource_changes")),
        drift=_visible_changes(doc.get("resource_drift"), safe.get("resource_drift")),
        outputs=planned_outputs(safe),
        prior_outputs=prior_outputs(safe),
        output_changes=output_changes(doc, safe),
        deferred=deferred_changes(doc.get("deferred_changes"), safe.get("deferred_changes")),
        engine=engine,
        engine_version=engine_version,
        refresh_only=refresh_only,
        plan_file=plan_file,
        artifact=artifact,
    )


# --- the redacted artifact -------------------------------------------------------------


def _scrubber(secrets: Iterable[str], found: Iterable[str]) -> Scrubber:
    """The run's own secrets whatever their length; values Terraform marked sensitive
    also wherever they appear unmarked, unless too short to be told from chance."""
    harvested = [value for value in found if len(value) >= MIN_SECRET_LENGTH]
    return Scrubber([*secrets, *harvested], min_length=1)


def redact_plan_document(
    doc: Mapping[str, Any],
    *,
    sensitive_variables: Iterable[str] = (),
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """A copy of the whole `show -json` document that is safe to keep and show.

    Three layers: the masks Terraform prints; the variables the configuration (or the
    manifest, `sensitive_variables`) declares sensitive, which `variables` prints in
    plain text; then every string removed by those two, and every literal secret of the
    run, scrubbed wherever it still appears (terraform_data.output, for one, drops the
    sensitive mark of what it copies).
    """
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    found: set[str] = set()
    for key in ("resource_changes", "resource_drift"):
        for entry in out.get(key) or ():
            _redact_change(entry.get("change") or {}, found)
    for deferred in out.get("deferred_changes") or ():
        _redact_change((deferred.get("resource_change") or {}).get("change") or {}, found)
    for invocation in out.get("action_invocations") or ():
        if "config_values" in invocation:
            invocation["config_values"] = redact(
                invocation["config_values"], invocation.get("config_sensitive", False), found
            )
    _redact_state_values(out.get("planned_values"), found)
    _redact_state_values((out.get("prior_state") or {}).get("values"), found)
    _redact_output_changes(out.get("output_changes"), found)
    root = (out.get("configuration") or {}).get("root_module") or {}
    extra = set(sensitive_variables)
    secret_variables = _sensitive_variables(root) | extra
    for name, variable in (out.get("variables") or {}).items():
        if name in secret_variables and "value" in variable:
            variable["value"] = redact(variable["value"], True, found)
    _redact_module_config(root, extra, found)
    result: dict[str, Any] = _scrubber(secrets, found).scrub_json(out)
    return result


def _redact_change(change: dict[str, Any], found: set[str]) -> None:
    after_sensitive = change.get("after_sensitive", False)
    change["before"] = redact(change.get("before"), change.get("before_sensitive", False), found)
    change["after"] = redact(change.get("after"), after_sensitive, found)
    # Generated import config is HCL text: it cannot be masked piecewise.
    if change.get("generated_config") and _has_sensitive(after_sensitive):
        change["generated_config"] = SENSITIVE_MARKER


def _redact_state_values(values: dict[str, Any] | None, found: set[str]) -> None:
    if not values:
        return
    for output in (values.get("outputs") or {}).values():
        if output.get("sensitive") and "value" in output:
            output["value"] = redact(output["value"], True, found)
    _redact_module_values(values.get("root_module"), found)


def _redact_module_values(module: dict[str, Any] | None, found: set[str]) -> None:
    if not module:
        return
    for resource in module.get("resources") or ():
        if "values" in resource:
            mask = resource.get("sensitive_values", {})
            resource["values"] = redact(resource["values"], mask, found)
    for child in module.get("child_modules") or ():
        _redact_module_values(child, found)


def _redact_output_changes(output_changes: dict[str, Any] | None, found: set[str]) -> None:
    for change in (output_changes or {}).values():
        for side in ("before", "after"):
            mask = change.get(f"{side}_sensitive", False)
            change[side] = redact(change.get(side), mask, found)


def _sensitive_variables(module_config: Mapping[str, Any]) -> set[str]:
    variables = module_config.get("variables") or {}
    return {name for name, v in variables.items() if v.get("sensitive")}


def _redact_module_config(
    module_config: dict[str, Any], extra_sensitive: set[str], found: set[str]
) -> None:
    """Defaults of sensitive variables, and literal arguments passed to a child module's
    sensitive variables, at every level of the module tree."""
    secret_variables = _sensitive_variables(module_config) | extra_sensitive
    for name, variable in (module_config.get("variables") or {}).items():
        if name in secret_variables and "default" in variable:
            variable["default"] = redact(variable["default"], True, found)
    for call in (module_config.get("module_calls") or {}).values():
        child = call.get("module") or {}
        expressions = call.get("expressions") or {}
        for name in _sensitive_variables(child):
            expression = expressions.get(name) or {}
            if "constant_value" in expression:
                expression["constant_value"] = redact(expression["constant_value"], True, found)
        _redact_module_config(child, set(), found)


def write_artifact(doc: Mapping[str, Any], path: Path) -> Path:
    """Write an already-redacted plan document as JSON (owner-only permissions: it still
    describes the infrastructure in detail)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
