"""The piper voices and whisper models a project may choose: those the operator installed for projects.

Only the operator's settings (the environment) name files on the workers. A project names one of the
operator's choices by a plain name ("en_US-joe-medium", "tiny.en"), never a path: a path would let an
editor probe the workers' files ("does not exist" against "could not be loaded"), have torch unpickle any
file, or start a download of gigabytes by naming a model nobody installed.

- piper voices: the names in PAPERCAST_PIPER_VOICES, else the `.onnx` voices in PAPERCAST_PIPER_VOICES_DIR.
- whisper models: PAPERCAST_WHISPER_MODELS (names or paths), else the transcriber's configured model;
  a path is chosen by its file name without `.pt` ("tiny.en" for /models/tiny.en.pt).

The admin's project form refuses anything else, and the backends refuse it again when a project's value is
used, with the same message. The message lists the choices and never depends on what exists on disk.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path, PurePath

from django.conf import settings

_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_CHECKPOINT_SUFFIXES = (".pt", ".ckpt", ".bin")


def is_plain_name(value: str) -> bool:
    """A name, not a path: no separator, no '..', nothing but letters, digits and `_ . + -`."""
    return bool(_PLAIN_NAME.fullmatch(value)) and ".." not in value


def piper_voice_choices() -> list[str]:
    """The piper voices a project may name, sorted."""
    configured = [name for name in settings.PAPERCAST_PIPER_VOICES if is_plain_name(name)]
    if configured:
        return sorted(set(configured))
    voices_dir = Path(settings.PAPERCAST_PIPER_VOICES_DIR)
    try:
        found = [path.name.removesuffix(".onnx") for path in voices_dir.glob("*.onnx")]
    except OSError:
        return []
    return sorted(name for name in found if is_plain_name(name))


def transcriber() -> str:
    """The speech engine: PAPERCAST_TRANSCRIBER, or for `auto` (the default) faster-whisper where a converted
    CTranslate2 model directory is configured and the worker has no GPU (4 to 10 times faster than
    whisper-timestamped on a CPU, with the same words and word times: see README.md), else
    whisper-timestamped (GPUs, and workers without a converted model)."""
    choice = str(settings.PAPERCAST_TRANSCRIBER)
    if choice != "auto":
        return choice
    converted = str(settings.PAPERCAST_FASTER_WHISPER_MODEL)
    if not converted or not Path(converted).expanduser().is_dir():
        return "whisper-timestamped"
    if settings.PAPERCAST_WHISPER_DEVICE == "cuda" or (settings.PAPERCAST_WHISPER_DEVICE == "auto" and _has_cuda()):
        return "whisper-timestamped"
    return "faster-whisper"


@functools.cache
def _has_cuda() -> bool:
    """Whether this machine has a CUDA device (CTranslate2 asks the driver; torch is not imported)."""
    try:
        import ctranslate2

        return bool(ctranslate2.get_cuda_device_count())
    except Exception:  # no CUDA runtime at all
        return False


def configured_whisper_model() -> str:
    """The server's own model for the transcriber (a name or a path)."""
    if transcriber() == "faster-whisper":
        return str(settings.PAPERCAST_FASTER_WHISPER_MODEL)
    return str(settings.PAPERCAST_WHISPER_MODEL)


def whisper_model_name(model: str) -> str:
    """The name a project chooses an operator's model by: a name as it is, a path by its file name."""
    name = PurePath(model.rstrip("/")).name
    for suffix in _CHECKPOINT_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def whisper_model_choices() -> dict[str, str]:
    """A project's possible choices, each with what the engine is given for it (the operator's name or path)."""
    models = list(settings.PAPERCAST_WHISPER_MODELS) or [configured_whisper_model()]
    return {whisper_model_name(model): model for model in models}


def _refusal(what: str, value: str, choices: list[str], settings_names: str) -> str:
    offered = f"choose one of: {', '.join(choices)}" if choices else "none is installed for projects"
    return (
        f"{value!r} is not a {what} installed for projects: {offered}; or leave it empty for the server's "
        f"default. A project names one by its name, never by a path; the operator installs them ({settings_names})."
    )


def piper_voice_problem(voice: str) -> str | None:
    """Why a project may not speak with this piper voice, or None when it may."""
    choices = piper_voice_choices()
    if is_plain_name(voice) and voice in choices:
        return None
    return _refusal("piper voice", voice, choices, "PAPERCAST_PIPER_VOICES_DIR, PAPERCAST_PIPER_VOICES")


def whisper_model_problem(model: str) -> str | None:
    """Why a project may not transcribe with this whisper model, or None when it may."""
    choices = whisper_model_choices()
    if is_plain_name(model) and model in choices:
        return None
    return _refusal("whisper model", model, sorted(choices), "PAPERCAST_WHISPER_MODELS")
