"""transcribe: narration audio -> Transcription, Segment and Word rows with timings and confidences.

1. The audio is probed against the format allowlist and decoded, its probed format forced, into a raw
   PCM temp file that is memory-mapped (memory stays bounded for hours of audio).
2. Audio longer than PAPERCAST_TRANSCRIBE_PIECE_MINUTES is cut in the middle of pauses; each piece is
   transcribed on its own and its timings are shifted by the piece's exact sample offset.
3. Segments that look invented (repetition loops, speech over silence, text past the end) are dropped from
   the timeline or flagged (PAPERCAST_HALLUCINATIONS); dropped ones are kept as rows for the record.
4. For narration papercast spoke itself, the script's words replace the recognised ones, keeping the
   recogniser's timings (PAPERCAST_SCRIPT_ALIGNMENT), and the recognition's word error rate is stored.

Narration papercast spoke itself is not recognised at all by default (PAPERCAST_NARRATION_TIMING=align): its
words are known and so are its sentences' places in the audio, so each window of up to 30 s of sentences is
force-aligned (stages/forced.py). A recognition stays available, by setting and on demand (`recognise=True`,
the admin's "check by listening"): only it tells which sentences a listener may mishear. A recognition
counts as current when alignment is configured; an alignment does not when recognition is.

Idempotency: the fingerprint covers the audio (its generated storage name, which always means the same
bytes), the engine, model, decoding settings, piece length, guard mode and, when aligning, the script. A
Transcription with that fingerprint is reused and no engine is called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.asr import SAMPLE_RATE, AsrOptions, SegmentResult, WordResult, as_float32
from media_pipeline.backends.errors import BackendError, PermanentError
from media_pipeline.backends.transcribers import get_engine, project_model
from media_pipeline.backends.whisper import resolve_device
from media_pipeline.files import file_sha256, local_path, private_tempdir
from media_pipeline.fingerprint import fingerprint, sha256_text
from media_pipeline.models import Segment, Stage, Transcription, Word
from media_pipeline.runs import fence
from media_pipeline.selectors import narration_file, narration_units
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.stages.align import HeardWord, align_to_script
from media_pipeline.stages.forced import Sentence, align_sentences
from media_pipeline.stages.guard import guard_counts, hallucination
from media_pipeline.stages.pieces import plan_pieces
from projects.installed import configured_whisper_model, transcriber
from projects.models import Paper, SourceKind

VERSION = "transcribe-2"
name = Stage.TRANSCRIBE
logger = logging.getLogger(__name__)


def model_for(paper: Paper) -> str:
    if paper.project.whisper_model:
        return project_model(paper.project.whisper_model)
    return configured_whisper_model()


ALIGN, RECOGNISE = "align", "recognise"


@dataclass(frozen=True)
class SpokenScript:
    """The words papercast spoke, when the transcript is to be aligned to them, or why it is not; and its
    sentences with their places in the narration, when narrate recorded them for these sentences."""

    text: str | None
    note: str = ""
    sentences: tuple[Sentence, ...] = ()


def script_for(paper: Paper) -> SpokenScript:
    """The words papercast spoke (text papers, and papers from a PDF or arXiv) when alignment is on.

    A script that cannot be read (the text became invalid, the script was emptied) does not stop the
    transcription, which stands on its own; the reason is logged and kept on the run as its note.
    """
    if paper.source_kind == SourceKind.AUDIO or not settings.PAPERCAST_SCRIPT_ALIGNMENT:
        return SpokenScript(None)
    try:
        units = narration_units(paper)
    except BackendError as exc:
        logger.warning("Paper %s: the transcript is not aligned to the script: %s", paper.pk, exc)
        return SpokenScript(None, f"Not aligned to the script, which could not be read: {exc}")
    text = " ".join(unit.text for unit in units)
    spans = sorted(
        (s for s in paper.narration_spans or [] if isinstance(s, dict) and isinstance(s.get("i"), int)),
        key=lambda s: int(s["i"]),
    )
    if [int(s["i"]) for s in spans] != list(range(len(units))):
        return SpokenScript(text)  # narrated before spans were kept, or for other sentences: recognised
    sentences = tuple(Sentence(u.text, float(s["start"]), float(s["end"])) for u, s in zip(units, spans, strict=True))
    return SpokenScript(text, sentences=sentences)


def method_for(paper: Paper, script: SpokenScript) -> str:
    """align when the narration's words and sentence spans are known, alignment is configured and the engine
    can align; recognise otherwise (uploaded audio always)."""
    engine = get_engine(transcriber())
    if settings.PAPERCAST_NARRATION_TIMING == ALIGN and script.sentences and hasattr(engine, "align"):
        return ALIGN
    return RECOGNISE


def _params(paper: Paper, script: SpokenScript, method: str) -> dict[str, object]:
    # The configured values, not the resolved ones: checking whether a transcript is current must not
    # import torch (the web process does it when someone starts a pipeline).
    if method == ALIGN:
        return {
            "method": ALIGN,
            "language": settings.PAPERCAST_WHISPER_LANGUAGE,
            "device": settings.PAPERCAST_WHISPER_DEVICE,
            "script": sha256_text(script.text or ""),
            "spans": [(s.start, s.end) for s in script.sentences],
        }
    return {
        "language": settings.PAPERCAST_WHISPER_LANGUAGE,
        "beam_size": settings.PAPERCAST_WHISPER_BEAM_SIZE,
        "temperature_fallback": settings.PAPERCAST_WHISPER_TEMPERATURE_FALLBACK,
        "device": settings.PAPERCAST_WHISPER_DEVICE,
        "compute_type": settings.PAPERCAST_FASTER_WHISPER_COMPUTE_TYPE,
        "piece_minutes": settings.PAPERCAST_TRANSCRIBE_PIECE_MINUTES,
        "hallucinations": settings.PAPERCAST_HALLUCINATIONS,
        "script": sha256_text(script.text) if script.text is not None else None,
    }


def _fingerprint(paper: Paper, script: SpokenScript, method: str) -> str:
    audio = narration_file(paper)
    if audio is None:
        if paper.source_kind == SourceKind.AUDIO:
            raise PermanentError("No audio file was uploaded for this paper. Upload the narration audio.")
        raise PermanentError("The paper has no narration yet: run the narrate stage first.")
    engine = get_engine(transcriber())
    return fingerprint(
        VERSION, audio.name, engine.ENGINE, engine.model_identity(model_for(paper)), _params(paper, script, method)
    )


def _accepted(paper: Paper, script: SpokenScript, method: str) -> list[str]:
    """The fingerprints of transcriptions that are current: a recognition also stands in for an alignment."""
    fp = _fingerprint(paper, script, method)
    return [fp, _fingerprint(paper, script, RECOGNISE)] if method == ALIGN else [fp]


def status(paper: Paper) -> tuple[str, bool]:
    script = script_for(paper)
    accepted = _accepted(paper, script, method_for(paper, script))
    return accepted[0], Transcription.objects.filter(paper=paper, input_fingerprint__in=accepted).exists()


def asr_options(model: str, language: str | None) -> AsrOptions:
    """The engine options the stage uses, from settings."""
    device = resolve_device(settings.PAPERCAST_WHISPER_DEVICE)
    return AsrOptions(
        model=model,
        device=device,
        language=language,
        beam_size=settings.PAPERCAST_WHISPER_BEAM_SIZE or (5 if device == "cuda" else 1),
        temperature_fallback=settings.PAPERCAST_WHISPER_TEMPERATURE_FALLBACK,
        threads=settings.PAPERCAST_WHISPER_THREADS,
        compute_type=settings.PAPERCAST_FASTER_WHISPER_COMPUTE_TYPE,
    )


def transcribe_samples(samples: np.ndarray, paper: Paper, progress: ProgressFn) -> Transcript:
    """Transcribe int16 samples piece by piece, with exact absolute times and a verdict on each segment."""
    engine = get_engine(transcriber())
    pieces = plan_pieces(samples, SAMPLE_RATE, settings.PAPERCAST_TRANSCRIBE_PIECE_MINUTES * 60)
    out = Transcript(language=settings.PAPERCAST_WHISPER_LANGUAGE or "", pieces=len(pieces))
    for done, (first, end) in enumerate(pieces, start=1):
        offset, piece_end = first / SAMPLE_RATE, end / SAMPLE_RATE
        started = time.monotonic()
        result = engine.transcribe(as_float32(samples[first:end]), asr_options(model_for(paper), out.language or None))
        out.engine_seconds += time.monotonic() - started
        # Every piece in the language of the first, so one recording is not split across languages.
        out.language = out.language or result.language
        for seg in result.segments:
            seg.start, seg.end = offset + seg.start, offset + seg.end
            seg.words = [WordResult(offset + w.start, offset + w.end, w.text, w.confidence) for w in seg.words]
            # Judged against the piece's end: a piece ends in a pause, so text after it is invented.
            out.segments.append(seg)
            out.reasons.append(hallucination(seg, piece_end))
        progress(0.05 + 0.85 * done / len(pieces))
    return out


@dataclass
class Transcript:
    language: str
    pieces: int
    segments: list[SegmentResult] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    engine_seconds: float = 0.0
    windows: int = 0  # forced alignment: the passes it took, and the sentences too long for one
    recognised_sentences: int = 0


@dataclass
class _Decoded:
    """The narration as the recogniser heard it, before it is kept: what `run` writes in one transaction."""

    duration: float
    audio_sha: str
    transcript: Transcript
    title: str = ""  # the recording's title tag


def run(paper: Paper, *, force: bool, progress: ProgressFn, recognise: bool = False) -> StageResult:
    """Transcribe the paper's narration; `recognise` asks for a recognition where an alignment would do."""
    script = script_for(paper)  # read once: it is both in the fingerprint and what the words are aligned to
    method = RECOGNISE if recognise else method_for(paper, script)
    accepted = _accepted(paper, script, method)
    fp = accepted[0]
    if not force and Transcription.objects.filter(paper=paper, input_fingerprint__in=accepted).exists():
        return StageResult(fp, reused=True)
    if method == ALIGN:
        return _run_aligned(paper, fp, script, progress)
    decoded = _decode(paper, progress, lambda samples: transcribe_samples(samples, paper, progress))
    transcript = decoded.transcript
    drop = settings.PAPERCAST_HALLUCINATIONS == "drop"
    kept = [seg for seg, reason in zip(transcript.segments, transcript.reasons, strict=True) if not (drop and reason)]
    _sanitize(kept, decoded.duration)
    if not any(seg.words for seg in kept):
        raise PermanentError("No speech was recognised in the audio. Check that the file holds the narration.")
    words = [
        (i, w) for i, seg in enumerate(transcript.segments) if not (drop and transcript.reasons[i]) for w in seg.words
    ]
    words, recognized, wer = _align(words, script.text)
    progress(0.95)
    _save(
        paper,
        fp,
        decoded,
        words=words,
        recognized=recognized,
        wer=wer,
        aligned=script.text is not None,
        drop=drop,
        method=RECOGNISE,
    )
    metrics: dict[str, object] = {
        "audio_seconds": round(decoded.duration, 3),
        "engine_seconds": round(transcript.engine_seconds, 3),
        "real_time_factor": round(transcript.engine_seconds / decoded.duration, 4) if decoded.duration else None,
        "pieces": transcript.pieces,
        "words": len(words),
        "model": model_for(paper),
        "engine": transcriber(),
        ("dropped" if drop else "flagged"): dict(guard_counts(transcript.reasons)),
        "script_wer": round(wer, 4) if wer is not None else None,
    }
    if script.note:
        metrics["note"] = script.note
    return StageResult(fp, reused=False, metrics={"method": RECOGNISE, **metrics})


