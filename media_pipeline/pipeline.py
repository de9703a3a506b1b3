"""Stage order, starting, claiming, finishing, retrying and reaping runs. The only writer of StageRun.status.

Flow: `pipeline_start` creates a pending StageRun for the first stage whose outputs are not current and
enqueues it when the transaction commits. A worker calls `stage_run_execute(run_id)`, which claims the run
with a conditional UPDATE (pending -> running; zero rows means another worker has it), runs the stage
outside any transaction, then in one transaction marks it succeeded and creates and enqueues the next
stage's run. Stages are idempotent, so a run delivered twice, or retried after a crash, does no work twice.

Errors: PermanentError fails the run at once (bad input: retrying cannot help). TransientError returns it
to pending for another attempt after a backoff, until PAPERCAST_MAX_ATTEMPTS. Anything else is a bug: the
run fails with the error's type and message (and the traceback in the log). Attempts are counted here at
claim time, because django-q2 never sees a worker that was killed; the reaper (run every minute) returns
runs whose worker stopped sending heartbeats to pending, or fails them when their attempts are spent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_q.exceptions import TimeoutException

from media_pipeline.backends.errors import BackendError, PermanentError, TransientError
from media_pipeline.backends.queue import waiting_runs
from media_pipeline.files import sweep_tempdirs
from media_pipeline.models import ACTIVE_STATUSES, RunStatus, Stage, StageRun
from media_pipeline.orphans import sweep_paper
from media_pipeline.runs import Superseded, attempt, gate_closed, stages_for
from media_pipeline.stages import (
    PipelineStage,
    RegeneratingStage,
    StageResult,
    chunk,
    extract,
    illustrate,
    narrate,
    render,
    script,
    summarize,
    transcribe,
)
from projects.models import Paper, SourceKind

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Every stage module satisfies the written contract; mypy checks each against it here.
_STAGES: tuple[PipelineStage, ...] = (extract, script, narrate, transcribe, chunk, summarize, illustrate, render)
STAGES: dict[str, PipelineStage] = {stage.name: stage for stage in _STAGES}
# Stages that load a large model; they go to the `gpu` cluster (a GPU machine runs its qcluster).
GPU_STAGES = frozenset({Stage.TRANSCRIBE})
PROGRESS_SECONDS = 2.0
# The reaper fails a running attempt still beating this long past its limit (django-q2 stops it at 60 s).
OVERDUE_GRACE = 120
# A pending run this old whose message no longer waits in its queue lost it with a dead cluster: sent again.
LOST_MESSAGE_SECONDS = 60


class PipelineError(Exception):
    """A request the pipeline refuses; the message is for the user."""


class PipelineBusy(PipelineError):
    pass


class PipelineGated(PipelineError):
    """The next stage waits for a person (the script's approval)."""


@dataclass(frozen=True)
class RunEvent:
    run_id: int
    paper_id: int
    stage: str
    status: str
    progress: int
    error: str = ""
    seconds: float | None = None


Listener = Callable[[RunEvent], None]
_listeners: ContextVar[tuple[Listener, ...]] = ContextVar("pipeline_listeners", default=())
_inline_queue: ContextVar[list[int] | None] = ContextVar("pipeline_inline_queue", default=None)


def queue_for(stage: str) -> str:
    if stage == Stage.ILLUSTRATE and settings.PAPERCAST_IMAGE_BACKEND == "diffusers":
        return "gpu"  # a local diffusers pipeline needs the GPU machine; image servers are called from anywhere
    return "gpu" if stage in GPU_STAGES else "default"


# --- Observing (progress bars) -------------------------------------------------------------------------


@contextlib.contextmanager
def observe(listener: Listener) -> Iterator[None]:
    """Call `listener` with every state change and progress step of runs executed in this context."""
    token = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(token)


def _emit(run: StageRun, status: str, progress: int, error: str = "", seconds: float | None = None) -> None:
    for listener in _listeners.get():
        listener(RunEvent(run.pk, run.paper_id, run.stage, status, progress, error, seconds))


# --- Starting ------------------------------------------------------------------------------------------


def _check_stage(paper: Paper, stage: str | None, what: str) -> Stage | None:
    if stage is None:
        return None
    stages = stages_for(paper)
    if stage not in stages:
        names = ", ".join(stages)
        raise PipelineError(f"{what} {stage!r} is not a stage of this paper; its stages are: {names}.")
    return Stage(stage)


def first_stale_stage(paper: Paper, stages: list[Stage]) -> Stage | None:
    """The first stage whose outputs were not made from its current inputs (None: all are current).

    A stage whose inputs cannot even be computed (bad input, missing upstream output) counts as stale:
    running it is what reports the problem.
    """
    for stage in stages:
        try:
            _, current = STAGES[stage].status(paper)
        except BackendError:
            return stage
        if not current:
            return stage
    return None


def pipeline_start(
    paper: Paper,
    *,
    from_stage: str | None = None,
    until: str | None = None,
    requested_by: User | None = None,
) -> StageRun | None:
    """Start (or resume) the paper's pipeline; returns the first run, or None when all is current.

    Without from_stage it resumes at the first stage that is not current, reusing everything before it.
    With from_stage, that stage is redone (forced) and the later ones run after it. Idempotent while a
    run is active: a second start raises PipelineBusy rather than starting a second pipeline.
    """
    # The caller's instance may be stale (outputs are written with conditional updates): read it afresh.
    paper = Paper.objects.select_related("project").get(pk=paper.pk)
    start = _check_stage(paper, from_stage, "from_stage")
    stop = _check_stage(paper, until, "until")
    stages = stages_for(paper)
    if stop is not None:
        stages = stages[: stages.index(stop) + 1]
    if start is not None:
        if start not in stages:
            raise PipelineError(f"from_stage {start!r} comes after until {stop!r}.")
        first: Stage | None = start
    else:
        first = first_stale_stage(paper, stages)
    if first is None:
        return None
    if first == Stage.NARRATE:
        waiting = gate_closed(paper)
        if waiting:
            raise PipelineGated(waiting)
    return _create_run(paper, first, force=start is not None, until=stop, requested_by=requested_by)


def regenerate_images(paper: Paper, scenes: list[int], *, count: int = 1, requested_by: User | None = None) -> StageRun:
    """Add `count` new candidates with fresh seeds to each given scene (0-based indexes); keeps the old ones.

    Runs the illustrate stage for those scenes only and stops there: the video is re-rendered when asked.
    """
    paper = Paper.objects.select_related("project").get(pk=paper.pk)
    if not scenes:
        raise PipelineError("Choose at least one scene to regenerate.")
    if not 1 <= count <= 8:
        raise PipelineError("Regenerate makes 1 to 8 new candidates at a time.")
    existing = set(paper.chunks.values_list("index", flat=True))
    unknown = sorted(i + 1 for i in set(scenes) - existing)
    if unknown:
        raise PipelineError(f"This paper has no scene {', '.join(map(str, unknown))}.")
    return _create_run(
        paper,
        Stage.ILLUSTRATE,
        force=False,
        until=Stage.ILLUSTRATE,
        requested_by=requested_by,
        options={"regenerate": sorted(set(scenes)), "count": count},
    )


def check_by_listening(paper: Paper, *, requested_by: User | None = None) -> StageRun:
    """Transcribe the paper's narration by recognition where forced alignment gave its times: what tells the
    sentences a listener may mishear ("hard to follow"). The stages after it run again when its timings
    change the scenes."""
    paper = Paper.objects.select_related("project").get(pk=paper.pk)
    if paper.source_kind == SourceKind.AUDIO:
        raise PipelineError("Uploaded audio is always transcribed by recognition; there is nothing to check.")
    if not paper.narration_audio:
        raise PipelineError("The paper has no narration yet: run the pipeline first.")
    return _create_run(
        paper, Stage.TRANSCRIBE, force=True, until=None, requested_by=requested_by, options={"recognise": True}
    )


def _create_run(
    paper: Paper,
    stage: Stage,
    *,
    force: bool,
    until: Stage | None,
    requested_by: User | None,
    options: dict[str, object] | None = None,
) -> StageRun:
    try:
        with transaction.atomic():
            run = StageRun.objects.create(
                paper=paper,
                stage=stage,
                status=RunStatus.PENDING,
                force=force,
                until_stage=until or "",
                requested_by=requested_by,
                heartbeat_at=timezone.now(),
                options=options or {},
            )
            _enqueue_on_commit(run.pk, stage)
    except IntegrityError:
        active = StageRun.objects.filter(paper=paper, status__in=ACTIVE_STATUSES).first()
        where = f"{active.stage} is {active.status}" if active else "a run is active"
        raise PipelineBusy(f"The pipeline of this paper is already running ({where}).") from None
    return run


# --- Queueing ------------------------------------------------------------------------------------------


def _enqueue_on_commit(run_id: int, stage: str) -> None:
    # After commit only: a worker must never see a run id whose row a rollback removes.
    transaction.on_commit(lambda: _dispatch(run_id, stage))


def _dispatch(run_id: int, stage: str) -> None:
    queue = _inline_queue.get()
    if queue is not None:
        queue.append(run_id)
        return
    if settings.PAPERCAST_QUEUE_SYNC:
        drain([run_id])
        return
    from django_q.tasks import async_task

    async_task(
        "media_pipeline.tasks.stage_run_task",
        run_id,
        cluster=queue_for(stage),
        q_options={"task_name": f"{stage}-{run_id}"},
    )


@contextlib.contextmanager
def inline() -> Iterator[list[int]]:
    """Within this block, runs are executed in this process (by `drain`) instead of by workers."""
    queue: list[int] = []
    token = _inline_queue.set(queue)
    try:
        yield queue
    finally:
        _inline_queue.reset(token)


def drain(run_ids: list[int] | None = None) -> None:
    """Execute queued runs in this process, in order, including the ones they enqueue, until none is left."""
    queue = _inline_queue.get()
    if queue is None:
        with inline() as fresh:
            fresh.extend(run_ids or [])
            drain()
        return
    queue.extend(run_ids or [])
    while queue:
        stage_run_execute(queue.pop(0))


# --- Executing -----------------------------------------------------------------------------------------


def stage_time_limit(stage: str) -> int:
    """Seconds one attempt of `stage` may run on the workers that execute it (this machine's settings)."""
    if queue_for(stage) == "gpu":
        return int(settings.PAPERCAST_GPU_STAGE_TIMEOUT)
    return int(settings.PAPERCAST_STAGE_TIMEOUT)


def _too_long(run: StageRun) -> str:
    setting = "PAPERCAST_GPU_STAGE_TIMEOUT" if queue_for(run.stage) == "gpu" else "PAPERCAST_STAGE_TIMEOUT"
    return (
        f"The {run.stage} stage ran longer than its limit of {run.time_limit} s and was stopped. For papers this "
        f"long, raise {setting} on the workers that run it (and restart them), then resume."
    )


class _Overdue(PermanentError):
    """The attempt ran past its recorded time limit."""


def stage_run_claim(run_id: int) -> bool:
    """pending -> running, counting the attempt and recording how long it may run (this worker's limit).
    False when the run is not pending (someone has it)."""
    stage = StageRun.objects.filter(id=run_id).values_list("stage", flat=True).first()
    if stage is None:
        return False
    now = timezone.now()
    return bool(
        StageRun.objects.filter(id=run_id, status=RunStatus.PENDING).update(
            status=RunStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            progress=0,
            time_limit=stage_time_limit(stage),
        )
    )


def _this_attempt(run: StageRun) -> QuerySet[StageRun]:
    return StageRun.objects.filter(id=run.pk, status=RunStatus.RUNNING, attempts=run.attempts)


def _progress_writer(run: StageRun, beat: _Heartbeat) -> Callable[[float], None]:
    last = [0.0, -1]
    deadline = time.monotonic() + (run.time_limit or stage_time_limit(run.stage))

    def lost() -> Superseded:
        return Superseded(f"Run {run.pk} changed hands while attempt {run.attempts} ran; this attempt stops.")

    def write(fraction: float) -> None:
        if beat.lost.is_set():
            raise lost()
        if time.monotonic() > deadline:
            raise _Overdue(_too_long(run))  # django-q2 stops a stage that reports nothing (TimeoutException)
        percent = int(min(max(fraction, 0.0), 1.0) * 99)  # 100 is for 'succeeded' only
        now = time.monotonic()
        if percent == last[1] or (now - last[0] < PROGRESS_SECONDS and percent - last[1] < 5):
            return
        last[0], last[1] = now, percent
        if not _this_attempt(run).update(progress=percent, heartbeat_at=timezone.now()):
            beat.lost.set()
            raise lost()
        _emit(run, RunStatus.RUNNING, percent)

    return write


class _Heartbeat:
    """Beats for a running attempt every PAPERCAST_HEARTBEAT_SECONDS from a thread of its own, whatever the
    stage's progress, so the reaper can tell a dead worker (no beat for PAPERCAST_HEARTBEAT_TIMEOUT) from a
    long stage. When the run is no longer this attempt's, `lost` is set and the stage stops at its next
    progress report (Superseded) instead of writing outputs another attempt owns."""

    def __init__(self, run: StageRun) -> None:
        self.run = run
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run.pk}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        # The beats go through the thread's own connection, which sees committed rows only: a run executed
        # inside a transaction (a test's, or a caller's) keeps the progress writer's beats alone.
        if not connection.in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.PAPERCAST_HEARTBEAT_SECONDS):
                try:
                    if not _this_attempt(self.run).update(heartbeat_at=timezone.now()):
                        self.lost.set()
                        return
                except DatabaseError as exc:  # the next beat tries again on a new connection
                    logger.warning("Heartbeat of run %s failed: %s", self.run.pk, exc)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection


