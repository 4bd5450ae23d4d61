"""The scan: what the cloud holds, of the types the stacks manage, that no stack's state
holds, less the state backend's own buckets and what the ignore rules leave out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from infra_gitops.config import Manifest
from infra_gitops.config.unmanaged import IgnoreRule
from infra_gitops.engines.base import ManagedResource
from infra_gitops.models import Stack
from infra_gitops.stackrun import StackRunner
from infra_gitops.store.artifacts import S3_SCHEME
from infra_gitops.unmanaged import aws
from infra_gitops.unmanaged.managed import States, declared_types, read_states
from infra_gitops.unmanaged.types import SCANNED_TYPES
from infra_gitops.workspace import Target


@dataclass(frozen=True)
class Finding(aws.CloudResource):
    """A resource no stack manages."""

    ignored_by: str | None = None
    """The ignore rule that matched (only ignored findings have one)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = dict(self.tags)
        return data


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]
    """Unmanaged and not ignored: what to act on."""
    ignored: tuple[Finding, ...]
    scanned_types: tuple[str, ...]
    regions: tuple[str, ...]
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScanScope:
    """What one scan works with."""

    runner: StackRunner
    manifest: Manifest
    source_of: Callable[[Stack], Path]
    """The root of the tree a stack's code is taken from (a pinned environment's commit)."""
    target: Target
    selected: Sequence[Stack]
    """Stacks whose types are scanned (every declared stack's state counts as managed)."""
    infra_buckets: frozenset[str] = frozenset()
    """Buckets of our own never reported, besides the state backends' (the plan store)."""
    parallelism: int = 2


def scan(scope: ScanScope) -> ScanResult:
    states = read_states(scope.runner, scope.manifest.stacks, parallelism=scope.parallelism)
    managed_types = _types(scope, states)
    scanned = sorted(t for t in managed_types if t in SCANNED_TYPES)
    notices = [
        f"not scanned: no lister for {t} ({', '.join(managed_types[t])})"
        for t in sorted(managed_types)
        if t not in SCANNED_TYPES
    ]
    accounts = _accounts(scope)
    live = [
        resource
        for account in accounts
        for resource in aws.list_resources(account, frozenset(scanned))
    ]
    managed = _managed_keys(r for resources in states.values() for r in resources)
    ours = _infra_buckets(scope)
    unmanaged = [
        r
        for r in live
        if not (_keys(r) & managed) and not (r.type == "aws_s3_bucket" and r.identifier in ours)
    ]
    findings, ignored = _apply_rules(unmanaged, scope.manifest.unmanaged.ignore)
    return ScanResult(
        findings=tuple(findings),
        ignored=tuple(ignored),
        scanned_types=tuple(scanned),
        regions=tuple(sorted({a.region for a in accounts})),
        notices=tuple(notices),
    )


def _types(scope: ScanScope, states: States) -> dict[str, list[str]]:
    """Type -> the selected stacks that manage it (in their state or configuration)."""
    types: dict[str, list[str]] = {}
    for stack in scope.selected:
        held = {r.type for r in states.get(stack.name, ())}
        for type_ in sorted(held | declared_types(scope.source_of(stack), stack)):
            types.setdefault(type_, []).append(stack.name)
    return types


def _accounts(scope: ScanScope) -> list[aws.Account]:
    """Each distinct region (and credentials) the selected stacks run in, listed once."""
    accounts: dict[tuple[str, ...], aws.Account] = {}
    for stack in scope.selected:
        account = aws.account_of({**scope.target.base_env, **stack.env})
        accounts.setdefault(account.key, account)
    return list(accounts.values())


def _managed_keys(resources: Iterable[ManagedResource]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for r in resources:
        keys.update((r.type, k) for k in (r.id, r.arn, r.name) if k)
        if r.type == "aws_sqs_queue" and r.id:
            keys.add((r.type, aws.queue_name(r.id)))
    return keys


def _keys(resource: aws.CloudResource) -> set[tuple[str, str]]:
    """A live resource is managed when a state holds its identifier, ARN or name (a
    queue's URL differs by endpoint host: its name and ARN do not)."""
    return {(resource.type, k) for k in (resource.identifier, resource.arn, resource.name) if k}


def store_buckets(plan_store: str, artifact_store: str | None) -> frozenset[str]:
    """The buckets of the plan store and of the artifact store, when they are in S3."""
    places = [plan_store, *([artifact_store] if artifact_store else [])]
    return frozenset(
        place[len(S3_SCHEME) :].split("/", 1)[0] for place in places if place.startswith(S3_SCHEME)
    )


def _infra_buckets(scope: ScanScope) -> frozenset[str]:
    """The state backends' buckets (the sandbox's, the manifest's S3 backend settings)
    and the plan store's: infra-gitops's own, never reported."""
    buckets = set(scope.infra_buckets)
    if scope.target.sandbox is not None:
        buckets.add(scope.target.sandbox.state_bucket)
    for stack in scope.manifest.stacks:
        bucket = stack.backend_config.get("bucket")
        if isinstance(bucket, str) and bucket:
            buckets.add(bucket)
    return frozenset(buckets)


def _apply_rules(
    unmanaged: Sequence[aws.CloudResource], rules: Sequence[IgnoreRule]
) -> tuple[list[Finding], list[Finding]]:
    findings: list[Finding] = []
    ignored: list[Finding] = []
    for resource in sorted(unmanaged, key=lambda r: (r.type, r.region, r.identifier)):
        finding = Finding(**asdict(resource))
        rule = next(
            (
                rule
                for rule in rules
                if rule.matches(resource.type, resource.identifier, resource.name, resource.tags)
            ),
            None,
        )
        if rule is None:
            findings.append(finding)
        else:
            ignored.append(replace(finding, ignored_by=rule.describe()))
    return findings, ignored
