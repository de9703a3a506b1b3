"""What waits in django-q2's broker: the pipeline's messages still queued for a cluster.

A cluster fetches messages before its workers are free to run them; when it dies (kill -9, a lost machine),
the messages it held die with it on Redis, and stay locked for the queue's `retry` seconds on the ORM broker.
The reaper asks here which pending runs still have a message waiting, and sends the others again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.signing import SignedPackage

logger = logging.getLogger(__name__)

TASK = "media_pipeline.tasks.stage_run_task"


def waiting_runs(cluster: str, broker: Broker | None = None) -> set[int] | None:
    """The run ids whose stage message waits, unfetched, in `cluster`'s queue; None when this broker cannot be
    looked into (the caller then keeps to its slow rule)."""
    broker = broker or get_broker(cluster)
    payloads: list[Any]
    if isinstance(broker, Redis):
        payloads = list(broker.connection.lrange(broker.list_key, 0, -1))
    elif isinstance(broker, ORM):
        # Waiting: never fetched (lock = enqueue time) or fetched by a cluster whose retry time has passed.
        rows = broker.get_connection().filter(key=broker.list_key, lock__lte=timezone.now())
        payloads = list(rows.values_list("payload", flat=True))
    else:
        return None
    waiting: set[int] = set()
    for payload in payloads:
        try:
            task = SignedPackage.loads(payload)
        except Exception as exc:  # a bad signature, a payload of another version: not ours to read
            logger.warning("A message in queue %s cannot be read (%s); skipped.", broker.list_key, exc)
            continue
        if not isinstance(task, dict) or task.get("func") != TASK:
            continue
        args = task.get("args")
        if args and isinstance(args[0], int):
            waiting.add(args[0])
    return waiting
