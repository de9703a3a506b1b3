"""django-q2 entry points: ids in, one pipeline call out. Nothing else belongs here."""

from __future__ import annotations

from media_pipeline import pipeline


def stage_run_task(run_id: int) -> None:
    pipeline.stage_run_execute(run_id)


def reap_task() -> int:
    return pipeline.pipeline_reap()
