"""Speech recognition with whisper-timestamped (word timestamps and confidences).

A model is a name ("base.en": the engine downloads it on a machine with internet) or a checkpoint path
(loaded from disk, never downloaded). Models are cached per process: a worker loads each one once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from media_pipeline.backends.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)

ENGINE = "whisper-timestamped"
_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


@dataclass
class WordResult:
    start: float
    end: float
    text: str
    confidence: float | None


@dataclass
class SegmentResult:
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float | None
    avg_logprob: float | None
    compression_ratio: float | None
    no_speech_prob: float | None
    confidence: float | None
    words: list[WordResult] = field(default_factory=list)


@dataclass
class TranscriptResult:
    language: str
    text: str
    segments: list[SegmentResult]


def resolve_device(preference: str) -> str:
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


def _alignment_name(model: str) -> str | None:
    """The official model name whose alignment heads apply ("tiny.en" for .../tiny.en.pt)."""
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
        name = _alignment_name(model)
        if name is not None:
            # A checkpoint loaded by path gets default heads; the official ones give accurate word times.
            loaded.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
        else:
            logger.warning("No official alignment heads known for %s; word timings use the defaults.", model)
        _models[key] = loaded
        return loaded


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    return float(value)  # type: ignore[arg-type]


def transcribe(
    audio: np.ndarray,
    *,
    model: str,
    device: str,
    language: str | None,
    beam_size: int,
    temperature_fallback: bool = True,
    threads: int = 0,
) -> TranscriptResult:
    """Transcribe 16 kHz mono float32 audio. Deterministic for the same inputs on the same device."""
    import torch
    import whisper_timestamped

    if threads > 0:
        torch.set_num_threads(threads)
    loaded = load_model(model, device)
    try:
        result = whisper_timestamped.transcribe(
            loaded,
            audio,
            language=language,
            beam_size=beam_size if beam_size > 1 else None,
            best_of=beam_size if beam_size > 1 else None,
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if temperature_fallback else 0.0,
            fp16=device == "cuda",
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
                confidence=_opt_float(w.get("confidence")),
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
                temperature=_opt_float(seg.get("temperature")),
                avg_logprob=_opt_float(seg.get("avg_logprob")),
                compression_ratio=_opt_float(seg.get("compression_ratio")),
                no_speech_prob=_opt_float(seg.get("no_speech_prob")),
                confidence=_opt_float(seg.get("confidence")),
                words=words,
            )
        )
    return TranscriptResult(
        language=str(result.get("language") or language or ""),
        text=str(result.get("text", "")).strip(),
        segments=segments,
    )
