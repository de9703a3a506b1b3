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
