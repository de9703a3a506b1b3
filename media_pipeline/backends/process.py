"""Running external programs: argument lists only, a timeout that ends the whole process group."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence

from media_pipeline.backends.errors import PermanentError, TransientError


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
        )
        try:
            out, err = proc.communicate(input=input_bytes, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise TransientError(f"{os.path.basename(args[0])} did not finish within {timeout:.0f} s and was stopped.")
        except BaseException:
            _kill_group(proc)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(list(args), proc.returncode, out, err)
    finally:
        if handle:
            handle.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
