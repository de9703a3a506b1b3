from __future__ import annotations

from typing import Any

import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from media_pipeline import pipeline
from media_pipeline.models import RunStatus, Stage, StageRun
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, make_text_paper

pytestmark = pytest.mark.django_db(transaction=True)


def _take(queue: str) -> list[dict[str, Any]]:
    broker = get_broker(queue)
    tasks = []
    while batch := broker.dequeue():
        for task_id, payload in batch:
            tasks.append(SignedPackage.loads(payload))
            broker.acknowledge(task_id)
    return tasks


def test_stages_go_to_the_right_cluster_and_run_from_there(project: Project, settings: Any) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False
    paper = make_audio_paper(project, JFK)
    run = pipeline.pipeline_start(paper)
    assert run is not None and run.stage == Stage.TRANSCRIBE
    assert _take("default") == []
    [task] = _take("gpu")
    assert task["func"] == "media_pipeline.tasks.stage_run_task" and task["args"] == (run.pk,)
    assert StageRun.objects.get(pk=run.pk).status == RunStatus.PENDING


def test_a_cpu_stage_goes_to_the_default_cluster(project: Project, settings: Any) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False
    paper = make_text_paper(project, "Bees vote with their dances.")
    run = pipeline.pipeline_start(paper, until="narrate")
    assert run is not None
    [task] = _take("default")
    assert task["args"] == (run.pk,) and _take("gpu") == []
    # A redelivered message (the ORM broker redelivers unacknowledged tasks) does nothing twice.
    from media_pipeline.tasks import stage_run_task

    stage_run_task(run.pk)
    stage_run_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)


def test_the_reaper_is_scheduled_every_minute() -> None:
    # Transactional tests flush what migrations wrote, so run the migration's step again here.
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    import_module("media_pipeline.migrations.0002_reaper_schedule").add_schedule(apps, None)
    import_module("media_pipeline.migrations.0002_reaper_schedule").add_schedule(apps, None)  # idempotent
    schedule = Schedule.objects.get(name="papercast-reaper")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "media_pipeline.tasks.reap_task",
        Schedule.MINUTES,
        1,
        -1,
    )
