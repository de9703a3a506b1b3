"""narrate: the paper's words -> narration audio (WAV), spoken sentence by sentence, with each sentence's span.

What is spoken: for text and Markdown papers, the text itself (markup removed, headings read as sentences);
for papers from a PDF or arXiv, the current Script. Each sentence is said the way a voice should say it
("e.g." as "for example", "Fig. 3" as "Figure 3", "x10^3" as "times ten to the power of 3", "%" as percent).

Sentences are spoken one at a time and joined with short pauses (longer between paragraphs and sections);
their exact positions in the narration, from sample counts, are kept in Paper.narration_spans, so scenes
know which script sentences (and pages) they show before anything is transcribed.

Idempotency: the fingerprint covers every spoken sentence and pause and the voice's identity; when the
paper's narration was made from it, nothing is spoken. Each sentence's audio is kept (SpokenSentence), so a
re-run, a run resumed after a crash, or a script with one sentence edited speaks only what is new.
"""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.tts import Speaker, get_speaker
from media_pipeline.files import delete_quietly, generated_name, paper_folder, private_tempdir, save_file
from media_pipeline.fingerprint import fingerprint, sha256_text
from media_pipeline.models import SpokenSentence, Stage
from media_pipeline.runs import Superseded, fence, gate_closed
from media_pipeline.selectors import NarrationUnit, narration_units
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper

VERSION = "narrate-2"
name = Stage.NARRATE


def _fingerprint(units: list[NarrationUnit], speaker: Speaker) -> str:
    return fingerprint(VERSION, [(u.text, u.pause) for u in units], speaker.identity())


def _current(paper: Paper, fp: str) -> bool:
    name = paper.narration_audio.name
    return bool(name) and paper.narration_fingerprint == fp and default_storage.exists(str(name))


def status(paper: Paper) -> tuple[str, bool]:
    fp = _fingerprint(narration_units(paper), get_speaker(paper.project))
    return fp, _current(paper, fp)


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    waiting = gate_closed(paper)
    if waiting:
        raise PermanentError(waiting)
    units = narration_units(paper)
    speaker = get_speaker(paper.project)
    fp = _fingerprint(units, speaker)
    if not force and _current(paper, fp):
        return StageResult(fp, reused=True)
    with private_tempdir() as tmp:
        pieces, spoken_now = _speak_all(paper, speaker, units, tmp, progress)
        joined = tmp / "narration.wav"
        spans, seconds = _join(pieces, units, joined)
        ffmpeg.probe_audio(joined)  # what we store must read back as audio
        name = save_file(paper_folder(paper.project_id, paper.pk) + "/narration", joined, ".wav")
    # Only these fields change; a concurrent edit of the title survives.
    try:
        with transaction.atomic():
            fence()
            updated = Paper.objects.filter(pk=paper.pk).update(
                narration_audio=name, narration_fingerprint=fp, narration_spans=spans
            )
    except Superseded:
        delete_quietly([name])
        raise
    if not updated:
        delete_quietly([name])
        raise PermanentError("The paper was deleted while it was being narrated.")
    paper.narration_audio.name, paper.narration_fingerprint, paper.narration_spans = name, fp, spans
    metrics: dict[str, object] = {
        "audio_seconds": round(seconds, 3),
        "sentences": len(units),
        "spoken": spoken_now,
        "voice": speaker.identity(),
    }
    if speaker.note:
        metrics["note"] = speaker.note
    return StageResult(fp, reused=False, metrics=metrics)


def _speak_all(
    paper: Paper, speaker: Speaker, units: list[NarrationUnit], tmp: Path, progress: ProgressFn
) -> tuple[list[Path], int]:
    """A local WAV per unit: the kept audio of a sentence this voice said before, else newly spoken."""
    identity = speaker.identity()
    keys = [sha256_text(f"{identity}\n{unit.text}") for unit in units]
    kept = {row.key: row for row in SpokenSentence.objects.filter(paper=paper, key__in=set(keys))}
    pieces: list[Path] = []
    spoken_now = 0
    folder = paper_folder(paper.project_id, paper.pk) + "/narration/sentences"
    for i, (unit, key) in enumerate(zip(units, keys, strict=True)):
        piece = tmp / f"sentence{i:05d}.wav"
        row = kept.get(key)
        if row is not None and default_storage.exists(str(row.file.name)):
            with row.file.open("rb") as source, piece.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        else:
            duration = speaker.speak(unit.text, piece)
            spoken_now += 1
            with piece.open("rb") as handle:
                stored = default_storage.save(generated_name(folder, ".wav"), File(handle))
            try:
                kept[key], _ = SpokenSentence.objects.update_or_create(
                    paper=paper, key=key, defaults={"file": stored, "duration": duration}
                )
            except IntegrityError:  # another attempt stored the same sentence at the same moment: keep theirs
                delete_quietly([stored])
        pieces.append(piece)
        progress((i + 1) / len(units) * 0.95)
    return pieces, spoken_now


def _join(pieces: list[Path], units: list[NarrationUnit], out: Path) -> tuple[list[dict[str, object]], float]:
    """One WAV of every piece with its pause after it; each sentence's [start, end] from sample counts."""
    params = None
    frames_written = 0
    spans: list[dict[str, object]] = []
    with wave.open(str(out), "wb") as sink:
        for i, (piece, unit) in enumerate(zip(pieces, units, strict=True)):
            with wave.open(str(piece), "rb") as source:
                shape = (source.getnchannels(), source.getsampwidth(), source.getframerate())
                if params is None:
                    params = shape
                    sink.setnchannels(shape[0])
                    sink.setsampwidth(shape[1])
                    sink.setframerate(shape[2])
                elif shape != params:
                    raise PermanentError("The voice changed its audio format between sentences; narrate again.")
                frames = source.readframes(source.getnframes())
            count = len(frames) // (params[0] * params[1])
            rate = params[2]
            spans.append(
                {
                    "i": i,
                    "sentence": unit.sentence_id,
                    "start": round(frames_written / rate, 4),
                    "end": round((frames_written + count) / rate, 4),
                }
            )
            sink.writeframes(frames)
            frames_written += count
            if i + 1 < len(pieces):
                pause = int(rate * unit.pause)
                sink.writeframes(b"\x00" * pause * params[0] * params[1])
                frames_written += pause
    if params is None:
        raise PermanentError("There was nothing to narrate.")
    return spans, frames_written / params[2]
