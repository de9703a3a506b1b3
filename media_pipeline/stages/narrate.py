"""narrate: the paper's text -> narration audio (WAV) through the TTS backend.

Idempotency: the fingerprint covers the text and the voice; when the paper's narration was made from
the same fingerprint, nothing is spoken again. Paragraphs are spoken one by one (progress advances)
and joined with a short pause.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.tts import Speaker, get_speaker
from media_pipeline.files import delete_quietly, paper_folder, private_tempdir, save_file
from media_pipeline.fingerprint import fingerprint, sha256_text
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper, SourceKind

VERSION = "narrate-1"
PARAGRAPH_PAUSE_SECONDS = 0.45


def source_text(paper: Paper) -> str:
    """The text to narrate, checked: UTF-8, not empty, not over the length limit."""
    if paper.source_kind != SourceKind.TEXT:
        raise PermanentError("This paper's source is audio; there is no text to narrate.")
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


def paragraphs(text: str) -> list[str]:
    parts = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return [p for p in parts if p]


def status(paper: Paper) -> tuple[str, bool]:
    text = source_text(paper)
    fp = fingerprint(VERSION, sha256_text(text), get_speaker().identity())
    name = paper.narration_audio.name
    current = bool(name) and paper.narration_fingerprint == fp and default_storage.exists(str(name))
    return fp, current


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    fp, current = status(paper)
    if current and not force:
        return StageResult(fp, reused=True)
    speaker = get_speaker()
    parts = paragraphs(source_text(paper))
    with private_tempdir() as tmp:
        joined = tmp / "narration.wav"
        seconds = _speak_all(speaker, parts, tmp, joined, progress)
        ffmpeg.probe_audio(joined)  # what we store must read back as audio
        name = save_file(paper_folder(paper.project_id, paper.pk) + "/narration", joined, ".wav")
    # Only these two fields change; a concurrent edit of the title survives.
    updated = Paper.objects.filter(pk=paper.pk).update(narration_audio=name, narration_fingerprint=fp)
    if not updated:
        delete_quietly([name])
        raise PermanentError("The paper was deleted while it was being narrated.")
    paper.narration_audio.name, paper.narration_fingerprint = name, fp
    return StageResult(fp, reused=False, metrics={"audio_seconds": round(seconds, 3), "paragraphs": len(parts)})


def _speak_all(speaker: Speaker, parts: list[str], tmp: Path, out: Path, progress: ProgressFn) -> float:
    total_frames = 0
    params = None
    with wave.open(str(out), "wb") as sink:
        for i, part in enumerate(parts):
            piece = tmp / f"part{i:05d}.wav"
            speaker.speak(part, piece)
            with wave.open(str(piece), "rb") as source:
                if params is None:
                    params = source.getparams()
                    sink.setnchannels(params.nchannels)
                    sink.setsampwidth(params.sampwidth)
                    sink.setframerate(params.framerate)
                elif (source.getnchannels(), source.getsampwidth(), source.getframerate()) != params[:3]:
                    raise PermanentError("The TTS backend changed audio format between paragraphs.")
                if i > 0:
                    pause = int(params.framerate * PARAGRAPH_PAUSE_SECONDS)
                    sink.writeframes(b"\x00" * pause * params.sampwidth * params.nchannels)
                    total_frames += pause
                frames = source.readframes(source.getnframes())
                sink.writeframes(frames)
                total_frames += source.getnframes()
            piece.unlink()
            progress((i + 1) / len(parts))
    if params is None:
        raise PermanentError("There was nothing to narrate.")
    return total_frames / params.framerate
