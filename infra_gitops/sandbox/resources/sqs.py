"""aws_sqs_queue: name, the common queue attributes, fifo_queue, tags; id is the queue URL."""

from __future__ import annotations

from typing import Any

from tf import schema, types
from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
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
)

# Terraform attribute -> (SQS attribute, AWS default), the defaults the real provider plans.
NUMERIC_ATTRIBUTES: dict[str, tuple[str, int]] = {
    "visibility_timeout_seconds": ("VisibilityTimeout", 30),
    "message_retention_seconds": ("MessageRetentionPeriod", 345600),
    "delay_seconds": ("DelaySeconds", 0),
    "max_message_size": ("MaximumMessageSize", 262144),
    "receive_wait_time_seconds": ("ReceiveMessageWaitTimeSeconds", 0),
}
_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class SqsQueue(AwsResource):
    @classmethod
    def get_name(cls) -> str:
        return "sqs_queue"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        numeric = [
            schema.Attribute(name, types.Number(), optional=True, computed=True, default=default)
            for name, (_, default) in NUMERIC_ATTRIBUTES.items()
        ]
        return schema.Schema(
            version=0,
            attributes=[
                schema.Attribute("id", types.String(), computed=True),
                schema.Attribute("arn", types.String(), computed=True),
                schema.Attribute("url", types.String(), computed=True),
                schema.Attribute("name", types.String(), required=True, requires_replace=True),
                *numeric,
                schema.Attribute(
                    "fifo_queue",
                    types.Bool(),
                    optional=True,
                    computed=True,
                    default=False,
                    requires_replace=True,
                ),
                tags_attribute(),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        name, fifo = config.get("name"), config.get("fifo_queue")
        if not isinstance(name, str) or fifo is Unknown:
            return  # not known yet (a variable or another resource's output)
        if bool(fifo) != name.endswith(".fifo"):
            diags.add_error(
                f"{type_name}: a FIFO queue's name must end in .fifo, and only a FIFO queue's",
                f"name = {name!r}, fifo_queue = {bool(fifo)}",
                path=["name"],
            )

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        sqs = self.aws("sqs")
        attributes = _sqs_attributes(planned)
        if planned.get("fifo_queue"):
            attributes["FifoQueue"] = "true"
        kwargs: dict[str, Any] = {"QueueName": planned["name"], "Attributes": attributes}
        if planned.get("tags"):
            kwargs["tags"] = dict(planned["tags"])
        try:
            url = sqs.create_queue(**kwargs)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        except AwsError as exc:
            report(ctx.diagnostics, f"creating SQS queue {planned['name']}", exc)
            return None
        return {**planned, "id": url, "url": url, "arn": arn["Attributes"]["QueueArn"]}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        sqs = self.aws("sqs")
        url = current["id"]
        try:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            live_tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        except AwsError as exc:
            if error_code(exc) in _MISSING:
                return None  # deleted out of band
            report(ctx.diagnostics, f"reading SQS queue {url}", exc)
            return current
        state: dict[str, Any] = {
            "id": url,
            "url": url,
            "arn": attrs["QueueArn"],
            "name": attrs["QueueArn"].rsplit(":", 1)[-1],
            "fifo_queue": attrs.get("FifoQueue", "false") == "true",
            "tags": tags_for_state(live_tags, current.get("tags")),
        }
        for name, (sqs_name, default) in NUMERIC_ATTRIBUTES.items():
            state[name] = int(attrs.get(sqs_name, default))
        return state

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        sqs = self.aws("sqs")
        url = current["id"]
        changed = {
            sqs_name: str(int(planned[name]))
            for name, (sqs_name, _) in NUMERIC_ATTRIBUTES.items()
            if planned.get(name) != current.get(name)
        }
        to_set, to_remove = tag_changes(current.get("tags"), planned.get("tags"))
        try:
            if changed:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
            if to_set:
                sqs.tag_queue(QueueUrl=url, Tags=to_set)
            if to_remove:
                sqs.untag_queue(QueueUrl=url, TagKeys=to_remove)
        except AwsError as exc:
            report(ctx.diagnostics, f"updating SQS queue {url}", exc)
            return current
        return {**planned, "id": url, "url": url, "arn": current["arn"]}

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.aws("sqs").delete_queue(QueueUrl=current["id"])
        except AwsError as exc:
            if error_code(exc) not in _MISSING:
                report(ctx.diagnostics, f"deleting SQS queue {current['id']}", exc)
        return None

    def import_(self, ctx: ImportContext, id: str) -> State | None:
        stub: dict[str, Any] = {"id": id, "tags": None}
        return self.read(ReadContext(ctx.diagnostics, ctx.type_name), stub)


def _sqs_attributes(planned: State) -> dict[str, str]:
    return {
        sqs_name: str(int(planned[name]))
        for name, (sqs_name, _) in NUMERIC_ATTRIBUTES.items()
        if planned.get(name) is not None
    }