def stage_run_execute(run_id: int) -> None:
    """Claim and run one StageRun; then succeed (and enqueue the next stage), retry or fail it."""
    if not stage_run_claim(run_id):
        logger.info("Run %s is not pending; another worker has it or it has finished.", run_id)
        return
    run = StageRun.objects.select_related("paper__project").get(pk=run_id)
    _swept()  # what an earlier attempt killed on this machine left in the temp dir
    if run.attempts > 1 or run.stage == Stage.EXTRACT:  # and what dead attempts stored and never pointed at
        _swept_files(run.paper)
    _emit(run, RunStatus.RUNNING, 0)
    stage = STAGES[run.stage]
    started = time.monotonic()
    try:
        with _Heartbeat(run) as beat, attempt(run.pk, run.attempts):
            result = _run_stage(stage, run, beat)
    except Superseded as exc:
        logger.warning("%s", exc)  # the newer attempt decides what happens to the run
    except PermanentError as exc:
        _recorded(_fail, run, str(exc))
    except TransientError as exc:
        _recorded(_retry_or_fail, run, str(exc))
    except Paper.DoesNotExist:
        _recorded(_fail, run, "The paper was deleted.")
    except TimeoutException:
        # django-q2's timeout is a SystemExit, so `except Exception` would let it pass: the run would wait for
        # the reaper and be blamed on a dead worker. Running too long is not a fault a retry mends.
        _recorded(_fail, run, _too_long(run))
        raise  # django-q2 replaces the worker process, as it does after every timeout
    except (OperationalError, InterfaceError) as exc:
        # The database went away under the stage (a restart, a failover, a killed backend): the failure is
        # recorded on a fresh connection, and the run is retried like any outside service that was down.
        logger.warning("Stage %s of paper %s lost its database connection: %s", run.stage, run.paper_id, exc)
        _recorded(_retry_or_fail, run, f"The database connection was lost during the {run.stage} stage ({exc}).")
    except Exception as exc:
        logger.exception("Stage %s of paper %s failed unexpectedly", run.stage, run.paper_id)
        message = f"Unexpected error in the {run.stage} stage ({type(exc).__name__}: {exc}). See the worker log."
        _recorded(_fail, run, message)
    else:
        _succeed(run, result, time.monotonic() - started)


