"""chunk: the transcript's words -> scenes (Chunk rows) of bounded duration.

A scene is at most `max_scene_seconds` long (a single word longer than that is a scene of its own) and ends on
a sentence boundary when one falls in the last 60 % of the window (or at least 3 s in), else on a clause
boundary (a comma or semicolon, or before "and", "which", ...), else on the last word that fits. For papers
with a script, a new section always starts a new scene. Scenes cover the words in order, each word exactly
once, no overlap.

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
from media_pipeline.runs import fence
from media_pipeline.selectors import SECTION_SLACK, section_starts, transcription_required
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper

VERSION = "chunk-4"  # 4: a sentence end 3 s in beats a clause boundary; 3: no scene of a last second
name = Stage.CHUNK
SENTENCE_ENDS = (".", "!", "?", "…", '."', '?"', '!"', ".”", "?”", "!”", ".'", ".)")
CLAUSE_ENDS = (",", ";", ":", "—", "–")
# A clause may also begin at one of these words: a long sentence is cut before them, never inside a phrase.
CLAUSE_STARTS = frozenset("and but or which while whereas because although so that where when".split())
MIN_TAIL_SECONDS = 3.0  # before a section's start, no scene shorter than this is left
MIN_FILL_SENTENCE = 0.4
MIN_FILL_CLAUSE = 0.6
MIN_SENTENCE_SCENE = 3.0  # seconds: a sentence end this far in is a better cut than any clause boundary


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


def plan_scenes(words: list[TimedWord], max_seconds: float, breaks: list[float] | None = None) -> list[Scene]:
    """Group words into scenes. Words must be in order with non-decreasing, non-overlapping times.

    `breaks` are times at which a new scene must begin (where the paper's sections begin): no scene spans one.
    """
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    pending = sorted(breaks or [])
    scenes: list[Scene] = []
    i, n = 0, len(words)
    while i < n:
        start = words[i].start
        # A recogniser may put a word's start a little before the sentence's own: sections are set apart by a
        # 0.7 s pause, so a word starting less than SECTION_SLACK before a break belongs after it.
        wall = next((b - SECTION_SLACK for b in pending if b - SECTION_SLACK > start), float("inf"))
        fit = i
        while fit + 1 < n and words[fit + 1].end - start <= max_seconds and words[fit + 1].start < wall:
            fit += 1
        cut = fit
        at_wall = fit + 1 < n and words[fit + 1].start >= wall
        if fit < n - 1 and not at_wall:
            if max_seconds >= 2 * MIN_TAIL_SECONDS:
                fit = _leaving_room(words, i, fit, wall)
            sentence = _boundary(words, i, fit, limit=start + MIN_FILL_SENTENCE * max_seconds, ends=SENTENCE_ENDS)
            if sentence is None:  # a short scene of whole sentences rather than one that stops mid-sentence
                sentence = _boundary(words, i, fit, limit=start + MIN_SENTENCE_SCENE, ends=SENTENCE_ENDS)
            clause = _boundary(words, i, fit, limit=start + MIN_FILL_CLAUSE * max_seconds, ends=CLAUSE_ENDS)
            cut = sentence if sentence is not None else clause if clause is not None else fit
        chosen = words[i : cut + 1]
        scenes.append(Scene(i, cut, start, chosen[-1].end, " ".join(w.text for w in chosen)))
        i = cut + 1
    return scenes


def _leaving_room(words: list[TimedWord], first: int, fit: int, wall: float) -> int:
    """The last word the scene may end on so that what is left before the next section's start is not a
    scene of a second or two (the end of a sentence alone on screen): the scene ends earlier instead."""
    last = fit
    while last + 1 < len(words) and words[last + 1].start < wall:
        last += 1
    if last == fit or words[last].end - words[fit + 1].start >= MIN_TAIL_SECONDS:
        return fit
    room = fit
    while room > first and words[last].end - words[room + 1].start < MIN_TAIL_SECONDS:
        room -= 1
    return room


def _boundary(words: list[TimedWord], first: int, last: int, *, limit: float, ends: tuple[str, ...]) -> int | None:
    """The last word in words[first..last] that ends with one of `ends` and ends at or after `limit`; for clause
    boundaries also the word before a conjunction or relative pronoun ("..., which", "... and")."""
    clauses = ends == CLAUSE_ENDS
    for b in range(last, first - 1, -1):
        if words[b].end < limit:
            return None
        if words[b].text.rstrip().endswith(ends):
            return b
        following = words[b + 1].text.lower().strip('“"(') if b + 1 < len(words) else ""
        if clauses and b > first and following in CLAUSE_STARTS:
            return b
    return None


def _max_seconds(paper: Paper) -> float:
    return float(paper.project.max_scene_seconds)


def status(paper: Paper) -> tuple[str, bool]:
    transcription = transcription_required(paper)
    fp = fingerprint(
        VERSION, transcription.pk, transcription.input_fingerprint, _max_seconds(paper), section_starts(paper)
    )
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
    # A new section of the paper starts a new scene (the opening's first one is the narration's start).
    breaks = [start for start, _ in section_starts(paper)[1:]]
    scenes = plan_scenes(words, _max_seconds(paper), breaks)
    kept = replaced = 0
    with transaction.atomic():
        fence()
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
