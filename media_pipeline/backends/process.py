"""Running external programs: argument lists only, a timeout that ends the whole process group."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from media_pipeline.backends.errors import PermanentError, TransientError

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child, before it execs: Linux kills it (SIGKILL) when the worker that started it dies, even by
    kill -9 or the OOM killer, so no ffmpeg or PDF reader outlives its worker in a session of its own."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def resolve_program(name: str) -> str:
    """The executable for a configured name or path, or a PermanentError saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise PermanentError(
            f"The program {name!r} was not found. Install it (on Debian: apt-get install ffmpeg) "
            "or point the PAPERCAST_FFMPEG / PAPERCAST_FFPROBE setting at it."
        )
    return found


def run(
    args: Sequence[str],
    *,
    timeout: float,
    input_bytes: bytes | None = None,
    stdin_path: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a program and wait for it; on timeout kill its whole process group and raise TransientError.

    The child gets a session of its own so that helpers it starts die with it. The caller checks the
    return code: what a non-zero exit means depends on the program.
    """
    stdin: int | None = subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL
    handle = open(stdin_path, "rb") if stdin_path else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            list(args),
            stdin=handle if handle else stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - async-signal-safe: one prctl call
        )
        try:
            out, err = proc.communicate(input=input_bytes, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.communicate()
            raise TransientError(
                f"{os.path.basename(args[0])} did not finish within {timeout:.0f} s and was stopped."
            ) from None
        except BaseException:
            kill_group(proc)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(list(args), proc.returncode, out, err)
    finally:
        if handle:
            handle.close()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process and every helper it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class StreamedRun:
    returncode: int
    stderr: bytes
    timed_out: bool


def run_streaming(args: Sequence[str], *, timeout: float, on_line: Callable[[str], None]) -> StreamedRun:
    """Run a program, handing each line of its stdout to `on_line` as it comes; stderr is collected.

    On timeout the whole process group is killed and timed_out is set; the caller decides what it means.
    """
    proc = subprocess.Popen(
        list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - async-signal-safe: one prctl call
    )
    stderr_chunks: list[bytes] = []
    # stderr is drained in a thread so a chatty program cannot block on a full pipe while we read stdout.
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read() if proc.stderr else b""))
    reader.daemon = True
    reader.start()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        kill_group(proc)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        if proc.stdout is not None:
            for raw in proc.stdout:
                on_line(raw.decode("utf-8", "replace").rstrip("\n"))
        proc.wait()
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        timer.cancel()
        reader.join(timeout=5)
    return StreamedRun(proc.returncode, b"".join(stderr_chunks), timed_out.is_set())