def _recorded(record: Callable[[StageRun, str], None], run: StageRun, error: str) -> None:
    """Record a failure even when the stage's database connection died with it: the connection is dropped
    and the write made once more on a new one (Django reconnects on the next query)."""
    try:
        record(run, error)
    except DatabaseError as exc:
        logger.warning("Recording run %s failed on a dead connection (%s); reconnecting.", run.pk, exc)
        connection.close()
        record(run, error)


def _swept() -> None:
    for path in sweep_tempdirs():
        logger.info("Removed %s, left by a papercast process that is gone.", path)


def _swept_files(paper: Paper) -> None:
    try:
        sweep_paper(paper)
    except Exception:  # a storage hiccup must not fail the stage; the next attempt or the reaper sweeps again
        logger.exception("Sweeping the stored leftovers of paper %s failed", paper.pk)


def _run_stage(stage: PipelineStage, run: StageRun, beat: _Heartbeat) -> StageResult:
    progress = _progress_writer(run, beat)
    if run.options.get("recognise"):
        return transcribe.run(run.paper, force=True, progress=progress, recognise=True)
    regenerate = run.options.get("regenerate")
    if not regenerate:
        return stage.run(run.paper, force=run.force, progress=progress)
    if not isinstance(stage, RegeneratingStage):
        raise PermanentError(f"The {stage.name} stage cannot regenerate scenes.")
    return stage.regenerate(run.paper, [int(i) for i in regenerate], int(run.options.get("count", 1)), progress)


