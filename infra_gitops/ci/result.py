"""What `ci plan` found: the input of the Markdown report, the JSON envelope and the status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra_gitops import report
from infra_gitops.models import RunStatus, StackOutcome
from infra_gitops.policy import Violation


@dataclass(frozen=True)
class PlanReport:
    head_sha: str
    base_sha: str | None
    outcomes: tuple[StackOutcome, ...]
    violations: tuple[Violation, ...] = ()
    notices: tuple[str, ...] = ()
    plan_hashes: Mapping[str, str] = field(default_factory=dict)
    """Stack -> sha256 of its saved plan (what `apply --from-plan` will apply)."""
    store: str | None = None
    """Where the plans were stored; None when they were not."""
    changed_paths: int = 0

    @property
    def failed(self) -> list[StackOutcome]:
        return [o for o in self.outcomes if o.status is RunStatus.FAILED]

    @property
    def with_changes(self) -> list[StackOutcome]:
        return [o for o in self.outcomes if o.status is RunStatus.CHANGES]

    @property
    def mocked(self) -> list[StackOutcome]:
        """Planned against mock outputs: for review only, never applied."""
        return [o for o in self.outcomes if o.plan is not None and o.plan.mock_outputs]

    @property
    def with_drift(self) -> list[StackOutcome]:
        return [o for o in self.outcomes if o.plan is not None and o.plan.has_drift]

    def summary(self) -> str:
        """One line, for the commit status (GitHub keeps 140 characters of it)."""
        if self.violations:
            rules = sorted({v.rule for v in self.violations})
            return f"policy violated: {', '.join(rules)}"[:140]
        if self.failed:
            return f"{len(self.failed)} of {len(self.outcomes)} stack(s) failed to plan"
        if not self.outcomes:
            return "no stacks affected"
        changes = len(self.with_changes)
        drift = f"; drift in {len(self.with_drift)}" if self.with_drift else ""
        mocked = f"; {len(self.mocked)} against mock outputs, not appliable" if self.mocked else ""
        return f"{len(self.outcomes)} stack(s) planned, {changes} with changes{drift}{mocked}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "head": self.head_sha,
            "base": self.base_sha,
            "changed_paths": self.changed_paths,
            "summary": self.summary(),
            "stacks": [
                {**report.outcome_to_dict(o), "plan_hash": self.plan_hashes.get(o.stack)}
                for o in self.outcomes
            ],
            "violations": [v.to_dict() for v in self.violations],
            "notices": list(self.notices),
            "store": self.store,
        }
