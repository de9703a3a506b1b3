"""What an upload is stored as: a name ending in a suffix from a fixed allowlist for its kind, never the
suffix the user gave.

Media are served from our own origin, and a stored `.html` or `.svg` would open there as a live page. So a
PDF is always stored as `.pdf`, a text as `.txt` or `.md`, and audio (a paper's narration, a project's
music) under the suffix of the format its first bytes show, or, for audio whose bytes we cannot place, its
own suffix when that is an allowed audio suffix. Anything else is refused with a message that says what
is accepted. The upload_to functions in models.py map names through the same allowlists, so no path that
saves a file can store another suffix.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import IO

from django.core.exceptions import ValidationError

PDF_SUFFIX = ".pdf"
# What a user may call a text file -> what it is stored as.
TEXT_SUFFIXES = {"": ".txt", ".txt": ".txt", ".text": ".txt", ".md": ".md", ".markdown": ".md"}
# What a user may call an audio file -> what it is stored as (the formats ffprobe is allowed to open).
AUDIO_SUFFIXES = {
    ".wav": ".wav",
    ".wave": ".wav",
    ".flac": ".flac",
    ".mp3": ".mp3",
    ".m4a": ".m4a",
    ".aac": ".aac",
    ".ogg": ".ogg",
    ".oga": ".ogg",
    ".opus": ".opus",
    ".webm": ".webm",
}
ALLOWED_AUDIO = "WAV, FLAC, MP3, M4A/AAC, Ogg (Vorbis or Opus) or WebM"
UNKNOWN_SUFFIX = ".bin"


def user_suffix(filename: str) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    return suffix if suffix.isascii() else "?"


def stored_text_suffix(filename: str) -> str:
    """.txt or .md for a name the allowlist knows; .txt for any other (never the name's own suffix)."""
    return TEXT_SUFFIXES.get(user_suffix(filename), ".txt")


def stored_audio_suffix(filename: str) -> str:
    """The allowlisted audio suffix of the name; .bin for any other (never the name's own suffix)."""
    return AUDIO_SUFFIXES.get(user_suffix(filename), UNKNOWN_SUFFIX)


def _read_at(file: IO[bytes], offset: int, size: int) -> bytes:
    file.seek(offset)
    data = file.read(size)
    return data if isinstance(data, bytes) else b""


_SIGNATURES = ((0, b"fLaC", ".flac"), (0, b"OggS", ".ogg"), (0, b"\x1a\x45\xdf\xa3", ".webm"), (4, b"ftyp", ".m4a"))


def _sniff_head(head: bytes) -> str | None:
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return ".wav"
    for offset, magic, suffix in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0x03
        return ".aac" if layer == 0 else ".mp3"  # ADTS (AAC) has layer 0; MPEG audio layers 1-3
    return None


def sniff_audio(file: IO[bytes]) -> str | None:
    """The stored suffix for audio whose first bytes show an allowed format; None when they show none.

    Reads a few bytes and puts the file position back where it was.
    """
    start = file.tell()
    try:
        head = _read_at(file, start, 64)
        if head[:3] == b"ID3" and len(head) >= 10:
            # An ID3v2 tag (syncsafe size) usually opens an MP3, sometimes a FLAC: look behind it.
            size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
            size += 20 if head[5] & 0x10 else 10
            return ".flac" if _read_at(file, start + size, 4) == b"fLaC" else ".mp3"
    finally:
        file.seek(start)
    return _sniff_head(head)


def stored_upload_name(kind: str, file: IO[bytes] | None, filename: str) -> str:
    """The name an upload of this kind ("pdf", "text", "audio", "music") is saved under (the storage adds
    its folder and a random stem). ValidationError for a file of a kind that is not allowed."""
    if kind == "pdf":
        return "paper" + PDF_SUFFIX
    if kind == "text":
        suffix = user_suffix(filename)
        if suffix not in TEXT_SUFFIXES:
            raise ValidationError(
                f"A text paper must be a plain-text or Markdown file (.txt or .md); {filename!r} is not one."
            )
        return "paper" + TEXT_SUFFIXES[suffix]
    if kind in ("audio", "music"):
        sniffed = sniff_audio(file) if file is not None else None
        allowed = sniffed or AUDIO_SUFFIXES.get(user_suffix(filename))
        if allowed is None:
            what = "The background music" if kind == "music" else "The narration audio"
            raise ValidationError(
                f"{what} {filename!r} is not audio in a format papercast accepts ({ALLOWED_AUDIO}). "
                "Convert it to one of these and upload it again."
            )
        return kind + allowed
    raise ValueError(f"Unknown upload kind {kind!r}.")
