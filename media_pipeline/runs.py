"""What everyone reads about runs: the stage order, a paper's stages, the newest run of each, the paper's
derived status and the script-review gate.

Below both pipeline.py (which writes runs) and selectors.py (which reads outputs): it imports models only,
so the pages, the API, the stages and the pipeline can all read it without importing one another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from media_pipeline.models import RunStatus, Script, Stage, StageRun
from projects.models import DOCUMENT_KINDS, Paper, SourceKind

STAGE_ORDER: tuple[Stage, ...] = (
    Stage.EXTRACT,
    Stage.SCRIPT,
    Stage.NARRATE,
    Stage.TRANSCRIBE,
    Stage.CHUNK,
    Stage.SUMMARIZE,
    Stage.ILLUSTRATE,
    Stage.RENDER,
)


def stages_for(paper: Paper) -> list[Stage]:
    """The stages a paper goes through: audio papers have their narration already; text papers are their
    own script; papers from a PDF or arXiv are read and scripted first."""
    if paper.source_kind == SourceKind.AUDIO:
        return list(STAGE_ORDER[STAGE_ORDER.index(Stage.TRANSCRIBE) :])
    if paper.source_kind in DOCUMENT_KINDS:
        return list(STAGE_ORDER)
    return list(STAGE_ORDER[STAGE_ORDER.index(Stage.NARRATE) :])


def gate_closed(paper: Paper) -> str | None:
    """Why narration must wait (the project reviews scripts and this one is not approved), or None.

    The one place the script-review rule is written: the pipeline asks it before it queues narrate, the
    narrate stage before it speaks, and the paper page and makevideo to say why the pipeline stopped.
    """
    if paper.source_kind not in DOCUMENT_KINDS or not paper.project.script_review:
        return None
    newest = Script.objects.filter(paper=paper).order_by("-created_at", "-id").values_list("approved_at").first()
    if newest is not None and newest[0] is None:
        return (
            "The script waits for an editor's approval before it is narrated (the project reviews scripts): "
            "read it on the paper's page, edit it if needed, and approve it."
        )
    return None


def latest_runs(paper: Paper) -> dict[str, StageRun]:
    """The newest run of each stage; the paper's pipeline status is derived from these.

    Uses the runs prefetched as `runs_newest_first` (the paper changelist and the API prefetch them) when
    they are there.
    """
    runs = getattr(paper, "runs_newest_first", None)
    if runs is None:
        runs = StageRun.objects.filter(paper=paper).order_by("-created_at", "-id")
    latest: dict[str, StageRun] = {}
    for run in runs:
        latest.setdefault(run.stage, run)
    return latest


def paper_status(paper: Paper) -> str:
    """running | failed | succeeded | pending | partial | new, derived from the newest run of each stage."""
    runs = latest_runs(paper)
    if not runs:
        return "new"
    statuses = {r.status for r in runs.values()}
    for status in (RunStatus.RUNNING, RunStatus.PENDING, RunStatus.FAILED):
        if status in statuses:
            return str(status)
    return "succeeded" if Stage.RENDER in runs else "partial"


# --- Fencing: outputs only from the attempt that holds its run ------------------------------------------------


class Superseded(Exception):
    """This attempt no longer holds its run: the reaper gave the run to another attempt meanwhile."""


_attempt: ContextVar[tuple[int, int] | None] = ContextVar("papercast_attempt", default=None)


@contextlib.contextmanager
def attempt(run_id: int, number: int) -> Iterator[None]:
    """Mark the code inside as attempt `number` of run `run_id` (the pipeline wraps each stage in this)."""
    token = _attempt.set((run_id, number))
    try:
        yield
    finally:
        _attempt.reset(token)


def fence() -> None:
    """Called first inside a stage's output transaction: the run must still be this attempt's, and its row
    stays locked until the outputs commit (the reaper's conditional update waits behind it). Raises
    Superseded otherwise, so a reaped attempt that wakes up writes nothing. Outside a pipeline run (a test,
    a shell) it does nothing."""
    current = _attempt.get()
    if current is None:
        return
    run_id, number = current
    held = StageRun.objects.select_for_update().filter(id=run_id, status=RunStatus.RUNNING, attempts=number)
    if not held.exists():
        raise Superseded(f"Run {run_id} was given to another attempt while attempt {number} ran; it writes nothing.")


def attempt_mark() -> str:
    """The mark of the attempt running here, for the names of the files it stores ("" outside a run): a file
    an attempt stored and never pointed a row at can then be found and removed after the attempt died."""
    current = _attempt.get()
    return "" if current is None else f"-r{current[0]}a{current[1]}"
