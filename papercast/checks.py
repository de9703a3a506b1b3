"""System checks: tell the operator at start-up what the pipeline will be missing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register


@register()
def media_tools(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for setting in ("PAPERCAST_FFMPEG", "PAPERCAST_FFPROBE"):
        program = getattr(settings, setting)
        if shutil.which(program) is None:
            problems.append(
                Warning(
                    f"{program!r} was not found; transcribe and render will fail.",
                    hint=f"Install ffmpeg (apt-get install ffmpeg) or set {setting}.",
                    id="papercast.W001",
                )
            )
    model = settings.PAPERCAST_WHISPER_MODEL
    if ("/" in model or model.endswith(".pt")) and not Path(model).expanduser().is_file():
        problems.append(
            Warning(f"PAPERCAST_WHISPER_MODEL points at {model!r}, which does not exist.", id="papercast.W002")
        )
    voice = settings.PAPERCAST_PIPER_VOICE
    if ("/" in voice or voice.endswith(".onnx")) and not Path(voice).expanduser().is_file():
        problems.append(
            Warning(f"PAPERCAST_PIPER_VOICE points at {voice!r}, which does not exist.", id="papercast.W003")
        )
    return problems