def _succeed(run: StageRun, result: StageResult, seconds: float) -> None:
    metrics = {**result.metrics, "seconds": round(seconds, 3)}
    with transaction.atomic():
        updated = StageRun.objects.filter(id=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
            status=RunStatus.SUCCEEDED,
            progress=100,
            finished_at=timezone.now(),
            input_fingerprint=result.fingerprint,
            reused=result.reused,
            metrics=metrics,
            error="",
        )
        if not updated:
            # The reaper gave this run to another worker meanwhile; that attempt decides what happens next.
            logger.warning("Run %s changed hands while it ran; its result is left to the newer attempt.", run.pk)
            return
        next_stage = _next_stage(run)
        if next_stage is not None:
            nxt = StageRun.objects.create(
                paper_id=run.paper_id,
                stage=next_stage,
                status=RunStatus.PENDING,
                until_stage=run.until_stage,
                requested_by_id=run.requested_by_id,
                heartbeat_at=timezone.now(),
            )
            _enqueue_on_commit(nxt.pk, next_stage)
    _emit(run, RunStatus.SUCCEEDED, 100, seconds=seconds)


def _next_stage(run: StageRun) -> Stage | None:
    if run.until_stage and run.stage == run.until_stage:
        return None
    stages = stages_for(run.paper)
    position = stages.index(Stage(run.stage))
    following = stages[position + 1] if position + 1 < len(stages) else None
    if following == Stage.NARRATE and gate_closed(run.paper):
        return None  # the pipeline resumes when an editor approves the script
    return following


