"""chunk: the transcript's words -> scenes (Chunk rows) of bounded duration.

A scene is at most `max_scene_seconds` long (a single word longer than that is a scene of its own) and
ends on a sentence boundary when one falls in the last 60 % of the window, else on a clause boundary,
else on the last word that fits. Scenes cover the words in order, each word exactly once, no overlap.

Idempotency: the fingerprint covers the transcription and the scene length; current chunks are kept.
When the transcript changes, scenes whose time span and text are unchanged keep their rows (and with
them their summaries and images); only changed scenes are replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from media_pipeline.backends.errors import PermanentError
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import Chunk, Stage
from media_pipeline.selectors import transcription_required
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper

VERSION = "chunk-1"
name = Stage.CHUNK
SENTENCE_ENDS = (".", "!", "?", "…", '."', '?"', '!"', ".”", "?”", "!”", ".'", ".)")
CLAUSE_ENDS = (",", ";", ":", "—", "–")
MIN_FILL_SENTENCE = 0.4
MIN_FILL_CLAUSE = 0.6


@dataclass(frozen=True)
class TimedWord:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Scene:
    first: int  # index of the first word
    last: int  # index of the last word (inclusive)
    start: float
    end: float
    text: str


def plan_scenes(words: list[TimedWord], max_seconds: float) -> list[Scene]:
    """Group words into scenes. Words must be in order with non-decreasing, non-overlapping times."""
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    scenes: list[Scene] = []
    i, n = 0, len(words)
    while i < n:
        start = words[i].start
        fit = i
        while fit + 1 < n and words[fit + 1].end - start <= max_seconds:
            fit += 1
        cut = fit
        if fit < n - 1:
            sentence = _boundary(words, i, fit, limit=start + MIN_FILL_SENTENCE * max_seconds, ends=SENTENCE_ENDS)
            clause = _boundary(words, i, fit, limit=start + MIN_FILL_CLAUSE * max_seconds, ends=CLAUSE_ENDS)
            cut = sentence if sentence is not None else clause if clause is not None else fit
        chosen = words[i : cut + 1]
        scenes.append(Scene(i, cut, start, chosen[-1].end, " ".join(w.text for w in chosen)))
        i = cut + 1
    return scenes


def _boundary(words: list[TimedWord], first: int, last: int, *, limit: float, ends: tuple[str, ...]) -> int | None:
    """The last word in words[first..last] that ends with one of `ends` and ends at or after `limit`."""
    for b in range(last, first - 1, -1):
        if words[b].end < limit:
            return None
        if words[b].text.rstrip().endswith(ends):
            return b
    return None


def _max_seconds(paper: Paper) -> float:
    return float(paper.project.max_scene_seconds)


def status(paper: Paper) -> tuple[str, bool]:
    transcription = transcription_required(paper)
    fp = fingerprint(VERSION, transcription.pk, transcription.input_fingerprint, _max_seconds(paper))
    fingerprints = set(Chunk.objects.filter(paper=paper).values_list("input_fingerprint", flat=True))
    return fp, fingerprints == {fp}


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    fp, current = status(paper)
    if current and not force:
        return StageResult(fp, reused=True)
    transcription = transcription_required(paper)
    words = [
        TimedWord(s, e, t) for s, e, t in transcription.words.order_by("index").values_list("start", "end", "text")
    ]
    if not words:
        raise PermanentError("The transcript has no words, so there is nothing to make scenes from.")
    scenes = plan_scenes(words, _max_seconds(paper))
    kept = replaced = 0
    with transaction.atomic():
        existing = {c.index: c for c in Chunk.objects.select_for_update().filter(paper=paper)}
        stale = [
            c.pk
            for index, c in existing.items()
            if index >= len(scenes) or (c.start, c.end, c.text) != _key(scenes[index])
        ]
        Chunk.objects.filter(pk__in=stale).delete()
        fresh = []
        for index, scene in enumerate(scenes):
            chunk = existing.get(index)
            if chunk is not None and chunk.pk not in stale:
                kept += 1
                continue
            replaced += 1
            fresh.append(
                Chunk(
                    paper=paper,
                    transcription=transcription,
                    index=index,
                    start=scene.start,
                    end=scene.end,
                    text=scene.text,
                    input_fingerprint=fp,
                )
            )
        Chunk.objects.bulk_create(fresh)
        Chunk.objects.filter(paper=paper).update(input_fingerprint=fp, transcription=transcription)
    progress(1.0)
    return StageResult(fp, reused=False, metrics={"scenes": len(scenes), "kept": kept, "replaced": replaced})


def _key(scene: Scene) -> tuple[float, float, str]:
    return (scene.start, scene.end, scene.text)
