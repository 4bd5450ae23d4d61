"""aws_ssm_parameter: name, type, value (sensitive), description, tags; id, arn, version."""

from __future__ import annotations

from typing import Any

from tf import schema, types
from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
    PlanContext,
    ReadContext,
    State,
    UpdateContext,
)
from tf.types import Unknown
from tf.utils import Diagnostics

from infra_gitops.sandbox.resources._base import (
    AwsError,
    AwsResource,
    error_code,
    report,
    tag_changes,
    tags_attribute,
    tags_for_state,
    text_for_state,
)

PARAMETER_TYPES = ("String", "StringList", "SecureString")
# Changing any of these writes a new version of the parameter.
_VERSIONED = ("type", "value", "description")


class SsmParameter(AwsResource):
    @classmethod
    def get_name(cls) -> str:
        return "ssm_parameter"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return schema.Schema(
            version=0,
            attributes=[
                schema.Attribute("id", types.String(), computed=True),
                schema.Attribute("arn", types.String(), computed=True),
                schema.Attribute("version", types.Number(), computed=True),
                schema.Attribute("name", types.String(), required=True, requires_replace=True),
                schema.Attribute("type", types.String(), required=True),
                schema.Attribute("value", types.String(), required=True, sensitive=True),
                schema.Attribute("description", types.String(), optional=True),
                tags_attribute(),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        kind = config.get("type")
        if isinstance(kind, str) and kind not in PARAMETER_TYPES:
            diags.add_error(
                f"{type_name}: type must be one of {', '.join(PARAMETER_TYPES)}",
                f"got {kind!r}",
                path=["type"],
            )

    def plan(self, ctx: PlanContext, current: State | None, planned: State) -> State:
        if current is not None and ctx.changed_fields & set(_VERSIONED):
            planned["version"] = Unknown
        return planned

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        name = planned["name"]
        ssm = self.aws("ssm")
        kwargs = _put_kwargs(planned)
        if planned.get("tags"):
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(planned["tags"].items())]
        try:
            version = ssm.put_parameter(**kwargs)["Version"]
            arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
        except AwsError as exc:
            report(ctx.diagnostics, f"creating SSM parameter {name}", exc)
            return None
        return {**planned, "id": name, "arn": arn, "version": version}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        name = current["id"]
        ssm = self.aws("ssm")
        try:
            param = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
            description = _live_description(ssm, name)
            live_tags = _live_tags(ssm, name)
        except AwsError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None  # deleted out of band
            report(ctx.diagnostics, f"reading SSM parameter {name}", exc)
            return current
        return {
            "id": name,
            "arn": param["ARN"],
            "version": param["Version"],
            "name": name,
            "type": param["Type"],
            "value": param["Value"],
            "description": text_for_state(description, current.get("description")),
            "tags": tags_for_state(live_tags, current.get("tags")),
        }

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        name = current["id"]
        ssm = self.aws("ssm")
        to_set, to_remove = tag_changes(current.get("tags"), planned.get("tags"))
        version = current["version"]
        try:
            if any(planned.get(k) != current.get(k) for k in _VERSIONED):
                version = ssm.put_parameter(**_put_kwargs(planned), Overwrite=True)["Version"]
            if to_set:
                tags = [{"Key": k, "Value": v} for k, v in sorted(to_set.items())]
                ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=tags)
            if to_remove:
                ssm.remove_tags_from_resource(
                    ResourceType="Parameter", ResourceId=name, TagKeys=to_remove
                )
        except AwsError as exc:
            report(ctx.diagnostics, f"updating SSM parameter {name}", exc)
            return current
        return {**planned, "id": name, "arn": current["arn"], "version": version}

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.aws("ssm").delete_parameter(Name=current["id"])
        except AwsError as exc:
            if error_code(exc) != "ParameterNotFound":
                report(ctx.diagnostics, f"deleting SSM parameter {current['id']}", exc)
        return None

    def import_(self, ctx: ImportContext, id: str) -> State | None:
        stub: dict[str, Any] = {"id": id, "tags": None, "description": None}
        return self.read(ReadContext(ctx.diagnostics, ctx.type_name), stub)


def _put_kwargs(planned: State) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "Name": planned["name"],
        "Value": planned["value"],
        "Type": planned["type"],
    }
    if planned.get("description"):
        kwargs["Description"] = planned["description"]
    return kwargs


def _live_description(ssm: Any, name: str) -> str | None:
    found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])
    params = found.get("Parameters", [])
    return params[0].get("Description") if params else None


def _live_tags(ssm: Any, name: str) -> dict[str, str]:
    tag_list = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {t["Key"]: t["Value"] for t in tag_list}
