"""What everyone reads about runs: the stage order, a paper's stages, the newest run of each, the paper's
derived status and the script-review gate.

Below both pipeline.py (which writes runs) and selectors.py (which reads outputs): it imports models only,
so the pages, the API, the stages and the pipeline can all read it without importing one another.
"""

from __future__ import annotations

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