def _fail(run: StageRun, error: str) -> None:
    StageRun.objects.filter(id=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
        status=RunStatus.FAILED, error=error[:5000], finished_at=timezone.now()
    )
    logger.warning("Stage %s of paper %s failed: %s", run.stage, run.paper_id, error)
    _emit(run, RunStatus.FAILED, run.progress, error)


def _retry_or_fail(run: StageRun, error: str) -> None:
    if run.attempts >= settings.PAPERCAST_MAX_ATTEMPTS:
        _fail(run, f"{error} (gave up after {run.attempts} attempts)")
        return
    delay = settings.PAPERCAST_RETRY_BACKOFF * (2 ** (run.attempts - 1))
    logger.info("Stage %s of paper %s will be retried in %.0f s: %s", run.stage, run.paper_id, delay, error)
    # The worker waits out the backoff itself: django-q2 has no delayed delivery on every broker.
    time.sleep(min(delay, 300))
    with transaction.atomic():
        updated = StageRun.objects.filter(id=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
            status=RunStatus.PENDING, error=error[:5000], heartbeat_at=timezone.now()
        )
        if updated:
            _enqueue_on_commit(run.pk, run.stage)
    _emit(run, RunStatus.PENDING, run.progress, error)


# --- Reaping -------------------------------------------------------------------------------------------


