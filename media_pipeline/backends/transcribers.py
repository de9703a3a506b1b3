"""The configured speech recogniser (PAPERCAST_TRANSCRIBER), imported only when it is asked for."""

from __future__ import annotations

from types import ModuleType


def get_engine(name: str) -> ModuleType:
    if name == "whisper-timestamped":
        from media_pipeline.backends import whisper

        return whisper
    if name == "faster-whisper":
        from media_pipeline.backends import faster_whisper

        return faster_whisper
    raise ValueError(f"unknown transcriber {name!r}")
