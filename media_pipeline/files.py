"""Moving files between the configured storage (local disk or S3) and local temp dirs.

Outputs are written under generated names and never overwritten; a name, once pointed at by a row,
always means the same bytes, so the name can stand for the content in cheap fingerprints.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile

from media_pipeline.backends.errors import PermanentError
from media_pipeline.fingerprint import sha256_chunks
from media_pipeline.runs import attempt_mark

TEMP_PREFIX = "papercast-"
_OWNED = re.compile(r"^papercast-(\d+)-")


@contextlib.contextmanager
def private_tempdir(prefix: str = TEMP_PREFIX) -> Iterator[Path]:
    """A directory only this process can read (mkdtemp makes it 0700); removed with its contents. Its name
    carries this process's id, so what a killed worker left behind can be swept (sweep_tempdirs)."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_tempdirs(root: Path | None = None) -> list[Path]:
    """Remove the temp dirs of papercast processes that are gone (a worker killed mid-stage leaves its audio
    copies, frames and pages behind: about 32 KB a second of audio). Only this user's dirs are touched, and
    only those whose process no longer runs on this machine. Returns what was removed."""
    root = root or Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        found = _OWNED.match(entry.name)
        if not found or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            if entry.stat().st_uid != os.getuid() or _alive(int(found.group(1))):
                continue
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


def local_path(field: FieldFile | None, directory: Path, stem: str) -> Path:
    """A local copy of a stored file (the file itself where the storage is local disk)."""
    if field is None or not field.name:
        raise PermanentError("The file this stage needs is missing.")
    storage = field.storage
    if not storage.exists(field.name):
        raise PermanentError(f"The stored file {field.name!r} is missing from storage.")
    try:
        return Path(storage.path(field.name))
    except NotImplementedError:
        pass
    suffix = Path(field.name).suffix if Path(field.name).suffix.isascii() else ""
    target = directory / f"{stem}{suffix}"
    with storage.open(field.name, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink, length=1024 * 1024)
    return target


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(1024 * 1024), b""))


def generated_name(folder: str, suffix: str) -> str:
    """A new name in `folder`; inside a pipeline run it carries the attempt's mark (see media_pipeline.orphans)."""
    return f"{folder.strip('/')}/{uuid.uuid4().hex}{attempt_mark()}{suffix}"


def save_file(folder: str, source: Path, suffix: str) -> str:
    """Store a finished local file under a generated name; returns the storage name."""
    with source.open("rb") as handle:
        return default_storage.save(generated_name(folder, suffix), File(handle))


def delete_quietly(names: list[str]) -> None:
    """Remove files that no row points at (a failed write); missing ones are fine."""
    for name in names:
        with contextlib.suppress(FileNotFoundError, OSError):
            default_storage.delete(name)


def paper_folder(project_id: int, paper_id: int) -> str:
    return f"projects/{project_id}/papers/{paper_id}"
