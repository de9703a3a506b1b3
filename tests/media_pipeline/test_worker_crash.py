"""A worker killed mid-stage (kill -9, the OOM killer, a lost machine): a real qcluster is killed while it
narrates, another one is started, and the reaper gives the run to it. The run finishes once, on its second
attempt, reusing what the killed one spoke, and the killed worker leaves no temp dir and no program behind.

The clusters are real `manage.py qcluster` processes (ORM broker) on the test's own database; the reaper,
scheduled every minute in production, is called by the test every half second with a 3 s heartbeat timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from media_pipeline import pipeline
from media_pipeline.models import RunStatus, SpokenSentence, Stage, StageRun
from projects.models import Paper, Project
from tests.conftest import PIPER_VOICE, WHISPER_MODEL, make_text_paper

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "media_pipeline" / "samples"
TAG = "PAPERCAST_TEST_CLUSTER"
# manage.py qcluster, on the test's database and media dir (settings no environment variable can give).
QCLUSTER = """
import json, os
import papercast.settings as s
given = json.loads(os.environ["PAPERCAST_TEST_CLUSTER_SETTINGS"])
s.DATABASES = {"default": given["database"]}
s.MEDIA_ROOT = given["media"]
s.STORAGES = {**s.STORAGES, "default": {"BACKEND": "papercast.storage.LocalStorage",
                                        "OPTIONS": {"location": given["media"], "base_url": "/media/"}}}
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "qcluster"])
"""
DATABASE_KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _members(root: int, tag: str) -> dict[int, int]:
    """{pid: start time} of the cluster: every process below its qcluster, and every one carrying its tag
    (a program in a session of its own that lost its parent is found by the environment it inherited)."""
    children: dict[int, list[int]] = defaultdict(list)
    starts: dict[int, int] = {}
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is None:
            continue
        children[stat[0]].append(int(entry.name))
        starts[int(entry.name)] = stat[2]
        try:
            if f"{TAG}={tag}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = stat[2]
        except OSError:
            pass
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid in starts and pid not in seen:
            seen.add(pid)
            found[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return found


def _still_running(members: dict[int, int]) -> list[str]:
    alive = []
    for pid, start in members.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start and stat[1] not in "ZX":
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            alive.append(f"{pid}: {command}")
    return alive


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(tmp_path.glob("qcluster-*.log")))


def _wait_for(
    condition: Callable[[], bool], seconds: float, what: str, tmp_path: Path, every: Callable[[], object] = int
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}\n{_logs(tmp_path)}")
        every()
        time.sleep(0.1)


@pytest.fixture
def clusters(settings: Any, tmp_path: Path) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], str]]]:
    """Starts real qclusters (the default cluster) on this test's database; stops those still running."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    database = {key: connection.settings_dict[key] for key in DATABASE_KEYS if key in connection.settings_dict}
    env = {
        **os.environ,
        "PAPERCAST_DATA_DIR": str(tmp_path / "cluster-data"),
        "PAPERCAST_TEST_CLUSTER_SETTINGS": json.dumps({"database": database, "media": str(settings.MEDIA_ROOT)}),
        "PAPERCAST_SECRET_KEY": settings.SECRET_KEY,  # tasks are signed with it
        "PAPERCAST_QUEUE_SYNC": "false",
        "PAPERCAST_HEARTBEAT_SECONDS": "0.5",
        "PAPERCAST_HEARTBEAT_TIMEOUT": "3",
        "PAPERCAST_RETRY_BACKOFF": "0",
        "PAPERCAST_WORKERS": "1",
        "PAPERCAST_PIPER_VOICE": PIPER_VOICE,
        "PAPERCAST_WHISPER_MODEL": WHISPER_MODEL,
        "DJANGO_SETTINGS_MODULE": "papercast.settings",
        "TMPDIR": str(temp),
    }
    env.pop("Q_CLUSTER_NAME", None)
    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], str]:
        tag = f"{os.getpid()}-{len(started)}"
        with (tmp_path / f"qcluster-{len(started)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", QCLUSTER],
                cwd=ROOT,
                env={**env, TAG: tag},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return proc, tag

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()  # the qcluster stops its own processes
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_it_retries_a_run_whose_worker_was_killed_and_finishes_it_once(
    project: Project,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clusters: Callable[[], tuple[subprocess.Popen[bytes], str]],
) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False  # this process only enqueues (and reaps); the clusters run stages
    settings.PAPERCAST_HEARTBEAT_SECONDS = 0.5
    settings.PAPERCAST_HEARTBEAT_TIMEOUT = 3.0
    temp = tmp_path / "tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # the reaper sweeps where the workers write
    text = "\n\n".join((SAMPLES / name).read_text() for name in ("demo.txt", "paragraph.txt"))
    paper = make_text_paper(project, text, title="Swarms")

    first, tag = clusters()
    run = pipeline.pipeline_start(paper, until=Stage.NARRATE)
    assert run is not None and run.stage == Stage.NARRATE

    def narrating() -> bool:
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            pytest.fail(f"narrate ended ({run.status}) before it could be killed\n{_logs(tmp_path)}")
        spoken = SpokenSentence.objects.filter(paper=paper).exists()
        return run.status == RunStatus.RUNNING and spoken and any(temp.glob("papercast-*"))

    _wait_for(narrating, 40, "the first cluster to be narrating", tmp_path)
    members = _members(first.pid, tag)
    left = sorted(temp.glob("papercast-*"))
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert run.attempts == 1
    clusters()

    def finished() -> bool:
        run.refresh_from_db()
        return run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)

    _wait_for(finished, 60, "the second cluster to finish narrate", tmp_path, every=pipeline.pipeline_reap)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2), f"{run.error}\n{_logs(tmp_path)}"
    assert list(StageRun.objects.filter(paper=paper).values_list("stage", flat=True)) == [Stage.NARRATE]
    assert run.metrics["spoken"] < run.metrics["sentences"]  # what the killed attempt spoke was kept
    paper = Paper.objects.get(pk=paper.pk)
    narrations = sorted(Path(settings.MEDIA_ROOT).glob(f"projects/{project.pk}/papers/{paper.pk}/narration/*.wav"))
    assert [p.relative_to(settings.MEDIA_ROOT).as_posix() for p in narrations] == [paper.narration_audio.name]
    assert left and not any(path.exists() for path in left)  # the killed worker's temp dir was swept
    assert _still_running(members) == []  # nothing the killed cluster ran outlived it
