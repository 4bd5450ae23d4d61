"""What `status` shows of the replicas sharing a database: per repository branch they
follow, the replicas alive and which one leads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra_gitops.coordination.heads import published_heads
from infra_gitops.coordination.replicas import ReplicaInfo, Replicas
from infra_gitops.postgres import DatabaseUrl


@dataclass(frozen=True)
class ReplicaGroup:
    repo: str
    branch: str
    head: str
    """The commit the leader reconciled last."""
    replicas: tuple[ReplicaInfo, ...]


def replica_groups(url: DatabaseUrl) -> list[ReplicaGroup]:
    groups = []
    for head in published_heads(url):
        replicas = Replicas(url, head.scope)
        try:
            alive = tuple(replicas.alive())
        finally:
            replicas.close()
        groups.append(ReplicaGroup(head.repo, head.branch, head.sha, alive))
    return groups


def render_replicas(groups: list[ReplicaGroup]) -> str:
    if not groups:
        return "no replica has reconciled a commit on this database yet"
    lines = []
    for group in groups:
        lines.append(
            f"replicas of {group.repo} ({group.branch}) at {group.head[:10]}: "
            f"{len(group.replicas)} alive"
        )
        for r in group.replicas:
            role = "  leader" if r.leader else ""
            lines.append(f"  {r.host} pid {r.pid}, up since {r.started_at:%Y-%m-%d %H:%M:%S}{role}")
    return "\n".join(lines)


def replicas_json(groups: list[ReplicaGroup]) -> list[dict[str, Any]]:
    return [
        {
            "repo": g.repo,
            "branch": g.branch,
            "head": g.head,
            "replicas": [
                {
                    "host": r.host,
                    "pid": r.pid,
                    "leader": r.leader,
                    "since": r.started_at.isoformat(),
                }
                for r in g.replicas
            ],
        }
        for g in groups
    ]