def _run_aligned(paper: Paper, fp: str, script: SpokenScript, progress: ProgressFn) -> StageResult:
    engine = get_engine(transcriber())
    options = asr_options(model_for(paper), settings.PAPERCAST_WHISPER_LANGUAGE)

    def work(samples: np.ndarray) -> Transcript:
        aligned = align_sentences(
            samples,
            script.sentences,
            options,
            align=engine.align,
            recognise=engine.transcribe,
            progress=lambda f: progress(0.05 + 0.85 * f),
        )
        return Transcript(
            language=settings.PAPERCAST_WHISPER_LANGUAGE or "",
            pieces=1,
            segments=aligned.segments,
            reasons=[None] * len(aligned.segments),
            engine_seconds=aligned.engine_seconds,
            windows=aligned.windows,
            recognised_sentences=aligned.recognised,
        )

    decoded = _decode(paper, progress, work)
    _sanitize(decoded.transcript.segments, decoded.duration)
    words = [(i, w) for i, seg in enumerate(decoded.transcript.segments) for w in seg.words]
    if not words:
        raise PermanentError("The narration's script has no words to align.")
    progress(0.95)
    _save(
        paper, fp, decoded, words=words, recognized=[""] * len(words), wer=None, aligned=True, drop=False, method=ALIGN
    )
    seconds = decoded.transcript.engine_seconds
    return StageResult(
        fp,
        reused=False,
        metrics={
            "method": ALIGN,
            "audio_seconds": round(decoded.duration, 3),
            "engine_seconds": round(seconds, 3),
            "real_time_factor": round(seconds / decoded.duration, 4) if decoded.duration else None,
            "windows": decoded.transcript.windows,
            "recognised_sentences": decoded.transcript.recognised_sentences,
            "words": len(words),
            "model": model_for(paper),
            "engine": transcriber(),
        },
    )


