"""APScheduler 3.x wiring: the poll job, one drift job per stack, an immediate trigger.

Every job has max_instances=1 and coalesce: a slow pass is never doubled up, and missed
runs collapse into one. A trigger that arrives while the poll runs is not lost: the
poll job runs once more when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("infra_gitops.daemon")

POLL_JOB = "poll"
_DRIFT_PREFIX = "drift:"


def drift_jitter(interval: float) -> float:
    """Spread checks of stacks with the same interval (10%, at most a minute)."""
    return min(interval * 0.1, 60.0)


class DaemonScheduler:
    def __init__(
        self,
        *,
        poll: Callable[[], None],
        poll_interval: float,
        drift: Callable[[str], None],
        workers: int,
    ) -> None:
        self._poll = poll
        self._poll_interval = poll_interval
        self._drift = drift
        self._again = threading.Event()
        self._intervals: dict[str, float] = {}
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(2, workers))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def start(self) -> None:
        self._scheduler.add_job(
            self._poll_job,
            IntervalTrigger(seconds=self._poll_interval, timezone=UTC),
            id=POLL_JOB,
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    def trigger(self) -> None:
        """Run the poll job now (or right after the one running ends)."""
        self._again.set()
        try:
            self._scheduler.modify_job(POLL_JOB, next_run_time=datetime.now(UTC))
        except Exception:  # shutting down: the job is gone
            log.debug("poll trigger ignored: the scheduler is stopping")

    def sync_drift_jobs(self, intervals: Mapping[str, float]) -> None:
        """One drift job per stack on its interval; jobs of removed stacks go."""
        for name in set(self._intervals) - set(intervals):
            self._scheduler.remove_job(_DRIFT_PREFIX + name)
            del self._intervals[name]
        for name, interval in intervals.items():
            if self._intervals.get(name) == interval:
                continue
            jitter = drift_jitter(interval)
            self._scheduler.add_job(
                self._drift,
                IntervalTrigger(seconds=interval, jitter=jitter, timezone=UTC),
                args=[name],
                id=_DRIFT_PREFIX + name,
                replace_existing=True,
                next_run_time=datetime.now(UTC) + timedelta(seconds=interval),
            )
            self._intervals[name] = interval

    def run_once(self, work: Callable[[], object]) -> None:
        """Run work once, now, on the scheduler's workers."""
        self._scheduler.add_job(work, next_run_time=datetime.now(UTC))

    def shutdown(self) -> None:
        """Stop scheduling; jobs already running go on (the caller drains them)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _poll_job(self) -> None:
        while True:
            self._again.clear()
            self._poll()
            if not self._again.is_set():
                return
