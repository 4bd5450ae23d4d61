"""argparse types for numeric flags: a value that makes no sense is a usage error (exit 1,
naming the flag, before anything runs.

argparse words the error as `argument --parallelism: must be a whole number of at least
1, got '0'`: it adds the flag, these say what is expected.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["add_run_limits", "non_negative_seconds", "positive_int", "positive_seconds"]


def positive_int(text: str) -> int:
    """A count of at least 1 (stacks at once, rows shown)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A duration that must pass before something happens: zero would mean never
    waiting (a timeout) or spinning (an interval)."""
    value = _seconds(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """A wait where 0 means "do not wait" (--lock-wait)."""
    value = _seconds(text)
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds, 0 or more (0: do not wait), got {text!r}"
        )
    return value


def _seconds(text: str) -> float | None:
    """The number, or None when it is not one (nan and inf are no durations)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def add_run_limits(parser: argparse.ArgumentParser) -> None:
    """--timeout and --lock-wait, as every command that runs engines on stacks takes them."""
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=1800.0,
        metavar="SECONDS",
        help="limit for each engine command (default: 1800)",
    )
    parser.add_argument(
        "--lock-wait",
        type=non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a stack held by another run (default: 0)",
    )
