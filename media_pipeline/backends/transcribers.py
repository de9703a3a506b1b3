"""The configured speech recogniser (PAPERCAST_TRANSCRIBER), imported only when it is asked for."""

from __future__ import annotations

from types import ModuleType

from media_pipeline.backends.errors import PermanentError
from projects.installed import whisper_model_choices, whisper_model_problem


def get_engine(name: str) -> ModuleType:
    if name == "whisper-timestamped":
        from media_pipeline.backends import whisper

        return whisper
    if name == "faster-whisper":
        from media_pipeline.backends import faster_whisper

        return faster_whisper
    raise ValueError(f"unknown transcriber {name!r}")


def project_model(choice: str) -> str:
    """What the engine loads for a project's whisper model, which names one the operator installed.

    A path, or a name the operator did not list, is refused with the project form's message (never a
    checkpoint loaded or a model downloaded on an editor's say-so).
    """
    problem = whisper_model_problem(choice)
    if problem is not None:
        raise PermanentError(problem)
    return whisper_model_choices()[choice]
