"""Running a paper's pipeline from the command line, with a progress display on stderr."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from media_pipeline import pipeline, runs
from media_pipeline.models import ACTIVE_STATUSES, RunStatus, StageRun
from projects.models import Paper

if TYPE_CHECKING:
    from django.contrib.auth.models import User

BAR_WIDTH = 28


class ProgressDisplay:
    """One line per stage: a bar redrawn in place on a terminal, plain start/finish lines elsewhere."""

    def __init__(self, stream: TextIO, stages: list[str]) -> None:
        self.stream = stream
        self.stages = stages
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._open: str | None = None
        self._started: dict[int, float] = {}

    def __call__(self, event: pipeline.RunEvent) -> None:
        position = self.stages.index(event.stage) + 1 if event.stage in self.stages else 0
        label = f"[{position}/{len(self.stages)}] {event.stage:<10}"
        if event.status == RunStatus.RUNNING:
            self._started.setdefault(event.run_id, time.monotonic())
            if self.tty:
                filled = BAR_WIDTH * event.progress // 100
                bar = "#" * filled + "-" * (BAR_WIDTH - filled)
                self.stream.write(f"\r{label} [{bar}] {event.progress:3d}%")
                self.stream.flush()
                self._open = event.stage
            elif event.progress == 0:
                self.stream.write(f"{label} started\n")
            return
        seconds = event.seconds
        if seconds is None:
            seconds = time.monotonic() - self._started.get(event.run_id, time.monotonic())
        if self.tty and self._open:
            self.stream.write("\r" + " " * (len(label) + BAR_WIDTH + 10) + "\r")
            self._open = None
        if event.status == RunStatus.SUCCEEDED:
            self.stream.write(f"{label} done in {seconds:.1f} s\n")
        elif event.status == RunStatus.FAILED:
            self.stream.write(f"{label} FAILED: {event.error}\n")
        elif event.status == RunStatus.PENDING and event.error:
            self.stream.write(f"{label} will retry: {event.error}\n")
        self.stream.flush()


@dataclass
class Outcome:
    started: bool
    failures: list[StageRun] = field(default_factory=list)


def run_pipeline(
    paper: Paper,
    *,
    stream: TextIO,
    from_stage: str | None = None,
    until: str | None = None,
    enqueue: bool = False,
    poll_seconds: float = 1.0,
    requested_by: User | None = None,
) -> Outcome:
    """Start the pipeline and wait for it: inline in this process, or (enqueue=True) on the workers."""
    since = timezone.now()
    display = ProgressDisplay(stream, [str(s) for s in runs.stages_for(paper)])
    if enqueue:
        first = pipeline.pipeline_start(paper, from_stage=from_stage, until=until, requested_by=requested_by)
        if first is None:
            return Outcome(started=False)
        _follow(paper, since, display, poll_seconds)
    else:
        with pipeline.observe(display), pipeline.inline():
            first = pipeline.pipeline_start(paper, from_stage=from_stage, until=until, requested_by=requested_by)
            if first is None:
                return Outcome(started=False)
            pipeline.drain()
    failures = list(
        StageRun.objects.filter(paper=paper, created_at__gte=since, status=RunStatus.FAILED).order_by("created_at")
    )
    return Outcome(started=True, failures=failures)


RECONNECT_SECONDS = 300  # how long `makevideo --enqueue` waits for a lost database before giving up


def _follow(paper: Paper, since: object, display: ProgressDisplay, poll_seconds: float) -> None:
    """Poll the runs the workers execute, showing their progress, until none is active."""
    seen: dict[int, tuple[str, int]] = {}
    lost_since: float | None = None
    while True:
        try:
            runs = list(StageRun.objects.filter(paper=paper, created_at__gte=since).order_by("created_at"))
        except (OperationalError, InterfaceError) as exc:
            # The database restarted or failed over: the workers carry on; wait for it (a few minutes at most).
            connection.close()
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > RECONNECT_SECONDS:
                raise CommandError(f"The database has been unreachable for {RECONNECT_SECONDS} s: {exc}") from exc
            time.sleep(min(poll_seconds * 2, 5.0))
            continue
        lost_since = None
        for run in runs:
            state = (str(run.status), run.progress)
            if seen.get(run.pk) != state:
                seen[run.pk] = state
                display(
                    pipeline.RunEvent(run.pk, run.paper_id, run.stage, run.status, run.progress, run.error, run.seconds)
                )
        if runs and not any(r.status in ACTIVE_STATUSES for r in runs):
            return
        time.sleep(poll_seconds)
