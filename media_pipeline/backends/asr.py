"""Speech recognition engines behind one interface. Each engine module provides:

- `ENGINE`: its name, stored on the Transcription;
- `model_identity(model)`: what of the model goes into fingerprints;
- `transcribe(audio, options)`: 16 kHz mono float32 samples -> TranscriptResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16_000
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


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


@dataclass(frozen=True)
class AsrOptions:
    model: str
    device: str
    language: str | None
    beam_size: int
    temperature_fallback: bool = True
    threads: int = 0
    compute_type: str = "default"


def opt_float(value: object) -> float | None:
    if value is None:
        return None
    return float(value)  # type: ignore[arg-type]


def as_float32(samples: np.ndarray) -> np.ndarray:
    """int16 PCM (as decoded) -> float32 in [-1, 1), which every engine takes."""
    return samples.astype(np.float32) / 32768.0