def pipeline_reap() -> int:
    """Recover runs whose worker died (no heartbeat for PAPERCAST_HEARTBEAT_TIMEOUT) or whose message was lost
    (pending for PAPERCAST_STAGE_TIMEOUT).

    Stale running runs go back to pending (or fail when their attempts are spent); stale pending runs are
    enqueued again. Safe to run anywhere, any number of times at once: every change is conditional on the
    state it read. Returns how many runs it touched.
    """
    _swept()
    now = timezone.now()
    silent = now - timedelta(seconds=settings.PAPERCAST_HEARTBEAT_TIMEOUT)  # a running attempt beats
    queued = now - timedelta(seconds=settings.PAPERCAST_STAGE_TIMEOUT)  # a pending run may wait behind others
    touched = 0
    stale = StageRun.objects.filter(
        Q(status=RunStatus.RUNNING, heartbeat_at__lt=silent)
        | Q(status=RunStatus.PENDING, heartbeat_at__lt=queued)
        | Q(status__in=ACTIVE_STATUSES, heartbeat_at__isnull=True)
    ).select_related("paper")
    touched += _fail_overdue(now)
    touched += _resend_lost(now)
    for run in stale:
        same = StageRun.objects.filter(
            id=run.pk, status=run.status, heartbeat_at=run.heartbeat_at, attempts=run.attempts
        )
        with transaction.atomic():
            if run.status == RunStatus.RUNNING and run.attempts >= settings.PAPERCAST_MAX_ATTEMPTS:
                failed = same.update(
                    status=RunStatus.FAILED,
                    finished_at=timezone.now(),
                    error=(
                        f"The worker stopped responding (no heartbeat for {settings.PAPERCAST_HEARTBEAT_TIMEOUT:.0f} "
                        f"s) on each of {run.attempts} attempts. Check the worker's log and memory."
                    ),
                )
                touched += failed
                if failed:
                    transaction.on_commit(functools.partial(_swept_files, run.paper))
                continue
            if same.update(status=RunStatus.PENDING, heartbeat_at=timezone.now()):
                touched += 1
                _enqueue_on_commit(run.pk, run.stage)
    return touched


def _fail_overdue(now: datetime) -> int:
    """A running attempt still beating long after its recorded limit (its worker could not stop it: a stage
    run in the web process, a worker without django-q2's timeout) is failed; fencing keeps its outputs out."""
    grace = timedelta(seconds=OVERDUE_GRACE + settings.PAPERCAST_HEARTBEAT_TIMEOUT)
    touched = 0
    running = StageRun.objects.filter(status=RunStatus.RUNNING, time_limit__isnull=False, started_at__isnull=False)
    for run in running.only("id", "stage", "paper_id", "attempts", "started_at", "time_limit", "progress"):
        if run.started_at is None or run.time_limit is None:
            continue
        if run.started_at + timedelta(seconds=run.time_limit) + grace > now:
            continue
        if StageRun.objects.filter(id=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
            status=RunStatus.FAILED, finished_at=now, error=_too_long(run)
        ):
            touched += 1
            _emit(run, RunStatus.FAILED, run.progress, _too_long(run))
    return touched


def _resend_lost(now: datetime) -> int:
    """Send again the messages of pending runs that no longer wait in their queue: a cluster fetched them and
    died (on Redis they die with it), so no worker will ever run them. A message a live cluster holds is sent
    once more at worst; the claim lets only one run."""
    if settings.PAPERCAST_QUEUE_SYNC:
        return 0
    quiet = now - timedelta(seconds=LOST_MESSAGE_SECONDS)
    pending = StageRun.objects.filter(status=RunStatus.PENDING, heartbeat_at__lt=quiet).only(
        "id", "stage", "heartbeat_at"
    )
    by_cluster: dict[str, list[StageRun]] = {}
    for run in pending:
        by_cluster.setdefault(queue_for(run.stage), []).append(run)
    touched = 0
    for cluster, runs in by_cluster.items():
        try:
            waiting = waiting_runs(cluster)
        except Exception:  # the broker is down: the slow rule (pending for PAPERCAST_STAGE_TIMEOUT) still holds
            logger.exception("Cannot look into queue %s", cluster)
            continue
        if waiting is None:
            continue
        for run in runs:
            if run.pk in waiting:
                continue
            with transaction.atomic():
                if StageRun.objects.filter(id=run.pk, status=RunStatus.PENDING, heartbeat_at=run.heartbeat_at).update(
                    heartbeat_at=timezone.now()
                ):
                    logger.warning("The message of run %s (%s) was lost with its cluster; sent again.", run.pk, cluster)
                    touched += 1
                    _enqueue_on_commit(run.pk, run.stage)
    return touched
