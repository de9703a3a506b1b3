"""Speech recognition with whisper-timestamped (word timestamps and confidences).

A model is a name ("base.en": the engine downloads it on a machine with internet) or a checkpoint path
(loaded from disk, never downloaded). Models are cached per process: a worker loads each one once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from media_pipeline.backends.asr import (
    APPENDED_PUNCTUATION,
    PREPENDED_PUNCTUATION,
    TEMPERATURES,
    AsrOptions,
    SegmentResult,
    TranscriptResult,
    WordResult,
    check_align_audio,
    check_align_tokens,
    opt_float,
)
from media_pipeline.backends.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)

ENGINE = "whisper-timestamped"
_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def resolve_device(preference: str) -> str:
    """cuda or cpu for a preference of auto, cpu or cuda (which must then be there)."""
    import torch

    if preference == "cuda":
        if not torch.cuda.is_available():
            raise PermanentError("PAPERCAST_WHISPER_DEVICE=cuda but no CUDA device is available on this worker.")
        return "cuda"
    if preference == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_identity(model: str) -> str:
    """What goes into fingerprints: the name, or for a checkpoint its file name and size."""
    path = Path(model).expanduser()
    if path.is_file():
        return f"{path.name}:{path.stat().st_size}"
    return model


def official_name(model: str) -> str | None:
    """The official model name whose alignment heads apply ("tiny.en" for .../tiny.en.pt, or for "tiny.en")."""
    import whisper

    heads: dict[str, bytes] = whisper._ALIGNMENT_HEADS
    candidate = Path(model).name
    for suffix in (".pt", ".ckpt", ".bin"):
        if candidate.endswith(suffix):
            candidate = candidate[: -len(suffix)]
    return candidate if candidate in heads else None


def load_model(model: str, device: str) -> Any:
    key = (model, device)
    with _lock:
        if key in _models:
            return _models[key]
        import whisper
        import whisper_timestamped

        path = Path(model).expanduser()
        looks_like_path = "/" in model or model.endswith((".pt", ".ckpt", ".bin"))
        if looks_like_path and not path.exists():
            raise PermanentError(f"The whisper checkpoint {model!r} does not exist (PAPERCAST_WHISPER_MODEL).")
        if not looks_like_path and model not in whisper.available_models():
            raise PermanentError(
                f"{model!r} is not a whisper model name ({', '.join(whisper.available_models())}) "
                "nor a checkpoint path (PAPERCAST_WHISPER_MODEL)."
            )
        try:
            loaded = whisper_timestamped.load_model(str(path) if looks_like_path else model, device=device)
        except (OSError, ConnectionError) as exc:
            # A name whose weights are not cached needs the network; a path that fails to read is broken.
            raise TransientError(f"Could not load the whisper model {model!r}: {exc}") from exc
        except RuntimeError as exc:
            raise PermanentError(f"The whisper model {model!r} could not be loaded: {exc}") from exc
        name = official_name(model)
        if name is not None:
            # A checkpoint loaded by path gets default heads; the official ones give accurate word times.
            loaded.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
        else:
            logger.warning("No official alignment heads known for %s; word timings use the defaults.", model)
        _models[key] = loaded
        return loaded


def transcribe(audio: np.ndarray, options: AsrOptions) -> TranscriptResult:
    """Transcribe 16 kHz mono float32 audio. Deterministic for the same inputs on the same device."""
    import torch
    import whisper_timestamped

    if options.threads > 0:
        torch.set_num_threads(options.threads)
    loaded = load_model(options.model, options.device)
    beam = options.beam_size if options.beam_size > 1 else None
    try:
        result = whisper_timestamped.transcribe(
            loaded,
            audio,
            language=options.language,
            beam_size=beam,
            best_of=beam,
            temperature=TEMPERATURES if options.temperature_fallback else 0.0,
            fp16=options.device == "cuda",
            verbose=None,
            seed=1234,
        )
    except torch.cuda.OutOfMemoryError as exc:
        raise TransientError(f"The GPU ran out of memory while transcribing: {exc}") from exc
    segments: list[SegmentResult] = []
    for seg in result.get("segments", []):
        words = [
            WordResult(
                start=float(w["start"]),
                end=float(w["end"]),
                text=str(w["text"]).strip(),
                confidence=opt_float(w.get("confidence")),
            )
            for w in seg.get("words", [])
            if str(w.get("text", "")).strip()
        ]
        segments.append(
            SegmentResult(
                start=float(seg["start"]),
                end=float(seg["end"]),
                text=str(seg["text"]).strip(),
                tokens=[int(t) for t in seg.get("tokens", [])],
                temperature=opt_float(seg.get("temperature")),
                avg_logprob=opt_float(seg.get("avg_logprob")),
                compression_ratio=opt_float(seg.get("compression_ratio")),
                no_speech_prob=opt_float(seg.get("no_speech_prob")),
                confidence=opt_float(seg.get("confidence")),
                words=words,
            )
        )
    return TranscriptResult(
        language=str(result.get("language") or options.language or ""),
        text=str(result.get("text", "")).strip(),
        segments=segments,
    )


# --- Forced alignment: the timings of words already known ------------------------------------------------


def align(audio: np.ndarray, text: str, options: AsrOptions) -> list[WordResult]:
    """The times of the words of `text`, which `audio` (16 kHz mono float32, at most 30 s) is known to say:
    one encoder pass, one decoder pass over the text's tokens, and dynamic time warping over the alignment
    heads' cross-attention (what whisper does for word timestamps after decoding, without the decoding).

    Returns whisper's words (punctuation merged into them, each with its leading space) with times from the
    start of `audio` and the probability the model gave the text; they concatenate to " " + text.
    """
    import torch
    from whisper.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim
    from whisper.timing import find_alignment, merge_punctuations
    from whisper.tokenizer import get_tokenizer

    check_align_audio(audio)
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    model = load_model(options.model, options.device)
    mel = log_mel_spectrogram(audio, model.dims.n_mels, padding=N_SAMPLES)
    frames = min(len(audio) // HOP_LENGTH, N_FRAMES)
    segment = pad_or_trim(mel[:, :N_FRAMES], N_FRAMES).to(model.device)
    if options.device == "cuda":
        segment = segment.half()
    language = options.language
    if language is None and model.is_multilingual:
        _, probabilities = model.detect_language(segment)
        language = max(probabilities, key=probabilities.get)
    tokenizer = get_tokenizer(
        model.is_multilingual, num_languages=model.num_languages, language=language or "en", task="transcribe"
    )
    tokens = tokenizer.encode(" " + text.strip())
    check_align_tokens(tokens)
    if not tokens:
        return []
    try:
        timings = find_alignment(model, tokenizer, tokens, segment, frames)
    except torch.cuda.OutOfMemoryError as exc:
        raise TransientError(f"The GPU ran out of memory while aligning: {exc}") from exc
    merge_punctuations(timings, PREPENDED_PUNCTUATION, APPENDED_PUNCTUATION)
    return [WordResult(float(t.start), float(t.end), t.word, float(t.probability)) for t in timings if t.word]
