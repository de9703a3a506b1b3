"""Captions (SRT, WebVTT) from word timings, and YouTube chapters from scenes. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
MAX_PAUSE_SECONDS = 1.0  # a longer silence ends the cue: no caption over a pause
SENTENCE_ENDS = (".", "!", "?", "…")
MIN_CHAPTER_SECONDS = 10.0
MIN_CHAPTERS = 3
MAX_CHAPTER_TITLE = 70


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _wrap(words: Sequence[str]) -> list[str] | None:
    """Greedy wrap into lines of at most MAX_LINE_CHARS; None when it needs more than MAX_LINES."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= MAX_LINE_CHARS:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines if len(lines) <= MAX_LINES else None


def build_cues(words: Sequence[tuple[float, float, str]]) -> list[Cue]:
    """Group words into cues of at most 2 lines x 42 characters and 7 s, breaking after sentences and pauses.

    Cues never overlap: each ends no later than the next begins.
    """
    cues: list[Cue] = []
    current: list[tuple[float, float, str]] = []

    def flush() -> None:
        if current:
            lines = _wrap([w[2] for w in current]) or [" ".join(w[2] for w in current)]
            cues.append(Cue(current[0][0], current[-1][1], tuple(lines)))
            current.clear()

    for word in words:
        text = word[2].strip()
        if not text:
            continue
        candidate = [*current, (word[0], word[1], text)]
        too_long = word[1] - current[0][0] > MAX_CUE_SECONDS if current else False
        after_pause = word[0] - current[-1][1] > MAX_PAUSE_SECONDS if current else False
        if current and (too_long or after_pause or _wrap([w[2] for w in candidate]) is None):
            flush()
            candidate = [(word[0], word[1], text)]
        current[:] = candidate
        if text.endswith(SENTENCE_ENDS) and len(" ".join(w[2] for w in current)) > MAX_LINE_CHARS // 2:
            flush()
    flush()
    # Never overlap: a cue ends where the next starts at the latest.
    fixed = []
    for i, cue in enumerate(cues):
        end = min(cue.end, cues[i + 1].start) if i + 1 < len(cues) else cue.end
        fixed.append(Cue(cue.start, max(end, cue.start), cue.lines))
    return fixed


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n" + "\n".join(c.lines)
        for i, c in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(cues: Sequence[Cue]) -> str:
    blocks = ["WEBVTT"]
    for c in cues:
        text = "\n".join(c.lines).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"


@dataclass(frozen=True)
class Chapter:
    start: float
    title: str

    @property
    def timestamp(self) -> str:
        total = int(self.start)
        hours, rest = divmod(total, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _title(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    if len(text) <= MAX_CHAPTER_TITLE:
        return text
    return text[: MAX_CHAPTER_TITLE - 1].rsplit(" ", 1)[0] + "…"


def build_chapters(scenes: Sequence[tuple[float, str]], duration: float) -> list[Chapter]:
    """Chapters from (start, title) scenes: the first at 0:00, each at least 10 s long, at least 3 or none.

    Scenes are merged into the chapter before them until that chapter is long enough; a last chapter
    shorter than 10 s is merged into the one before it.
    """
    chapters: list[Chapter] = []
    for start, title in scenes:
        if not chapters:
            chapters.append(Chapter(0.0, _title(title)))
        elif start - chapters[-1].start >= MIN_CHAPTER_SECONDS and duration - start >= MIN_CHAPTER_SECONDS:
            chapters.append(Chapter(start, _title(title)))
    # YouTube shows chapters only when there are at least three.
    return chapters if len(chapters) >= MIN_CHAPTERS else []
