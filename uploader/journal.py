"""The journal: one small JSON file per papercast video in the state directory, the uploader's memory across
crashes. It is what makes an upload happen once.

States (`Journal.state`), in order:

- `claimed`: a lease was taken; nothing is on YouTube yet (a new upload may start).
- `uploading`: a resumable videos.insert session exists (`session_uri`, saved before the first byte is sent);
  `bytes_sent` is what YouTube acknowledged. Only this session is ever resumed: no second videos.insert.
- `uploaded`: YouTube gave the video its id (`youtube_id`); the thumbnail, caption and playlist steps follow
  and papercast is told. Never uploaded again.
- `published`: papercast recorded the YouTube id. Nothing left to do.
- `stuck`: a person must look (the saved session is gone, or papercast records another YouTube id); the
  uploader leaves the video alone until its journal file is removed.

Each write goes to a temporary file in the same directory (0600: the session URI lets anyone holding it
upload into the session) and replaces the journal with os.replace, so a crash leaves the old journal or the
new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CLAIMED = "claimed"
UPLOADING = "uploading"
UPLOADED = "uploaded"
PUBLISHED = "published"
STUCK = "stuck"
STEPS = ("thumbnail", "caption", "playlist")


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class Journal:
    video: int
    papercast_url: str = ""
    state: str = CLAIMED
    lease: str | None = None
    file_sha256: str | None = None
    file_size: int | None = None
    session_uri: str | None = None
    bytes_sent: int = 0
    youtube_id: str | None = None
    # Per step: None (to do), "done", "skipped: why" or "failed: why" (a partial failure, reported as such).
    steps: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(STEPS))
    error: str | None = None
    started_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    @property
    def partial_failures(self) -> dict[str, str]:
        return {step: str(result) for step, result in self.steps.items() if str(result or "").startswith("failed")}

    @property
    def started_upload(self) -> bool:
        """A videos.insert was started for this video: never start another."""
        return bool(self.session_uri or self.youtube_id)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Journal:
        known = {f.name for f in fields(cls)}
        journal = cls(**{key: value for key, value in data.items() if key in known})
        journal.steps = {**dict.fromkeys(STEPS), **(journal.steps or {})}
        return journal


class JournalStore:
    """The journals in one directory, `<video id>.json`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, video: int) -> Path:
        return self.directory / f"{int(video)}.json"

    def load(self, video: int) -> Journal | None:
        try:
            text = self.path(video).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return Journal.from_dict(json.loads(text))

    def save(self, journal: Journal) -> None:
        journal.updated_at = now_iso()
        write_private(self.path(journal.video), json.dumps(asdict(journal), indent=2, sort_keys=True) + "\n")

    def all(self) -> list[Journal]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
            if path.stem.isdigit():
                found.append(Journal.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        return found


def private_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only (0600)."""
    private_dir(path.parent)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)  # mkstemp makes it 0600 already; say so for the reader
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # The rename itself must survive a power cut, or a resumed upload could find the older journal.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
