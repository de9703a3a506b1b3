"""Text to speech. Each backend writes a mono 16-bit WAV file for a text."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from django.conf import settings


class Speaker(Protocol):
    name: str

    def identity(self) -> str:
        """What goes into fingerprints: backend, voice and its parameters."""
        ...

    def speak(self, text: str, out_path: Path) -> float:
        """Write the narration of `text` to `out_path` (WAV); returns its duration in seconds."""
        ...


def get_speaker() -> Speaker:
    from media_pipeline.backends.tts.piper import PiperSpeaker

    backend = settings.PAPERCAST_TTS_BACKEND
    if backend == "piper":
        return PiperSpeaker(settings.PAPERCAST_PIPER_VOICE, voices_dir=settings.PAPERCAST_PIPER_VOICES_DIR)
    raise ValueError(f"unknown TTS backend {backend!r}")
