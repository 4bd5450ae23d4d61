"""The `sync_windows` section of the manifest: when the daemon may apply (Argo CD's
sync windows).

    sync_windows:
      - kind: deny                  # allow | deny
        schedule: "0 22 * * *"      # cron (UTC): when the window opens
        duration: 8h                # how long it stays open
        stacks: [prod-*]            # names or globs; absent: every stack
        manual_sync: true           # a manual rollback may still apply meanwhile
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra_gitops.config.document import Document
from infra_gitops.durations import parse_duration
from infra_gitops.errors import Problem

if TYPE_CHECKING:  # imported when a window is read: most manifests have none
    from apscheduler.triggers.cron import CronTrigger

__all__ = ["SyncWindow", "cron_trigger", "sync_window_problems", "sync_windows"]


@dataclass(frozen=True)
class SyncWindow:
    kind: str
    """allow or deny."""
    schedule: str
    """Cron expression (UTC) of when the window opens."""
    duration_s: int
    stacks: tuple[str, ...] = ()
    """Names or glob patterns; empty: every stack."""
    manual_sync: bool = False


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(schedule: str) -> CronTrigger:
    """The schedule as a trigger (UTC). Raises ValueError when it is not valid cron."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields: got {len(fields)}, expected 5")
    # APScheduler 3 numbers weekdays from Monday = 0, cron from Sunday = 0 (and 7):
    # spell the days out so "1-5" means Monday to Friday, as in crontab.
    fields[4] = _weekdays(fields[4])
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(" ".join(fields), timezone="UTC")


def _weekdays(field: str) -> str:
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        else:
            start, _, end = span.partition("-")
            first = _day(start)
            last = _day(end, seven_is_sunday=False) if end else (6 if step_text else first)
        if last < first or step < 1:
            raise ValueError(f"invalid day-of-week range {item!r}")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def _day(text: str, *, seven_is_sunday: bool = True) -> int:
    if text in _DAYS:
        return _DAYS.index(text)
    if not text.isdigit() or int(text) > 7:
        raise ValueError(f"invalid day of week {text!r} (0-7 or sun-sat)")
    day = int(text)
    return 0 if day == 7 and seven_is_sunday else day


def sync_windows(doc: Document) -> tuple[SyncWindow, ...]:
    """The windows of a document the checks passed."""
    entries = doc.get(("sync_windows",))
    if not isinstance(entries, list):
        return ()
    return tuple(
        SyncWindow(
            kind=str(entry["kind"]),
            schedule=str(entry["schedule"]),
            duration_s=parse_duration(entry["duration"]),
            stacks=tuple(str(s) for s in entry.get("stacks") or ()),
            manual_sync=bool(entry.get("manual_sync", False)),
        )
        for entry in entries
        if isinstance(entry, dict)
    )


def sync_window_problems(doc: Document) -> list[Problem]:
    """Schedules that are not valid cron (the schema checks the rest)."""
    entries = doc.get(("sync_windows",))
    problems: list[Problem] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        schedule = entry.get("schedule") if isinstance(entry, dict) else None
        if not isinstance(schedule, str):
            continue
        try:
            cron_trigger(schedule)
        except ValueError as exc:
            problems.append(
                doc.problem(
                    ("sync_windows", i, "schedule"),
                    f"expected a cron schedule (minute hour day-of-month month day-of-week), "
                    f"got {schedule!r}: {exc}",
                )
            )
    return problems
