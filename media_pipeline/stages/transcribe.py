"""transcribe: narration audio -> Transcription, Segment and Word rows with timings and confidences.

Idempotency: the fingerprint covers the audio (its generated storage name, which always means the same
bytes), the engine, model and decoding parameters. A Transcription with that fingerprint is reused and
whisper is not called. Audio is probed against the format allowlist and decoded with the probed format
forced before whisper sees it.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from media_pipeline.backends import ffmpeg, whisper
from media_pipeline.backends.errors import PermanentError
from media_pipeline.files import file_sha256, local_path, private_tempdir
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import Segment, Transcription, Word
from media_pipeline.selectors import narration_file
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper, SourceKind

VERSION = "transcribe-1"


def model_for(paper: Paper) -> str:
    return paper.project.whisper_model or settings.PAPERCAST_WHISPER_MODEL


def _device() -> str:
    return whisper.resolve_device(settings.PAPERCAST_WHISPER_DEVICE)


def _beam_size(device: str) -> int:
    return settings.PAPERCAST_WHISPER_BEAM_SIZE or (5 if device == "cuda" else 1)


def _params(paper: Paper) -> dict[str, object]:
    # The configured values, not the resolved ones: checking whether a transcript is current must not
    # import torch (the web process does it when someone starts a pipeline).
    return {
        "language": settings.PAPERCAST_WHISPER_LANGUAGE,
        "beam_size": settings.PAPERCAST_WHISPER_BEAM_SIZE,
        "temperature_fallback": settings.PAPERCAST_WHISPER_TEMPERATURE_FALLBACK,
        "device": settings.PAPERCAST_WHISPER_DEVICE,
    }


def status(paper: Paper) -> tuple[str, bool]:
    audio = narration_file(paper)
    if audio is None:
        if paper.source_kind == SourceKind.AUDIO:
            raise PermanentError("No audio file was uploaded for this paper. Upload the narration audio.")
        raise PermanentError("The paper has no narration yet: run the narrate stage first.")
    fp = fingerprint(VERSION, audio.name, whisper.ENGINE, whisper.model_identity(model_for(paper)), _params(paper))
    return fp, Transcription.objects.filter(paper=paper, input_fingerprint=fp).exists()


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    fp, current = status(paper)
    if current and not force:
        return StageResult(fp, reused=True)
    model = model_for(paper)
    limit = settings.PAPERCAST_MAX_AUDIO_SECONDS
    with private_tempdir() as tmp:
        path = local_path(narration_file(paper), tmp, "audio")
        size = path.stat().st_size
        if size > settings.PAPERCAST_MAX_UPLOAD_BYTES:
            raise PermanentError(
                f"The audio file is {size / 1e6:.0f} MB; the limit is "
                f"{settings.PAPERCAST_MAX_UPLOAD_BYTES / 1e6:.0f} MB (PAPERCAST_MAX_UPLOAD_MB)."
            )
        probe = ffmpeg.probe_audio(path)
        if probe.duration is not None and probe.duration > limit:
            raise _too_long(probe.duration, limit)
        audio_sha = file_sha256(path)
        samples = ffmpeg.decode_audio(path, probe, max_seconds=limit + 1)
    duration = samples.size / ffmpeg.PCM_SAMPLE_RATE
    if duration > limit:
        raise _too_long(duration, limit)
    progress(0.05)
    started = time.monotonic()
    result = whisper.transcribe(
        samples,
        model=model,
        device=_device(),
        language=settings.PAPERCAST_WHISPER_LANGUAGE,
        beam_size=_beam_size(_device()),
        temperature_fallback=settings.PAPERCAST_WHISPER_TEMPERATURE_FALLBACK,
        threads=settings.PAPERCAST_WHISPER_THREADS,
    )
    seconds = time.monotonic() - started
    segments = _sanitize(result.segments, duration)
    if not any(seg.words for seg in segments):
        raise PermanentError("No speech was recognised in the audio. Check that the file holds the narration.")
    progress(0.95)
    with transaction.atomic():
        transcription = Transcription.objects.create(
            paper=paper,
            engine=whisper.ENGINE,
            model=model,
            language=result.language,
            text=" ".join(seg.text for seg in segments),
            duration=duration,
            audio_fingerprint=audio_sha,
            input_fingerprint=fp,
        )
        segment_rows = Segment.objects.bulk_create(
            Segment(
                transcription=transcription,
                index=i,
                start=seg.start,
                end=seg.end,
                text=seg.text,
                tokens=seg.tokens,
                temperature=seg.temperature,
                avg_logprob=seg.avg_logprob,
                compression_ratio=seg.compression_ratio,
                no_speech_prob=seg.no_speech_prob,
                confidence=seg.confidence,
            )
            for i, seg in enumerate(segments)
        )
        words: list[Word] = []
        for segment_row, seg in zip(segment_rows, segments, strict=True):
            for word in seg.words:
                words.append(
                    Word(
                        transcription=transcription,
                        segment=segment_row,
                        index=len(words),
                        start=word.start,
                        end=word.end,
                        text=word.text[:200],
                        confidence=word.confidence,
                    )
                )
        Word.objects.bulk_create(words, batch_size=2000)
    return StageResult(
        fp,
        reused=False,
        metrics={
            "audio_seconds": round(duration, 3),
            "engine_seconds": round(seconds, 3),
            "real_time_factor": round(seconds / duration, 4) if duration else None,
            "words": len(words),
            "model": model,
        },
    )


def human_duration(seconds: float) -> str:
    """'42 s', '3 min 5 s', '2 h 10 min': how people say lengths of audio."""
    total = round(seconds)
    if total < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{total} s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def _too_long(duration: float, limit: float) -> PermanentError:
    return PermanentError(
        f"The audio is {human_duration(duration)} long; the limit is {human_duration(limit)} "
        "(PAPERCAST_MAX_AUDIO_SECONDS). Split it into shorter parts."
    )


def _sanitize(segments: list[whisper.SegmentResult], duration: float) -> list[whisper.SegmentResult]:
    """Make timings safe for everything downstream: inside the audio, ordered, never overlapping."""
    last_end = 0.0
    cleaned: list[whisper.SegmentResult] = []
    for seg in segments:
        if seg.start >= duration:
            continue  # a segment past the end of the audio is invented
        words: list[whisper.WordResult] = []
        for word in seg.words:
            start = min(max(word.start, last_end), duration)
            end = min(max(word.end, start), duration)
            if start >= duration and words:
                break
            words.append(whisper.WordResult(start=start, end=end, text=word.text, confidence=word.confidence))
            last_end = end
        seg.words = words
        if words:
            seg.start, seg.end = min(seg.start, words[0].start), max(seg.end, words[-1].end)
        seg.start = min(max(seg.start, 0.0), duration)
        seg.end = min(max(seg.end, seg.start), duration)
        cleaned.append(seg)
    return cleaned
