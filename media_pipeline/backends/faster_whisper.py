"""Speech recognition with faster-whisper (CTranslate2): several times faster than PyTorch on a CPU.

A model is a name (downloaded by faster-whisper on a machine with internet) or the path of a converted
CTranslate2 model directory (model.bin, config.json, tokenizer.json, vocabulary), loaded from disk only.
"""

from __future__ import annotations

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
)
from media_pipeline.backends.errors import PermanentError, TransientError

ENGINE = "faster-whisper"
_models: dict[tuple[str, str, str, int], Any] = {}
_lock = threading.Lock()
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


def model_identity(model: str) -> str:
    path = Path(model).expanduser()
    if path.is_dir():
        weights = path / "model.bin"
        return f"{path.name}:{weights.stat().st_size if weights.exists() else 0}"
    return model


def check_model_dir(model: str) -> Path | None:
    """The model directory for a path, after checking it is complete; None for a model name."""
    if not model.strip():
        raise PermanentError("No faster-whisper model is configured (PAPERCAST_FASTER_WHISPER_MODEL).")
    path = Path(model).expanduser()
    if "/" not in model and not path.exists():
        return None
    if not path.is_dir():
        raise PermanentError(f"The faster-whisper model {model!r} is not a directory (PAPERCAST_FASTER_WHISPER_MODEL).")
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise PermanentError(
            f"The faster-whisper model directory {model!r} lacks {', '.join(missing)}: convert a whisper "
            "checkpoint with `python manage.py convert_whisper CHECKPOINT DIR`."
        )
    return path


def load_model(model: str, device: str, compute_type: str, threads: int) -> Any:
    key = (model, device, compute_type, threads)
    with _lock:
        if key not in _models:
            from faster_whisper import WhisperModel

            directory = check_model_dir(model)
            try:
                _models[key] = WhisperModel(
                    str(directory) if directory else model,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=threads,
                    local_files_only=directory is not None,
                )
            except (OSError, ConnectionError) as exc:
                raise TransientError(f"Could not load the faster-whisper model {model!r}: {exc}") from exc
            except (RuntimeError, ValueError) as exc:
                raise PermanentError(f"The faster-whisper model {model!r} could not be loaded: {exc}") from exc
        return _models[key]


def transcribe(audio: np.ndarray, options: AsrOptions) -> TranscriptResult:
    loaded = load_model(options.model, options.device, options.compute_type, options.threads)
    segments_iter, info = loaded.transcribe(
        audio,
        language=options.language,
        beam_size=max(options.beam_size, 1),
        best_of=max(options.beam_size, 1),
        temperature=list(TEMPERATURES) if options.temperature_fallback else 0.0,
        word_timestamps=True,
        vad_filter=False,  # papercast cuts long audio at silences itself and keeps every timestamp
        condition_on_previous_text=True,
    )
    segments: list[SegmentResult] = []
    for seg in segments_iter:  # a generator: the work happens while iterating
        words = [
            WordResult(start=float(w.start), end=float(w.end), text=w.word.strip(), confidence=float(w.probability))
            for w in (seg.words or [])
            if w.word.strip()
        ]
        probabilities = [w.confidence for w in words if w.confidence is not None]
        segments.append(
            SegmentResult(
                start=float(seg.start),
                end=float(seg.end),
                text=seg.text.strip(),
                tokens=list(seg.tokens),
                temperature=seg.temperature,
                avg_logprob=seg.avg_logprob,
                compression_ratio=seg.compression_ratio,
                no_speech_prob=seg.no_speech_prob,
                confidence=sum(probabilities) / len(probabilities) if probabilities else None,
                words=words,
            )
        )
    return TranscriptResult(
        language=str(info.language or options.language or ""),
        text=" ".join(s.text for s in segments),
        segments=segments,
    )


# --- Forced alignment: the timings of words already known (as backends.whisper.align) --------------------


def align(audio: np.ndarray, text: str, options: AsrOptions) -> list[WordResult]:
    """The times of the words of `text`, which `audio` (16 kHz mono float32, at most 30 s) is known to say:
    one encoder pass and CTranslate2's alignment (the decoder over the known tokens, then dynamic time warping
    over the alignment heads' cross-attention). Whisper's words, punctuation merged, times from the start of
    `audio`; they concatenate to " " + text."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import merge_punctuations

    check_align_audio(audio)
    loaded = load_model(options.model, options.device, options.compute_type, options.threads)
    features = loaded.feature_extractor(audio)
    frames = min(features.shape[-1] - 1, loaded.feature_extractor.nb_max_frames)
    encoded = loaded.encode(pad_or_trim(features[..., : loaded.feature_extractor.nb_max_frames]))
    language = options.language
    if language is None and loaded.model.is_multilingual:
        language = loaded.model.detect_language(encoded)[0][0][0][2:-2]
    multilingual = loaded.model.is_multilingual
    tokenizer = Tokenizer(loaded.hf_tokenizer, multilingual, task="transcribe", language=language or "en")
    tokens = tokenizer.encode(" " + text.strip())
    check_align_tokens(tokens)
    if not tokens:
        return []
    [timings] = loaded.find_alignment(tokenizer, [tokens], encoded, frames)
    merge_punctuations(timings, PREPENDED_PUNCTUATION, APPENDED_PUNCTUATION)
    return [
        WordResult(float(t["start"]), float(t["end"]), t["word"], float(t["probability"])) for t in timings if t["word"]
    ]
