"""What a failure leaves behind: nothing. A full disk keeps no truncated file, a killed worker's temp dirs
are swept, and the programs a worker started die with it."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import File
from django.core.files.storage import default_storage

from media_pipeline.files import private_tempdir, sweep_tempdirs


class _FillsTheDisk(File):  # type: ignore[type-arg]
    """A file whose writing runs out of space after the first chunk, as a full disk does."""

    def __init__(self) -> None:
        super().__init__(None, name="video.mp4")

    @property
    def size(self) -> int:
        return 3 * 65536

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield b"\0" * 65536
        raise OSError(errno.ENOSPC, "No space left on device")

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> _FillsTheDisk:
        return self

    def close(self) -> None:
        pass


def test_a_full_disk_keeps_no_truncated_file(settings: Any) -> None:
    folder = Path(settings.MEDIA_ROOT) / "projects/1/papers/1"
    with pytest.raises(OSError) as failure:
        default_storage.save("projects/1/papers/1/video.mp4", _FillsTheDisk())
    assert failure.value.errno == errno.ENOSPC
    assert not folder.exists() or list(folder.iterdir()) == []  # Django alone kept a 64 KB stump here
    with open(__file__, "rb") as handle:  # the storage itself still works
        assert default_storage.save("projects/1/papers/1/ok.txt", File(handle)).endswith("ok.txt")


def test_a_killed_workers_temp_dirs_are_swept_and_a_live_ones_are_kept(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f"papercast-{child.pid}-abc"
        (dead / "audio.pcm").parent.mkdir()
        (dead / "audio.pcm").write_bytes(b"\0" * 1024)
        live = tmp_path / f"papercast-{os.getpid()}-def"
        live.mkdir()
        other = tmp_path / "papercast-notapid"
        other.mkdir()
        assert sweep_tempdirs(tmp_path) == []  # the worker still runs: its dir stays
        child.kill()
        child.wait()
        assert sweep_tempdirs(tmp_path) == [dead]
        assert not dead.exists() and live.exists() and other.exists()
    finally:
        child.kill()
        child.wait()
    with private_tempdir() as mine:
        assert mine.name.startswith(f"papercast-{os.getpid()}-")


def test_a_program_a_worker_started_dies_with_the_worker(tmp_path: Path) -> None:
    """ffmpeg runs in a session of its own (so a timeout can kill its helpers); it must not outlive a worker
    that the OOM killer or kill -9 ended."""
    marker = tmp_path / "child.pid"
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from media_pipeline.backends import process; "
         f"process.run(['sh', '-c', 'echo $$ > {marker}; exec sleep 60'], timeout=120)"],
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        for _ in range(100):
            if marker.exists() and marker.read_text().strip():
                break
            time.sleep(0.1)
        pid = int(marker.read_text())
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            # a zombie (reaped by init later) has no /proc/PID/cmdline content
            if not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes():
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the program outlived its worker")
    finally:
        worker.kill()
        worker.wait()


@pytest.mark.django_db(transaction=True)
def test_files_a_dead_attempt_stored_and_never_pointed_at_are_removed_by_the_next_attempt(
    project: Any, settings: Any, tmp_path: Path
) -> None:
    """A render killed after storing its four files and before committing its Video row left them in storage
    for ever. Each stored name carries its attempt; the next attempt removes the dead one's unreferenced
    files, and keeps what rows point at, what a live attempt is writing and what no attempt stored."""
    from media_pipeline import files, orphans, pipeline, runs
    from media_pipeline.models import RunStatus, Stage, StageRun, Video
    from tests.conftest import make_text_paper, run_inline

    paper = make_text_paper(project, "Scouts search for a new home. The swarm follows the best dancer.")
    run_inline(paper)  # a finished video: its files are referenced
    video = Video.objects.get(paper=paper)
    kept = [video.file.name, video.srt.name, video.vtt.name, video.thumbnail.name, paper.source_file.name]
    folder = files.paper_folder(project.pk, paper.pk) + "/video"
    killed = StageRun.objects.create(paper=paper, stage=Stage.RENDER, status=RunStatus.RUNNING, attempts=1)
    source = tmp_path / "part.bin"
    source.write_bytes(b"\0" * 4096)
    with runs.attempt(killed.pk, 1):
        left = [files.save_file(folder, source, suffix) for suffix in (".mp4", ".srt", ".vtt", ".jpg")]
    assert all(f"-r{killed.pk}a1." in name for name in left)
    unmarked = default_storage.save(f"{folder}/notes.txt", File(source.open("rb")))

    assert orphans.sweep_paper(paper) == []  # the attempt still holds its run: it may be about to commit
    # kill -9 here; the reaper hands the run to a new attempt, which starts by sweeping.
    StageRun.objects.filter(pk=killed.pk).update(status=RunStatus.PENDING)
    with pipeline.inline():
        pipeline.drain([killed.pk])
    killed.refresh_from_db()
    assert (killed.status, killed.attempts) == (RunStatus.SUCCEEDED, 2)
    assert not any(default_storage.exists(name) for name in left)
    assert all(default_storage.exists(name) for name in [*kept, unmarked])
    # Every file the finished pipeline stored is pointed at by a row: a sweep now finds nothing to remove.
    assert orphans.sweep_paper(paper) == []


@pytest.mark.django_db(transaction=True)
def test_a_run_the_reaper_gives_up_on_leaves_no_stored_file(project: Any, settings: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from media_pipeline import files, pipeline, runs
    from media_pipeline.models import RunStatus, Stage, StageRun
    from tests.conftest import make_text_paper

    settings.PAPERCAST_MAX_ATTEMPTS = 1
    paper = make_text_paper(project, "One sentence.")
    dead = StageRun.objects.create(
        paper=paper, stage=Stage.NARRATE, status=RunStatus.RUNNING, attempts=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    source = tmp_path / "sentence.wav"
    source.write_bytes(b"RIFF")
    with runs.attempt(dead.pk, 1):
        name = files.save_file(files.paper_folder(project.pk, paper.pk) + "/narration", source, ".wav")
    assert pipeline.pipeline_reap() == 1
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and not default_storage.exists(name)
