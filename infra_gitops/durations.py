"""Durations as the manifest writes them: whole seconds (600) or "30s", "10m", "1h30m"."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNITS = (("h", 3600), ("m", 60), ("s", 1))


def parse_duration(value: int | str) -> int:
    """Seconds in value. Raises ValueError unless it is a positive duration."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.fullmatch(value.strip())
        if not value.strip() or match is None:
            raise ValueError(f"expected a duration like 30s, 10m or 1h30m, got {value!r}")
        seconds = sum(int(match[unit] or 0) * size for unit, size in _UNITS)
    if seconds < 1:
        raise ValueError(f"expected a duration of at least 1 second, got {value!r}")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest manifest spelling of seconds: 5400 -> "1h30m", 45 -> "45s"."""
    parts = []
    rest = seconds
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
