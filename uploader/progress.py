"""Progress of a transfer: a bar on one line (bytes, rate, ETA) when stderr is a terminal, else a log line at
every tenth of the way, so a service's journal gets a few lines rather than thousands of carriage returns."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("uploader")

WIDTH = 24


def size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self.first: int | None = None  # bytes done when this run began (a resumed upload starts midway)
        self.last_draw = 0.0
        self.logged_tenth = -1
        self.drawn = False

    def line(self, done: int, total: int | None) -> str:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = (done - (self.first or 0)) / elapsed
        if not total:
            return f"{self.label}: {size(done)} at {size(rate)}/s"
        fraction = min(done / total, 1.0)
        eta = (total - done) / rate if rate > 0 else None
        bar = "#" * int(fraction * WIDTH)
        return (
            f"{self.label} [{bar:<{WIDTH}}] {fraction:4.0%} {size(done)}/{size(total)} {size(rate)}/s "
            f"ETA {duration(eta) if eta is not None else '?'}"
        )

    def update(self, done: int, total: int | None) -> None:
        if self.first is None:
            self.first = done
            if done and total:
                log.info("%s: resuming at %s of %s.", self.label, size(done), size(total))
        if self.tty:
            now = self.clock()
            if now - self.last_draw >= 0.2 or (total and done >= total):
                self.stream.write("\r" + self.line(done, total) + "\033[K")
                self.stream.flush()
                self.last_draw = now
                self.drawn = True
            return
        tenth = int(10 * done / total) if total else -1
        if tenth > self.logged_tenth:
            self.logged_tenth = tenth
            log.info("%s", self.line(done, total))

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
