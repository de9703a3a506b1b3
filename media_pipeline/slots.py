"""A limit on concurrent requests to one outside server, shared by every worker on every machine.

Each server has N slot rows; a worker leases a free (or expired) one with a conditional UPDATE, so two
workers never hold the same slot, and a worker that dies only holds its slot until the lease expires.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from media_pipeline.backends.errors import TransientError
from media_pipeline.models import ServerSlot


def _ensure(server: str, limit: int) -> None:
    existing = set(ServerSlot.objects.filter(server=server).values_list("slot", flat=True))
    for slot in range(limit):
        if slot not in existing:
            with contextlib.suppress(IntegrityError):  # another worker created it first: same row
                ServerSlot.objects.create(server=server, slot=slot)


@contextlib.contextmanager
def server_slot(server: str, *, limit: int, lease_seconds: float, wait_seconds: float) -> Iterator[int]:
    """Hold one of `limit` slots for `server` while the block runs; waits up to wait_seconds for one."""
    _ensure(server, limit)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        now = timezone.now()
        for slot in random.sample(range(limit), limit):
            claimed = (
                ServerSlot.objects.filter(server=server, slot=slot)
                .filter(Q(holder="") | Q(expires_at__lt=now))
                .update(holder=token, expires_at=now + timedelta(seconds=lease_seconds))
            )
            if claimed:
                try:
                    yield slot
                finally:
                    ServerSlot.objects.filter(server=server, slot=slot, holder=token).update(holder="", expires_at=None)
                return
        if time.monotonic() >= deadline:
            raise TransientError(f"All {limit} request slots for {server} stayed busy for {wait_seconds:.0f} s.")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


@contextlib.contextmanager
def request_slot(server: str, *, limit: int, read_timeout: float, retries: int) -> Iterator[None]:
    """Hold a slot for one request to `server` ('' means an in-process engine: no limit).

    The lease outlasts every attempt the request may make (retries + 1 reads of read_timeout, plus backoff),
    so a slow but live request never loses its slot; a dead worker's slot frees itself when it expires.
    """
    if not server:
        yield
        return
    lease = read_timeout * (retries + 2) + 60
    with server_slot(server, limit=limit, lease_seconds=lease, wait_seconds=lease):
        yield


def llm_slot(server: str) -> contextlib.AbstractContextManager[None]:
    """A slot for one request to an LLM server, within PAPERCAST_LLM_CONCURRENCY ('' for in-process)."""
    from django.conf import settings

    return request_slot(
        server,
        limit=settings.PAPERCAST_LLM_CONCURRENCY,
        read_timeout=settings.PAPERCAST_LLM_READ_TIMEOUT,
        retries=settings.PAPERCAST_LLM_RETRIES,
    )


def wait_turn(server: str, *, interval: float, max_wait: float = 600.0) -> None:
    """Wait until this worker may send its next request to `server`: at most one per `interval` seconds,
    counted across every worker on every machine (one slot row whose expiry is the next allowed moment)."""
    if interval <= 0:
        return
    _ensure(server, 1)
    deadline = time.monotonic() + max_wait
    while True:
        now = timezone.now()
        taken = (
            ServerSlot.objects.filter(server=server, slot=0)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__lte=now))
            .update(holder="rate", expires_at=now + timedelta(seconds=interval))
        )
        if taken:
            return
        if time.monotonic() >= deadline:
            raise TransientError(f"No turn to ask {server} came within {max_wait:.0f} s.")
        next_at = ServerSlot.objects.filter(server=server, slot=0).values_list("expires_at", flat=True).first()
        pause = (next_at - now).total_seconds() if next_at else interval
        time.sleep(min(max(pause, 0.01), interval))
