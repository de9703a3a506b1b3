"""Text to speech. Each backend writes a mono 16-bit WAV file for one sentence.

Backends: piper (neural voices, offline; the default), espeak (Debian's espeak-ng, offline, robotic but
always there) and openai (any OpenAI-compatible /v1/audio/speech server, e.g. Kokoro-FastAPI). With the
default PAPERCAST_TTS_FALLBACK=espeak, a piper voice that is not installed falls back to espeak-ng, and the
run says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from media_pipeline.backends.errors import PermanentError
from projects.installed import piper_voice_problem

if TYPE_CHECKING:
    from projects.models import Project


class Speaker(Protocol):
    name: str
    note: str  # what a person should know about this voice choice ("" normally)

    def identity(self) -> str:
        """What goes into fingerprints: backend, voice and its parameters."""
        ...

    def speak(self, text: str, out_path: Path) -> float:
        """Write the narration of `text` to `out_path` (mono 16-bit WAV); returns its duration in seconds."""
        ...


def get_speaker(project: Project | None = None) -> Speaker:
    """The project's voice (its tts_voice and tts_rate), or the server's defaults."""
    backend = settings.PAPERCAST_TTS_BACKEND
    voice = project.tts_voice if project is not None and project.tts_voice else ""
    rate = project.tts_rate if project is not None else 1.0
    if backend == "openai":
        from media_pipeline.backends.tts.openai import OpenAISpeaker

        return OpenAISpeaker(voice or settings.PAPERCAST_TTS_VOICE, rate=rate)
    if backend == "espeak":
        from media_pipeline.backends.tts.espeak import EspeakSpeaker

        return EspeakSpeaker(voice or settings.PAPERCAST_ESPEAK_VOICE, rate=rate)
    from media_pipeline.backends.tts.piper import PiperSpeaker, resolve_voice

    if voice:
        # A project names one of the operator's voices; only the operator's own setting may be a path. Refused
        # outright (no espeak fallback), with the form's message, whatever exists on the worker's disk.
        problem = piper_voice_problem(voice)
        if problem is not None:
            raise PermanentError(problem)
    speaker = PiperSpeaker(
        voice or settings.PAPERCAST_PIPER_VOICE, voices_dir=settings.PAPERCAST_PIPER_VOICES_DIR, rate=rate
    )
    try:
        resolve_voice(speaker.voice, speaker.voices_dir)
    except PermanentError as missing:
        if settings.PAPERCAST_TTS_FALLBACK != "espeak":
            raise
        from media_pipeline.backends.tts.espeak import EspeakSpeaker, espeak_available

        if not espeak_available():
            raise
        fallback = EspeakSpeaker(settings.PAPERCAST_ESPEAK_VOICE, rate=rate)
        fallback.note = f"Spoken by espeak-ng instead of piper: {missing}"
        return fallback
    return speaker
