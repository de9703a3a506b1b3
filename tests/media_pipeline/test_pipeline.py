from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from media_pipeline import pipeline, runs
from media_pipeline.backends import whisper
from media_pipeline.backends.errors import TransientError
from media_pipeline.backends.tts.piper import PiperSpeaker
from media_pipeline.models import RunStatus, Stage, StageRun, Transcription, Video
from media_pipeline.stages import summarize
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, make_text_paper, run_inline

pytestmark = pytest.mark.django_db(transaction=True)

SHORT_TEXT = "Scouts search for a new home. The swarm follows the best dancer."


def test_it_lets_only_one_worker_claim_a_run(project: Project) -> None:
    paper = make_text_paper(project, SHORT_TEXT)
    run = StageRun.objects.create(paper=paper, stage=Stage.NARRATE)
    assert pipeline.stage_run_claim(run.pk) is True
    assert pipeline.stage_run_claim(run.pk) is False
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.RUNNING, 1)


def test_it_enqueues_nothing_when_the_transaction_rolls_back(project: Project) -> None:
    paper = make_text_paper(project, SHORT_TEXT)
    with pipeline.inline() as queue:
        with pytest.raises(RuntimeError), transaction.atomic():
            pipeline.pipeline_start(paper)
            assert queue == []  # not before commit either
            raise RuntimeError("roll back")
        assert queue == []
        assert not StageRun.objects.filter(paper=paper).exists()
        run = pipeline.pipeline_start(paper)
        assert run is not None and queue == [run.pk]


def test_it_refuses_a_second_pipeline_while_one_is_active(project: Project) -> None:
    paper = make_text_paper(project, SHORT_TEXT)
    with pipeline.inline():
        pipeline.pipeline_start(paper)
        with pytest.raises(pipeline.PipelineBusy, match="already running"):
            pipeline.pipeline_start(paper)
    assert StageRun.objects.filter(paper=paper).count() == 1


def test_it_rejects_stages_a_paper_does_not_have(project: Project) -> None:
    paper = make_audio_paper(project, JFK)
    with pytest.raises(pipeline.PipelineError, match="not a stage of this paper"):
        pipeline.pipeline_start(paper, from_stage="narrate")


