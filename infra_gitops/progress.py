"""Progress lines for long work: which stack, which step, elapsed time (on stderr)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from infra_gitops.engines.base import ProgressSink


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        if not self._enabled:
            return
        elapsed = time.monotonic() - self._started
        with self._lock:
            print(f"[{elapsed:6.1f}s] {message}", file=self._stream, flush=True)

    def for_stack(self, stack: str) -> ProgressSink:
        return lambda step: self.say(f"{stack}: {step}")
