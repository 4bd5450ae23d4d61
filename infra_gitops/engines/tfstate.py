"""The managed resources in a Terraform state, from `terraform show -json` (no plan file).

Only what identifies a resource is kept (type, address, id, arn and its own name): the
state's values hold secrets in clear, and nothing else of them leaves this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra_gitops.engines.base import ManagedResource

NAME_ATTRIBUTES = ("bucket", "name")
"""The attribute holding a resource's own name (S3 buckets: bucket; queues, parameters:
name)."""


def state_resources(document: Mapping[str, Any]) -> tuple[ManagedResource, ...]:
    """The managed resources of a `show -json` state document, every module included.
    A state that does not exist yet shows as a document without `values`: none."""
    root = (document.get("values") or {}).get("root_module") or {}
    return tuple(_resource(r) for r in _module_resources(root) if r.get("mode") == "managed")


def _module_resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources") or ()
    for child in module.get("child_modules") or ():
        yield from _module_resources(child)


def _resource(resource: Mapping[str, Any]) -> ManagedResource:
    values = resource.get("values") or {}
    name = next((values[a] for a in NAME_ATTRIBUTES if isinstance(values.get(a), str)), None)
    arn = values.get("arn")
    return ManagedResource(
        type=str(resource.get("type", "")),
        id=str(values.get("id") or ""),
        address=str(resource.get("address", "")),
        arn=arn if isinstance(arn, str) and arn else None,
        name=name or None,
    )
