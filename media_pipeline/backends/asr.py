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


# --- Forced alignment, as both engines do it ------------------------------------------------------------

ALIGN_WINDOW_SECONDS = 30.0  # whisper's input: one encoder pass covers this much audio
ALIGN_MAX_TOKENS = 400  # the decoder's context is 448 tokens, the start sequence included
# Punctuation whisper's word splitter leaves apart, merged into the word before (appended) or after it.
PREPENDED_PUNCTUATION = "\"'“¿([{-"
APPENDED_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


def check_align_audio(audio: np.ndarray) -> None:
    """ValueError when `audio` is longer than one alignment window (the caller splits or recognises)."""
    if len(audio) > ALIGN_WINDOW_SECONDS * SAMPLE_RATE:
        seconds = len(audio) / SAMPLE_RATE
        raise ValueError(f"align takes at most {ALIGN_WINDOW_SECONDS:.0f} s of audio; got {seconds:.1f} s")


def check_align_tokens(tokens: list[int]) -> None:
    """ValueError when the text has more tokens than one decoder pass takes."""
    if len(tokens) > ALIGN_MAX_TOKENS:
        raise ValueError(f"align takes at most {ALIGN_MAX_TOKENS} tokens of text; got {len(tokens)}")
