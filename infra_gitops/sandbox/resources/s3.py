"""aws_s3_bucket: bucket, force_destroy, tags; computed id (the bucket name) and arn."""

from __future__ import annotations

from typing import Any

from tf import schema, types
from tf.iface import (
    CreateContext,
    DeleteContext,
    ImportContext,
    ReadContext,
    State,
    UpdateContext,
)

from infra_gitops.sandbox.resources._base import (
    AwsError,
    AwsResource,
    error_code,
    report,
    tag_changes,
    tags_attribute,
    tags_for_state,
)

_MISSING = {"404", "NoSuchBucket", "NotFound"}


class S3Bucket(AwsResource):
    @classmethod
    def get_name(cls) -> str:
        return "s3_bucket"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return schema.Schema(
            version=0,
            attributes=[
                schema.Attribute("id", types.String(), computed=True),
                schema.Attribute("arn", types.String(), computed=True),
                schema.Attribute("bucket", types.String(), required=True, requires_replace=True),
                schema.Attribute(
                    "force_destroy", types.Bool(), optional=True, computed=True, default=False
                ),
                tags_attribute(),
            ],
        )

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        name = planned["bucket"]
        s3 = self.aws("s3")
        try:
            s3.create_bucket(Bucket=name, **self._location())
            if planned.get("tags"):
                s3.put_bucket_tagging(Bucket=name, Tagging=_tagging(planned["tags"]))
        except AwsError as exc:
            report(ctx.diagnostics, f"creating S3 bucket {name}", exc)
            return None
        return {**planned, "id": name, "arn": _arn(name)}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        name = current.get("id") or current["bucket"]
        s3 = self.aws("s3")
        try:
            s3.head_bucket(Bucket=name)
            live_tags = _live_tags(s3, name)
        except AwsError as exc:
            if error_code(exc) in _MISSING:
                return None  # deleted out of band: Terraform plans to create it again
            report(ctx.diagnostics, f"reading S3 bucket {name}", exc)
            return current
        return {
            "id": name,
            "arn": _arn(name),
            "bucket": name,
            "force_destroy": bool(current.get("force_destroy") or False),
            "tags": tags_for_state(live_tags, current.get("tags")),
        }

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        name = current["id"]
        to_set, to_remove = tag_changes(current.get("tags"), planned.get("tags"))
        if to_set or to_remove:
            try:
                self._write_tags(name, planned.get("tags") or {})
            except AwsError as exc:
                report(ctx.diagnostics, f"tagging S3 bucket {name}", exc)
                return current
        return {**planned, "id": name, "arn": _arn(name)}

    def delete(self, ctx: DeleteContext, current: State) -> None:
        name = current["id"]
        s3 = self.aws("s3")
        try:
            if current.get("force_destroy"):
                _empty(s3, name)
            s3.delete_bucket(Bucket=name)
        except AwsError as exc:
            if error_code(exc) in _MISSING:
                return None
            hint = (
                " (it is not empty; set force_destroy = true to delete its objects too)"
                if error_code(exc) == "BucketNotEmpty"
                else ""
            )
            report(ctx.diagnostics, f"deleting S3 bucket {name}{hint}", exc)
        return None

    def import_(self, ctx: ImportContext, id: str) -> State | None:
        stub = {"id": id, "bucket": id, "force_destroy": False, "tags": None}
        return self.read(ReadContext(ctx.diagnostics, ctx.type_name), stub)

    def _location(self) -> dict[str, Any]:
        region = self.provider.clients.settings.region if self.provider.clients else "us-east-1"
        if region == "us-east-1":
            return {}
        return {"CreateBucketConfiguration": {"LocationConstraint": region}}

    def _write_tags(self, name: str, tags: dict[str, str]) -> None:
        s3 = self.aws("s3")
        if tags:
            s3.put_bucket_tagging(Bucket=name, Tagging=_tagging(tags))
        else:
            s3.delete_bucket_tagging(Bucket=name)


def _arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _tagging(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _live_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
    except AwsError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def _empty(s3: Any, name: str) -> None:
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        keys = [
            {"Key": o["Key"], "VersionId": o["VersionId"]}
            for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
