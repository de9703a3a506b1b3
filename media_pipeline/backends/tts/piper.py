"""piper-tts: fast, good-quality offline neural speech (ONNX voices)."""

from __future__ import annotations

import threading
import wave
from pathlib import Path
from typing import Any

from media_pipeline.backends.errors import PermanentError

_voices: dict[str, Any] = {}
_lock = threading.Lock()


def resolve_voice(voice: str, voices_dir: Path) -> Path:
    """A voice given as a path to its .onnx file, or as a name looked up in the voices directory."""
    candidate = Path(voice).expanduser()
    if candidate.suffix == ".onnx" or "/" in voice:
        if not candidate.is_file():
            raise PermanentError(f"The piper voice file {voice!r} does not exist (PAPERCAST_PIPER_VOICE).")
        return candidate
    named = voices_dir / f"{voice}.onnx"
    if named.is_file():
        return named
    raise PermanentError(
        f"The piper voice {voice!r} is not installed in {voices_dir}. Download it there with "
        f"`python -m piper.download_voices {voice} --data-dir {voices_dir}` on a machine with internet, "
        "or set PAPERCAST_PIPER_VOICE to the path of a .onnx voice."
    )


class PiperSpeaker:
    name = "piper"
    note = ""

    def __init__(self, voice: str, *, voices_dir: Path, rate: float = 1.0) -> None:
        self.voice = voice
        self.voices_dir = voices_dir
        self.rate = rate

    def identity(self) -> str:
        path = resolve_voice(self.voice, self.voices_dir)
        return f"piper:{path.name}:{path.stat().st_size}:r{self.rate:g}"

    def _load(self) -> Any:
        path = resolve_voice(self.voice, self.voices_dir)
        key = str(path.resolve())
        with _lock:
            if key not in _voices:
                from piper import PiperVoice

                config = Path(str(path) + ".json")
                if not config.is_file():
                    raise PermanentError(f"The piper voice {path} has no config file beside it ({config.name}).")
                _voices[key] = PiperVoice.load(path, config_path=config)
            return _voices[key]

    def speak(self, text: str, out_path: Path) -> float:
        from piper import SynthesisConfig

        voice = self._load()
        with wave.open(str(out_path), "wb") as wav:
            # piper's length_scale stretches phonemes: 1/rate speaks `rate` times as fast.
            voice.synthesize_wav(text, wav, syn_config=SynthesisConfig(length_scale=1.0 / self.rate))
        with wave.open(str(out_path), "rb") as wav:
            frames = wav.getnframes()
            rate = wav.getframerate()
        if frames == 0:
            raise PermanentError("piper produced no audio for this text.")
        return frames / rate
