"""Messages a dead cluster took with it, and a database backend killed under a running stage.

Both against the real servers: the Redis and PostgreSQL that run beside the tests (the PostgreSQL test runs
when the suite does, DATABASE_URL=postgres://...), and django-q2's own brokers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_q.brokers import Broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.tasks import async_task

from media_pipeline import pipeline
from media_pipeline.backends import queue
from media_pipeline.models import RunStatus, Stage, StageRun
from projects.models import Project
from tests.conftest import make_text_paper, run_inline

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Redis]:
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    broker = Redis(list_key=f"test-{uuid.uuid4().hex}")
    if not broker.ping():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; the suite expects the one beside it")
    yield broker
    broker.delete_queue()


def _send(broker: Broker, run_id: int) -> None:
    async_task(queue.TASK, run_id, broker=broker, sync=False)


def test_redis_what_a_cluster_fetched_no_longer_waits_in_the_queue(redis_broker: Redis) -> None:
    _send(redis_broker, 11)
    _send(redis_broker, 12)
    async_task("math.floor", 13, broker=redis_broker, sync=False)  # not a stage message
    assert queue.waiting_runs("default", redis_broker) == {11, 12}
    fetched = redis_broker.dequeue()  # a cluster takes one, then dies with it in memory
    assert fetched and queue.waiting_runs("default", redis_broker) == {12}


def test_orm_broker_a_message_locked_by_a_fetching_cluster_is_not_waiting() -> None:
    broker = ORM(list_key=f"test-{uuid.uuid4().hex}")
    _send(broker, 21)
    _send(broker, 22)
    assert queue.waiting_runs("default", broker) == {21, 22}
    broker.dequeue()  # locked for the queue's retry time: on this broker a dead cluster's message sleeps an hour
    assert len(queue.waiting_runs("default", broker) or ()) == 1


def test_the_reaper_sends_again_a_pending_runs_lost_message_and_only_that(
    project: Project, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis: the messages a killed cluster had fetched died with it; only the reaper's slow rule (pending
    for PAPERCAST_STAGE_TIMEOUT, an hour) sent them again. Now a pending run a minute old whose message is in
    no queue is sent again at once; one whose message still waits is left alone."""
    settings.PAPERCAST_QUEUE_SYNC = False
    settings.PAPERCAST_STAGE_TIMEOUT = 3600
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    monkeypatch.setattr(Conf, "ORM", None)  # the production broker: Redis
    cluster = f"test-{uuid.uuid4().hex}"
    monkeypatch.setattr(pipeline, "queue_for", lambda stage: cluster)
    broker = Redis(list_key=cluster)
    old = timezone.now() - timedelta(seconds=pipeline.LOST_MESSAGE_SECONDS + 5)
    lost, waiting, _fresh = (
        StageRun.objects.create(
            paper=make_text_paper(project, "One sentence."), stage=Stage.NARRATE, status=RunStatus.PENDING,
            heartbeat_at=beat,
        )
        for beat in (old, old, timezone.now())
    )  # fmt: skip
    try:
        _send(broker, waiting.pk)
        with pipeline.inline() as sent:
            assert pipeline.pipeline_reap() == 1
        assert sent == [lost.pk]
        lost.refresh_from_db()
        assert lost.heartbeat_at is not None and lost.heartbeat_at > old  # the next minute's reap waits again
        with pipeline.inline() as sent:
            assert pipeline.pipeline_reap() == 0 and sent == []
    finally:
        broker.delete_queue()


def test_a_database_backend_killed_under_a_running_stage_is_recorded_at_once(
    project: Project, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """pg_terminate_backend on the worker's own backend while its stage runs (a failover, an admin's kill):
    the stage's next query fails, the failure is written on a new connection, and the run is retried then
    failed with the reason, never left "running" for the reaper."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's; the suite runs on PostgreSQL in CI too")
    import psycopg

    settings.PAPERCAST_MAX_ATTEMPTS = 2
    paper = make_text_paper(project, "Scouts search for a new home. The swarm follows the best dancer.")
    killed: list[int] = []
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)

    def terminated(paper: Any, *, force: bool, progress: Any) -> Any:
        connection.ensure_connection()
        assert connection.connection is not None
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**{**params, "autocommit": True}) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        killed.append(pid)
        StageRun.objects.filter(paper=paper).count()  # the stage's next query meets the dead backend
        raise AssertionError("unreachable: the query above must fail")

    monkeypatch.setattr(pipeline.STAGES[Stage.NARRATE], "run", terminated)
    run_inline(paper, until="narrate")
    run = StageRun.objects.get(paper=paper)
    assert len(killed) == 2 and killed[0] != killed[1]  # the retry ran on a new backend
    assert (run.status, run.attempts) == (RunStatus.FAILED, 2)
    assert "database connection was lost during the narrate stage" in run.error and "2 attempts" in run.error
