"""What the web tests share: the accounts of the module-wide auth store (conftest.py), a
check of an answer against the OpenAPI document, and a run record with redacted values."""

from __future__ import annotations

from typing import Any

import jsonschema

from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    Commit,
    ResourceChange,
    Run,
    RunKind,
    RunStatus,
)
from infra_gitops.web.app import openapi_document

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "ada": ["admin"],
    "olga": ["operator:app*"],
    "rita": ["readonly"],
}


def conforms(instance: Any, schema_name: str) -> None:
    """instance matches components/schemas/NAME of the document (JSON Schema 2020-12)."""
    document = openapi_document()
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)


COMMIT = Commit("c" * 40, "Alice Admin", "alice@example.com", "2026-12-01T10:00:00+00:00", "Tag")


def a_run(run_id: str, stack: str, status: RunStatus = RunStatus.DRIFTED) -> Run:
    """A drift check's record: a tag changed by hand, a sensitive value, a value known
    only after apply."""
    drift = ResourceChange(
        address="aws_s3_bucket.artifacts",
        type="aws_s3_bucket",
        name="artifacts",
        action=Action.UPDATE,
        changed_paths=("tags.environment", "password", "arn"),
        before={"tags": {"environment": "dev"}, "password": SENSITIVE_MARKER, "arn": "a"},
        after={
            "tags": {"environment": "by-hand"},
            "password": SENSITIVE_MARKER,
            "arn": UNKNOWN_MARKER,
        },
        unknown_paths=("arn",),
    )
    return Run(
        run_id,
        stack,
        RunKind.DRIFT,
        "api:refresh",
        status,
        COMMIT,
        "2026-12-01T10:00:01+00:00",
        drift=(drift,),
        engine="terraform",
        actor="ada",
    )