def _decode(paper: Paper, progress: ProgressFn, work: Callable[[np.ndarray], Transcript]) -> _Decoded:
    """Probe, check and decode the narration into a memory-mapped temp file, then `work` on its samples."""
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
        pcm = tmp / "audio.pcm"
        count = ffmpeg.decode_audio_to_file(path, probe, pcm, max_seconds=limit + 1)
        duration = count / SAMPLE_RATE
        if duration > limit:
            raise _too_long(duration, limit)
        progress(0.05)
        samples = np.memmap(pcm, dtype=np.int16, mode="r")
        try:
            transcript = work(samples)
        finally:
            del samples  # release the mapping before the temp dir goes
    return _Decoded(duration, audio_sha, transcript, probe.title)


def _align(
    words: list[tuple[int, WordResult]], script: str | None
) -> tuple[list[tuple[int, WordResult]], list[str], float | None]:
    """The script's words with the recogniser's timings (when there is a script), what was heard where it
    differs, and the recognition's word error rate."""
    if script is None:
        return words, [""] * len(words), None
    heard = [HeardWord(w.start, w.end, w.text, w.confidence, i) for i, w in words]
    aligned, wer = align_to_script(script, heard)
    words = [(a.segment, WordResult(a.start, a.end, a.text, a.confidence)) for a in aligned]
    return words, [a.recognized if a.recognized != a.text else "" for a in aligned], wer


