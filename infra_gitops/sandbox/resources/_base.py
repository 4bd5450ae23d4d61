"""What every sandbox resource shares: the AWS client, error reporting, tags, state shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from tf import schema, types
from tf.iface import Resource, State, UpgradeContext
from tf.utils import Diagnostics

if TYPE_CHECKING:
    from infra_gitops.sandbox.provider import SandboxAwsProvider

AwsError = (ClientError, BotoCoreError)


class AwsResource(Resource):
    """Base for the resources: the tf package builds one instance per request."""

    def __init__(self, provider: SandboxAwsProvider) -> None:
        self.provider = provider

    def aws(self, service: str) -> Any:
        return self.provider.aws(service)

    def upgrade(self, ctx: UpgradeContext, version: int, old: State) -> State:
        # Schema version 0 since the start: nothing to migrate (and no warning to print).
        return old


def tags_attribute() -> schema.Attribute:
    return schema.Attribute("tags", types.Map(types.String()), optional=True)


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def report(diags: Diagnostics, action: str, exc: Exception) -> None:
    """Turn an AWS failure into a Terraform error diagnostic that names the action."""
    diags.add_error(f"{action} failed", f"{type(exc).__name__}: {exc}")


def tags_for_state(live: Mapping[str, str], prior: Any) -> dict[str, str] | None:
    """Live tags in the shape the prior state used for "no tags".

    `tf` has no object types and Terraform tells null from {}: answering {} where the
    config said nothing (or null where it said {}) would show a change on every plan.
    """
    if live:
        return dict(live)
    return {} if prior == {} else None


def tag_changes(
    before: Mapping[str, str] | None, after: Mapping[str, str] | None
) -> tuple[dict[str, str], list[str]]:
    """(tags to set, keys to remove) to go from before to after."""
    old, new = dict(before or {}), dict(after or {})
    to_set = {k: v for k, v in new.items() if old.get(k) != v}
    to_remove = sorted(set(old) - set(new))
    return to_set, to_remove


def text_for_state(live: str | None, prior: Any) -> str | None:
    """Same null-vs-empty care as tags, for optional strings such as a description."""
    if live:
        return live
    return "" if prior == "" else None
