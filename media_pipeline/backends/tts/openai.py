"""Any OpenAI-compatible speech server: POST {PAPERCAST_TTS_URL}/audio/speech (OpenAI, Kokoro-FastAPI, ...).

The request is {"model", "input", "voice", "response_format": "wav", "speed"}; the reply is the audio
itself. Whatever audio comes back is checked with ffprobe and converted to mono 16-bit WAV (some servers
write WAV headers without lengths, or answer in another format than asked).
"""

from __future__ import annotations

import wave
from pathlib import Path

from django.conf import settings

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.http import HttpPolicy, HttpStatusError, send

MAX_AUDIO_BYTES = 64 * 1024 * 1024


class OpenAISpeaker:
    name = "openai"

    def __init__(self, voice: str, *, rate: float = 1.0) -> None:
        self.url = settings.PAPERCAST_TTS_URL.rstrip("/")
        self.model = settings.PAPERCAST_TTS_MODEL
        self.voice = voice
        self.rate = rate
        self.note = ""
        self.policy = HttpPolicy(
            connect_timeout=5.0, read_timeout=settings.PAPERCAST_TTS_READ_TIMEOUT, retries=3, backoff=1.0
        )

    @property
    def server(self) -> str:
        return f"tts:{self.url}"

    def identity(self) -> str:
        return f"openai-tts:{self.url}:{self.model}:{self.voice}:s{self.rate:g}"

    def speak(self, text: str, out_path: Path) -> float:
        key = settings.PAPERCAST_TTS_API_KEY
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {"model": self.model, "input": text, "voice": self.voice, "response_format": "wav", "speed": self.rate}
        try:
            response = send(
                "POST",
                f"{self.url}/audio/speech",
                policy=self.policy,
                body=body,
                headers=headers,
                service="The speech server",
            )
        except HttpStatusError as exc:
            raise self._explain(exc) from None
        if len(response.content) > MAX_AUDIO_BYTES or not response.content:
            raise PermanentError(
                f"The speech server at {self.url} answered with {len(response.content)} bytes of audio."
            )
        raw = out_path.with_suffix(".reply")
        raw.write_bytes(response.content)
        try:
            ffmpeg.audio_to_wav(raw, out_path)
        except PermanentError as exc:
            raise PermanentError(
                f"The speech server at {self.url} answered with audio papercast cannot read: {exc}"
            ) from None
        finally:
            raw.unlink(missing_ok=True)
        with wave.open(str(out_path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
        if frames == 0:
            raise PermanentError(f"The speech server at {self.url} returned no audio for this text.")
        return frames / rate

    def _explain(self, exc: HttpStatusError) -> PermanentError:
        detail = exc.server_message()
        if exc.status in (401, 403):
            return PermanentError(
                f"The speech server at {self.url} refused the API key (PAPERCAST_TTS_API_KEY): {detail}"
            )
        if exc.status in (400, 404, 422):
            return PermanentError(
                f"The speech server at {self.url} refused the model {self.model!r} or the voice {self.voice!r} "
                f"({exc.status}: {detail}). Check PAPERCAST_TTS_MODEL and the voice (PAPERCAST_TTS_VOICE or the "
                "project's)."
            )
        return PermanentError(f"The speech server at {self.url} refused the request ({exc.status}): {detail}")