def _save(
    paper: Paper,
    fp: str,
    decoded: _Decoded,
    *,
    words: list[tuple[int, WordResult]],
    recognized: list[str],
    wer: float | None,
    aligned: bool,
    drop: bool,
    method: str,
) -> None:
    """The Transcription with every segment (dropped ones too, for the record) and word, in one transaction."""
    segments, reasons = decoded.transcript.segments, decoded.transcript.reasons
    with transaction.atomic():
        fence()  # a reaped attempt that is still alive writes no second transcription
        transcription = Transcription.objects.create(
            paper=paper,
            engine=transcriber(),
            model=model_for(paper),
            language=decoded.transcript.language,
            text=" ".join(w.text for _, w in words),
            duration=decoded.duration,
            audio_fingerprint=decoded.audio_sha,
            input_fingerprint=fp,
            pieces=decoded.transcript.pieces,
            aligned_to_script=aligned,
            script_wer=wer,
            method=method,
        )
        by_segment: dict[int, list[str]] = {}
        for i, word in words:
            by_segment.setdefault(i, []).append(word.text)
        rows = Segment.objects.bulk_create(
            Segment(
                transcription=transcription,
                index=i,
                start=seg.start,
                end=max(seg.end, seg.start),
                text=" ".join(by_segment[i]) if i in by_segment and aligned else seg.text,
                tokens=seg.tokens,
                temperature=seg.temperature,
                avg_logprob=seg.avg_logprob,
                compression_ratio=seg.compression_ratio,
                no_speech_prob=seg.no_speech_prob,
                confidence=seg.confidence,
                flag=(reasons[i] or "")[:300],
                dropped=bool(drop and reasons[i]),
            )
            for i, seg in enumerate(segments)
        )
        Word.objects.bulk_create(
            (
                Word(
                    transcription=transcription,
                    segment=rows[i],
                    index=n,
                    start=word.start,
                    end=max(word.end, word.start),
                    text=word.text[:200],
                    recognized=recognized[n][:200],
                    confidence=word.confidence,
                )
                for n, (i, word) in enumerate(words)
            ),
            batch_size=2000,
        )
        if paper.source_kind == SourceKind.AUDIO and paper.title_from_source and decoded.title:
            # An uploaded recording named only by its file ("fireflies") takes the title it carries; a title a
            # person gave is kept.
            Paper.objects.filter(pk=paper.pk, title_from_source=True).update(title=decoded.title)


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


def _sanitize(segments: list[SegmentResult], duration: float) -> None:
    """Make word timings safe downstream: inside the audio, in order, never overlapping (in place)."""
    last_end = 0.0
    for seg in segments:
        words: list[WordResult] = []
        for word in seg.words:
            start = min(max(word.start, last_end), duration)
            end = min(max(word.end, start), duration)
            if start >= duration and words:
                break
            words.append(WordResult(start=start, end=end, text=word.text, confidence=word.confidence))
            last_end = end
        seg.words = words
        seg.start = min(max(seg.start, 0.0), duration)
        seg.end = min(max(seg.end, seg.start), duration)
