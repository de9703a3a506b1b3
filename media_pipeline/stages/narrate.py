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
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.tts import Speaker, get_speaker
from media_pipeline.files import delete_quietly, generated_name, paper_folder, private_tempdir, save_file
from media_pipeline.fingerprint import fingerprint, sha256_text
from media_pipeline.models import ScriptSentence, SpokenSentence
from media_pipeline.selectors import script_current
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.text import markdown_blocks, split_sentences, spoken
from projects.models import DOCUMENT_KINDS, Paper, SourceKind

VERSION = "narrate-2"
SENTENCE_PAUSE = 0.3
PARAGRAPH_PAUSE = 0.7


@dataclass(frozen=True)
class Unit:
    """One sentence to speak, the pause after it, and the script sentence it comes from (if any)."""

    text: str
    pause: float
    sentence_id: int | None = None


def source_text(paper: Paper) -> str:
    """The text of a text paper, checked: UTF-8, not empty, not over the length limit."""
    if paper.source_kind != SourceKind.TEXT:
        raise PermanentError("This paper's source is not a text; there is no text to narrate.")
    if paper.source_text:
        text = paper.source_text
    elif paper.source_file:
        with paper.source_file.open("rb") as handle:
            data = handle.read(settings.PAPERCAST_MAX_TEXT_CHARS * 4 + 4)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PermanentError(
                f"The text file is not UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start} is not valid "
                "UTF-8). Save it as UTF-8 and upload it again."
            ) from None
    else:
        text = ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise PermanentError("The text is empty. Add the text to narrate and run the pipeline again.")
    if len(text) > settings.PAPERCAST_MAX_TEXT_CHARS:
        raise PermanentError(
            f"The text has {len(text):,} characters; the limit is {settings.PAPERCAST_MAX_TEXT_CHARS:,} "
            "(PAPERCAST_MAX_TEXT_CHARS). Shorten it or split it into several papers."
        )
    return text


def _text_units(text: str) -> list[Unit]:
    units: list[Unit] = []
    heading = ""
    for section, paragraph in markdown_blocks(text):
        if section and section != heading:
            heading = section
            units.append(Unit(spoken(section if section[-1:] in ".!?" else section + "."), PARAGRAPH_PAUSE))
        sentences = [spoken(s) for s in split_sentences(paragraph)]
        units.extend(Unit(s, SENTENCE_PAUSE) for s in sentences if s)
        if units:
            units[-1] = Unit(units[-1].text, PARAGRAPH_PAUSE, units[-1].sentence_id)
    return units


def _script_units(paper: Paper) -> list[Unit]:
    script = script_current(paper)
    if script is None:
        raise PermanentError("The paper has no script yet: run the script stage first.")
    sentences = list(ScriptSentence.objects.filter(script=script).order_by("index"))
    units: list[Unit] = []
    for i, sentence in enumerate(sentences):
        text = spoken(sentence.text)
        if not text:
            continue
        section_ends = i + 1 == len(sentences) or sentences[i + 1].section != sentence.section
        units.append(Unit(text, PARAGRAPH_PAUSE if section_ends else SENTENCE_PAUSE, sentence.pk))
    if not units:
        raise PermanentError("The script is empty: write or restore its sentences, then run narrate again.")
    return units


def units_for(paper: Paper) -> list[Unit]:
    """The sentences the narration speaks, in order."""
    if paper.source_kind in DOCUMENT_KINDS:
        return _script_units(paper)
    units = _text_units(source_text(paper))
    if not units:
        raise PermanentError("The text has nothing to say once its markup is removed.")
    return units


def spoken_script(paper: Paper) -> str:
    """The words the narration says, in order (what transcription aligns the recognised words to)."""
    return " ".join(unit.text for unit in units_for(paper))


def _fingerprint(units: list[Unit], speaker: Speaker) -> str:
    return fingerprint(VERSION, [(u.text, u.pause) for u in units], speaker.identity())


def _current(paper: Paper, fp: str) -> bool:
    name = paper.narration_audio.name
    return bool(name) and paper.narration_fingerprint == fp and default_storage.exists(str(name))


def status(paper: Paper) -> tuple[str, bool]:
    fp = _fingerprint(units_for(paper), get_speaker(paper.project))
    return fp, _current(paper, fp)


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    from media_pipeline.pipeline import gate_closed

    waiting = gate_closed(paper)
    if waiting:
        raise PermanentError(waiting)
    units = units_for(paper)
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
    updated = Paper.objects.filter(pk=paper.pk).update(
        narration_audio=name, narration_fingerprint=fp, narration_spans=spans
    )
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
    paper: Paper, speaker: Speaker, units: list[Unit], tmp: Path, progress: ProgressFn
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


def _join(pieces: list[Path], units: list[Unit], out: Path) -> tuple[list[dict[str, object]], float]:
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