def test_it_retries_transient_errors_then_fails_with_the_message(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.PAPERCAST_MAX_ATTEMPTS = 3
    paper = make_text_paper(project, SHORT_TEXT)
    calls = []

    def flaky(paper: Any, *, force: bool, progress: Any) -> Any:
        calls.append(1)
        raise TransientError("The server at http://127.0.0.1:9 did not answer.")

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", flaky)
    run_inline(paper, until="narrate")
    run = StageRun.objects.get(paper=paper)
    assert len(calls) == 3
    assert (run.status, run.attempts) == (RunStatus.FAILED, 3)
    assert "did not answer" in run.error and "3 attempts" in run.error


def test_it_fails_unexpected_errors_without_retrying(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    paper = make_text_paper(project, SHORT_TEXT)

    def broken(paper: Any, *, force: bool, progress: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", broken)
    run_inline(paper)
    run = StageRun.objects.get(paper=paper)
    assert (run.status, run.attempts) == (RunStatus.FAILED, 1)
    assert "ZeroDivisionError" in run.error


def test_the_reaper_returns_a_dead_workers_run_and_fails_it_when_attempts_are_spent(
    project: Project, settings: Any
) -> None:
    settings.PAPERCAST_MAX_ATTEMPTS = 2
    paper = make_text_paper(project, SHORT_TEXT)
    long_ago = timezone.now() - timedelta(seconds=settings.PAPERCAST_HEARTBEAT_TIMEOUT + 5)
    run = StageRun.objects.create(
        paper=paper, stage=Stage.NARRATE, status=RunStatus.RUNNING, attempts=1, heartbeat_at=long_ago
    )
    with pipeline.inline() as queue:
        assert pipeline.pipeline_reap() == 1
        run.refresh_from_db()
        assert run.status == RunStatus.PENDING and queue == [run.pk]
        # A fresh heartbeat is left alone.
        assert pipeline.pipeline_reap() == 0
    StageRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=2, heartbeat_at=long_ago)
    assert pipeline.pipeline_reap() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped responding" in run.error


@pytest.mark.slow
def test_it_resumes_after_a_failed_stage_reusing_earlier_outputs(
    project: Project, settings: Any, count_calls: Any
) -> None:
    paper = make_text_paper(project, SHORT_TEXT)
    settings.PAPERCAST_FONT = "/nonexistent/font.ttf"  # illustrate fails: a bad setting, fixed below
    run_inline(paper)
    failed = StageRun.objects.get(paper=paper, stage=Stage.ILLUSTRATE)
    assert failed.status == RunStatus.FAILED and "could not be loaded" in failed.error
    assert failed.attempts == 1  # a permanent error is not retried

    counts = count_calls("whisper", whisper, "transcribe")
    count_calls("tts", PiperSpeaker, "speak")
    count_calls("llm", summarize.get_summarizer().__class__, "summarize")
    settings.PAPERCAST_FONT = None
    run_inline(paper)
    assert counts["whisper"] == 0 and counts["tts"] == 0 and counts["llm"] == 0
    assert Transcription.objects.filter(paper=paper).count() == 1
    assert Video.objects.filter(paper=paper).count() == 1
    assert runs.paper_status(paper) == "succeeded"
    resumed = StageRun.objects.filter(paper=paper, stage=Stage.ILLUSTRATE).order_by("-created_at").first()
    assert resumed is not None and resumed.status == RunStatus.SUCCEEDED and not resumed.reused

    # All current: a start does nothing at all.
    assert pipeline.pipeline_start(paper) is None
    # --from render redoes the render only (same inputs, forced), reusing everything upstream.
    run_inline(paper, from_stage="render")
    assert Video.objects.filter(paper=paper).count() == 2
    assert counts["whisper"] == 0 and counts["tts"] == 0


def test_a_stage_that_runs_too_long_fails_at_once_saying_so(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """django-q2's timeout is a SystemExit: it once slipped past `except Exception`, left the run "running" for
    the reaper, and was retried three times as a dead worker."""
    from django_q.exceptions import TimeoutException

    settings.PAPERCAST_STAGE_TIMEOUT = 90
    paper = make_text_paper(project, SHORT_TEXT)

    def endless(paper: Any, *, force: bool, progress: Any) -> Any:
        raise TimeoutException("Task exceeded maximum timeout value (90 seconds)")

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", endless)
    with pytest.raises(TimeoutException):  # the worker process still ends, as django-q2 wants
        run_inline(paper, until="narrate")
    run = StageRun.objects.get(paper=paper)
    assert (run.status, run.attempts) == (RunStatus.FAILED, 1)
    assert "ran longer than its limit of 90 s" in run.error and "PAPERCAST_STAGE_TIMEOUT" in run.error


def test_each_attempt_records_its_workers_limit_and_stops_when_it_runs_past_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The limit is the one of the cluster that runs the stage (gpu stages have their own), recorded on the
    run when it is claimed, and enforced in the worker: no retry, and a message saying what to raise."""
    import time

    settings.PAPERCAST_STAGE_TIMEOUT = 1
    settings.PAPERCAST_GPU_STAGE_TIMEOUT = 7200
    assert (pipeline.stage_time_limit(Stage.NARRATE), pipeline.stage_time_limit(Stage.TRANSCRIBE)) == (1, 7200)
    paper = make_text_paper(project, SHORT_TEXT)
    reports: list[float] = []

    def slow(paper: Any, *, force: bool, progress: Any) -> Any:
        progress(0.1)
        reports.append(0.1)
        time.sleep(1.2)
        progress(0.5)  # past the limit: the attempt stops here
        reports.append(0.5)
        raise AssertionError("unreachable")

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", slow)
    run_inline(paper, until="narrate")
    run = StageRun.objects.get(paper=paper)
    assert reports == [0.1]
    assert (run.status, run.attempts, run.time_limit) == (RunStatus.FAILED, 1, 1)
    assert "The narrate stage ran longer than its limit of 1 s" in run.error
    assert "raise PAPERCAST_STAGE_TIMEOUT on the workers" in run.error

    audio = make_audio_paper(project, JFK)
    monkeypatch.setattr(pipeline.STAGES[Stage.TRANSCRIBE], "run", slow)
    settings.PAPERCAST_GPU_STAGE_TIMEOUT = 1
    run_inline(audio, until="transcribe")
    run = StageRun.objects.get(paper=audio)
    assert "PAPERCAST_GPU_STAGE_TIMEOUT" in run.error and run.time_limit == 1


def test_the_reaper_fails_a_live_attempt_long_past_its_recorded_limit_by_that_limit(
    project: Project, settings: Any
) -> None:
    """A worker that cannot stop its stage still beats; the reaper judges it by the limit recorded on the
    run (its own worker's), not by the reaper's machine's setting."""
    settings.PAPERCAST_STAGE_TIMEOUT = 60  # the reaper's machine: far less than the runs' own limits
    paper, other = make_text_paper(project, SHORT_TEXT), make_text_paper(project, SHORT_TEXT)
    now = timezone.now()
    stuck = StageRun.objects.create(
        paper=paper, stage=Stage.NARRATE, status=RunStatus.RUNNING, attempts=1, time_limit=600,
        started_at=now - timedelta(seconds=600 + pipeline.OVERDUE_GRACE + 40), heartbeat_at=now,
    )  # fmt: skip
    long = StageRun.objects.create(
        paper=other, stage=Stage.NARRATE, status=RunStatus.RUNNING, attempts=1, time_limit=7200,
        started_at=now - timedelta(seconds=3600), heartbeat_at=now,
    )  # fmt: skip
    assert pipeline.pipeline_reap() == 1
    stuck.refresh_from_db()
    long.refresh_from_db()
    assert stuck.status == RunStatus.FAILED and "ran longer than its limit of 600 s" in stuck.error
    assert long.status == RunStatus.RUNNING  # an hour into its two: fine


def test_a_lost_database_connection_is_recorded_on_a_new_one_not_left_running(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A restart, a failover or a killed backend under a running stage: the run is retried, then failed with
    the reason, at once; never left "running" for the reaper."""
    from django.db import OperationalError, connection

    settings.PAPERCAST_MAX_ATTEMPTS = 2
    settings.PAPERCAST_RETRY_BACKOFF = 0.0
    paper = make_text_paper(project, SHORT_TEXT)
    calls = []

    def cut_off(paper: Any, *, force: bool, progress: Any) -> Any:
        calls.append(1)
        connection.ensure_connection()
        assert connection.connection is not None
        connection.connection.close()  # the database side goes away: Django still holds the dead handle
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", cut_off)
    run_inline(paper, until="narrate")
    run = StageRun.objects.get(paper=paper)
    assert len(calls) == 2
    assert (run.status, run.attempts) == (RunStatus.FAILED, 2)
    assert "database connection was lost during the narrate stage" in run.error and "2 attempts" in run.error


def test_a_live_worker_beats_so_a_long_stage_is_never_reaped_and_a_silent_one_is_within_the_heartbeat_timeout(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Liveness apart from duration: a stage that reports no progress for longer than the heartbeat timeout is
    still alive; a run whose worker was killed is reaped after the heartbeat timeout, not the stage timeout."""
    import threading
    import time

    settings.PAPERCAST_HEARTBEAT_SECONDS = 0.2
    settings.PAPERCAST_HEARTBEAT_TIMEOUT = 1.0
    settings.PAPERCAST_STAGE_TIMEOUT = 3600
    paper = make_text_paper(project, SHORT_TEXT)
    reaped: list[int] = []

    def quiet(paper: Any, *, force: bool, progress: Any) -> Any:
        # No progress for 2.5 s (2.5 heartbeat timeouts) while a reaper runs elsewhere every 0.3 s.
        def reaper() -> None:
            from django.db import connection

            try:
                for _ in range(8):
                    time.sleep(0.3)
                    reaped.append(pipeline.pipeline_reap())
            finally:
                connection.close()

        thread = threading.Thread(target=reaper)
        thread.start()
        thread.join()
        raise TransientError("done waiting")  # ends the attempt without outputs

    settings.PAPERCAST_MAX_ATTEMPTS = 1
    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", quiet)
    run_inline(paper, until="narrate")
    assert reaped == [0] * 8  # the beating run was never taken for a dead one
    run = StageRun.objects.get(paper=paper)
    assert (run.status, run.attempts) == (RunStatus.FAILED, 1) and "done waiting" in run.error

    # A worker killed mid-stage: its last beat is 2 s old, far less than the stage timeout: it is reaped.
    settings.PAPERCAST_MAX_ATTEMPTS = 3
    dead = StageRun.objects.create(
        paper=paper, stage=Stage.NARRATE, status=RunStatus.RUNNING, attempts=1,
        heartbeat_at=timezone.now() - timedelta(seconds=2),
    )  # fmt: skip
    with pipeline.inline() as queue:
        assert pipeline.pipeline_reap() == 1 and queue == [dead.pk]


def test_an_attempt_that_lost_its_run_stops_and_writes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A reaped attempt that is still alive must not write outputs the newer attempt owns."""
    settings.PAPERCAST_MAX_ATTEMPTS = 3
    paper = make_text_paper(project, SHORT_TEXT)
    wrote: list[str] = []

    def overtaken(paper: Any, *, force: bool, progress: Any) -> Any:
        progress(0.1)
        # The reaper gave the run to another worker meanwhile (a newer attempt is running it).
        StageRun.objects.filter(paper=paper, stage=Stage.NARRATE).update(attempts=F("attempts") + 1)
        progress(0.6)  # the next report finds the run gone and stops this attempt here
        wrote.append("outputs")
        raise AssertionError("unreachable")

    from django.db.models import F

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", overtaken)
    run_inline(paper, until="narrate")
    run = StageRun.objects.get(paper=paper)
    assert wrote == []
    assert (run.status, run.attempts, run.error) == (RunStatus.RUNNING, 2, "")  # left to the newer attempt


def test_an_attempt_reaped_before_it_writes_keeps_no_output_and_no_file(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Fencing: the reaper hands the run to a newer attempt between this attempt's last progress report and
    its write; the old attempt's narration is neither recorded nor left in storage."""
    from pathlib import Path

    from django.db.models import F

    from media_pipeline import files
    from media_pipeline.stages import narrate

    paper = make_text_paper(project, SHORT_TEXT)
    stored: list[str] = []

    def save_then_lose_the_run(folder: str, path: Any, suffix: str) -> str:
        name = files.save_file(folder, path, suffix)
        stored.append(name)
        StageRun.objects.filter(paper=paper, stage=Stage.NARRATE).update(attempts=F("attempts") + 1)
        return name

    monkeypatch.setattr(narrate, "save_file", save_then_lose_the_run)
    run_inline(paper, until="narrate")
    paper.refresh_from_db()
    run = StageRun.objects.get(paper=paper)
    assert len(stored) == 1 and not paper.narration_audio  # nothing recorded...
    assert not (Path(settings.MEDIA_ROOT) / stored[0]).exists()  # ...and the file it stored is gone
    assert (run.status, run.attempts) == (RunStatus.RUNNING, 2)  # the run is the newer attempt's
