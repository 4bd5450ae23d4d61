"""Where each stack's state lives: one rule for its default key, and the identity that
tells whether two stacks would share one state.

Two stacks sharing a state overwrite each other's resources (each plans to destroy what
the other made), so every stack gets its own key by default, and `validate` refuses two
stacks whose settings resolve to the same state.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

TERRAFORM_ENGINES = ("terraform", "tofu")
"""Engines that share Terraform's state format and backends."""

KEY_SETTINGS: Mapping[str, str] = {
    "s3": "key",
    "oss": "key",
    "cos": "key",
    "gcs": "prefix",
}
"""Backend type -> the setting that names one state within its bucket."""


def default_state_key(stack_name: str) -> str:
    """The key of a stack's state when its backend settings give a bucket and no key."""
    return f"{stack_name}/terraform.tfstate"


def with_default_state_key(
    stack_name: str, settings: Mapping[str, Any], backend_type: str | None = "s3"
) -> dict[str, Any]:
    """The backend settings with the stack's own key (gcs: prefix) filled in when they
    name a bucket but no key. Other backends, and settings without a bucket, as given."""
    result = dict(settings)
    key_setting = KEY_SETTINGS.get(backend_type or "")
    if key_setting is None or "bucket" not in result or "key" in result or "prefix" in result:
        return result
    result[key_setting] = default_state_key(stack_name) if key_setting == "key" else stack_name
    return result


def state_identity(
    *, name: str, path: str, engine: str, workspace: str, settings: Mapping[str, Any]
) -> tuple[str, ...] | None:
    """What identifies the state a stack's manifest settings resolve to, or None when
    nothing can be told from the manifest (a Pulumi stack without a backend url keeps a
    state of its own in its work dir).

    Two stacks with the same identity share one state. A key given without a bucket is
    taken to be in the same bucket as another such key (the bucket then comes from the
    stack's code or the sandbox, which is one bucket in practice); a Terraform stack
    without any key is taken to use its default key there (as on the sandbox).
    """
    if engine in TERRAFORM_ENGINES:
        if "path" in settings and "bucket" not in settings:
            return ("terraform-local", _local_path(path, str(settings["path"])), workspace)
        settings = with_default_state_key(name, settings)
        key = settings.get("key", settings.get("prefix", default_state_key(name)))
        return (
            "terraform",
            str(settings.get("bucket", "")),
            str(key),
            str(settings.get("workspace_key_prefix", "")),
            _endpoint(settings),
            workspace,
        )
    if engine == "pulumi" and settings.get("url"):
        # A Pulumi backend holds many stacks, keyed by project and stack name: the same
        # program (path) in the same backend under the same stack name is one state.
        return ("pulumi", str(settings["url"]), posixpath.normpath(path), workspace)
    return None


def describe_identity(identity: tuple[str, ...]) -> str:
    kind = identity[0]
    if kind == "terraform":
        bucket = f"bucket {identity[1]!r}, " if identity[1] else ""
        return f"{bucket}key {identity[2]!r}, workspace {identity[-1]!r}"
    if kind == "terraform-local":
        return f"local state {identity[1]!r}, workspace {identity[2]!r}"
    return f"Pulumi backend {identity[1]!r}, program {identity[2]!r}, stack {identity[3]!r}"


def _endpoint(settings: Mapping[str, Any]) -> str:
    """Different endpoints are different storage, even for one bucket name."""
    endpoints = settings.get("endpoints")
    if isinstance(endpoints, Mapping):
        return str(endpoints.get("s3", ""))
    return str(settings.get("endpoint", ""))


def _local_path(stack_path: str, state_path: str) -> str:
    # A relative path is relative to the stack's directory, where Terraform runs.
    if posixpath.isabs(state_path):
        return posixpath.normpath(state_path)
    return posixpath.normpath(posixpath.join(stack_path, state_path))
