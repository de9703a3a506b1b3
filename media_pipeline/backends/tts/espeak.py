"""Debian's espeak-ng: offline formant speech, less natural than piper but always installable (apt)."""

from __future__ import annotations

import functools
import shutil
import wave
from pathlib import Path

from django.conf import settings

from media_pipeline.backends import process
from media_pipeline.backends.errors import PermanentError

WORDS_PER_MINUTE = 165  # espeak-ng's rate at papercast's rate 1


def espeak_available() -> bool:
    return shutil.which(settings.PAPERCAST_ESPEAK) is not None


@functools.cache
def installed_voices(program: str) -> frozenset[str]:
    """Language codes, voice names and voice files espeak-ng knows (it falls back silently otherwise)."""
    done = process.run([program, "--voices"], timeout=30)
    names: set[str] = set()
    for line in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            names.update(c.lower() for c in (columns[1], columns[3], columns[4]))
    return frozenset(names)


class EspeakSpeaker:
    name = "espeak"

    def __init__(self, voice: str, *, rate: float = 1.0) -> None:
        self.voice = voice
        self.rate = rate
        self.note = ""

    def identity(self) -> str:
        return f"espeak-ng:{self.voice}:{round(WORDS_PER_MINUTE * self.rate)}"

    def speak(self, text: str, out_path: Path) -> float:
        program = shutil.which(settings.PAPERCAST_ESPEAK)
        if program is None:
            raise PermanentError(
                f"espeak-ng ({settings.PAPERCAST_ESPEAK!r}) is not installed: apt-get install espeak-ng, "
                "or choose another PAPERCAST_TTS_BACKEND."
            )
        if self.voice.split("+")[0].lower() not in installed_voices(program):
            known = sorted(v for v in installed_voices(program) if v.startswith("en"))[:8]
            raise PermanentError(
                f"espeak-ng could not speak with the voice {self.voice!r}: it has no such voice "
                f"(`espeak-ng --voices` lists them; English ones include {', '.join(known)})."
            )
        # The text goes in on stdin, never as an argument: it cannot be taken for an option.
        args = [
            program,
            "-v",
            self.voice,
            "-s",
            str(round(WORDS_PER_MINUTE * self.rate)),
            "-w",
            str(out_path),
            "--stdin",
        ]
        done = process.run(args, timeout=120, input_bytes=text.encode("utf-8"))
        if done.returncode != 0 or not out_path.is_file():
            message = done.stderr.decode("utf-8", "replace").strip()[:300]
            raise PermanentError(f"espeak-ng could not speak with the voice {self.voice!r}: {message}")
        with wave.open(str(out_path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
        if frames == 0:
            raise PermanentError("espeak-ng produced no audio for this text.")
        return frames / rate
