"""A project's piper voice and whisper model name one the operator installed, never a file on the workers:
the admin's project form refuses anything else, and the backends refuse it again with the same message,
whatever exists on disk (no existence oracle, no checkpoint unpickled, no model downloaded by name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.forms import model_to_dict
from django.test import RequestFactory

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.tts import get_speaker
from media_pipeline.backends.tts.piper import PiperSpeaker
from media_pipeline.stages import transcribe
from projects.installed import whisper_model_name
from projects.models import Project
from tests.conftest import PIPER_VOICE, WHISPER_MODEL, make_text_paper

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
WHISPER_NAME = whisper_model_name(WHISPER_MODEL)  # tiny.en for .../tiny.en.pt


@pytest.fixture
def voices(settings: Any, tmp_path: Path) -> Path:
    """The operator's voices dir holds en_US-joe-medium; the file x.onnx lies just outside it."""
    voices = tmp_path / "voices"
    voices.mkdir()
    for suffix in (".onnx", ".onnx.json"):
        (voices / f"en_US-joe-medium{suffix}").symlink_to(Path(PIPER_VOICE + suffix.removeprefix(".onnx")))
    (tmp_path / "x.onnx").write_bytes(b"not a voice")
    settings.PAPERCAST_PIPER_VOICES_DIR = voices
    settings.PAPERCAST_TTS_BACKEND = "piper"
    return voices


def form_errors(project: Project, user: User, **changes: str) -> dict[str, list[str]]:
    """The errors of the admin's own project form, for the project with these changes."""
    request = RequestFactory().post("/")
    request.user = user
    form_class = admin.site._registry[Project].get_form(request, project)
    data = {**model_to_dict(project, exclude=["music"]), **changes}
    form = form_class(data=data, instance=project)
    form.is_valid()
    return {name: list(errors) for name, errors in form.errors.items()}


@pytest.mark.parametrize(
    "voice", ["/etc/passwd", "../x", PIPER_VOICE, "en_US-joe-medium.onnx", "voices/en_US-joe-medium", "en_GB-alan-low"]
)
def test_it_refuses_a_piper_voice_that_is_not_an_installed_name(
    voices: Path, project: Project, users: dict[str, User], voice: str
) -> None:
    errors = form_errors(project, users["alice"], tts_voice=voice)
    assert list(errors) == ["tts_voice"]
    [message] = errors["tts_voice"]
    assert message.startswith(
        f"{voice!r} is not a piper voice installed for projects: choose one of: en_US-joe-medium;"
    )


def test_it_accepts_an_installed_piper_voice_by_name_and_lists_the_choices(
    voices: Path, project: Project, users: dict[str, User]
) -> None:
    assert form_errors(project, users["alice"], tts_voice="en_US-joe-medium") == {}
    assert form_errors(project, users["alice"], tts_voice="") == {}
    request = RequestFactory().get("/")
    request.user = users["alice"]
    form = admin.site._registry[Project].get_form(request, project)(instance=project)
    assert form.fields["tts_voice"].help_text.endswith("Installed: en_US-joe-medium.")


def test_it_leaves_other_speech_backends_their_own_voice_names(
    voices: Path, settings: Any, project: Project, users: dict[str, User]
) -> None:
    settings.PAPERCAST_TTS_BACKEND = "openai"
    assert form_errors(project, users["alice"], tts_voice="af_bella") == {}


@pytest.mark.parametrize(("voice", "other"), [("../x", "../y"), ("/etc/passwd", "/etc/no-such-passwd")])
def test_the_speech_backend_refuses_a_path_with_the_forms_message_whether_or_not_it_exists(
    voices: Path, project: Project, users: dict[str, User], voice: str, other: str
) -> None:
    messages = []
    for value in (voice, other):  # the first exists on the worker, the second does not
        project.tts_voice = value
        # espeak-ng is installed and PAPERCAST_TTS_FALLBACK=espeak: a refused voice still does not fall back.
        with pytest.raises(PermanentError) as refused:
            get_speaker(project)
        assert str(refused.value) == form_errors(project, users["alice"], tts_voice=value)["tts_voice"][0]
        messages.append(str(refused.value).replace(repr(value), "VOICE"))
    assert messages[0] == messages[1]


def test_the_speech_backend_speaks_with_an_installed_voice_named_by_the_project(voices: Path, project: Project) -> None:
    project.tts_voice = "en_US-joe-medium"
    speaker = get_speaker(project)
    assert isinstance(speaker, PiperSpeaker) and speaker.identity().startswith("piper:en_US-joe-medium.onnx:")


@pytest.mark.parametrize("model", ["/etc/passwd", "../tiny.en.pt", WHISPER_MODEL, "tiny.en.pt", "large-v3"])
def test_it_refuses_a_whisper_model_that_is_not_an_installed_name(
    project: Project, users: dict[str, User], model: str
) -> None:
    # The configured model is the only choice by default: tiny.en, by its file's name.
    assert WHISPER_NAME not in (model, "")
    errors = form_errors(project, users["alice"], whisper_model=model)
    assert errors == {
        "whisper_model": [
            f"{model!r} is not a whisper model installed for projects: choose one of: {WHISPER_NAME}; or leave it "
            "empty for the server's default. A project names one by its name, never by a path; the operator installs "
            "them (PAPERCAST_WHISPER_MODELS)."
        ]
    }
    project.whisper_model = model
    project.save()
    paper = make_text_paper(project, "Bees vote.")
    with pytest.raises(PermanentError) as refused:
        transcribe.model_for(paper)
    assert str(refused.value) == errors["whisper_model"][0]


def test_a_project_chooses_among_the_operators_whisper_models_by_name(
    settings: Any, project: Project, users: dict[str, User]
) -> None:
    settings.PAPERCAST_WHISPER_MODELS = ["base.en", WHISPER_MODEL]
    assert form_errors(project, users["alice"], whisper_model="base.en") == {}
    assert form_errors(project, users["alice"], whisper_model=WHISPER_NAME) == {}
    assert (
        f"choose one of: {', '.join(sorted({'base.en', WHISPER_NAME}))};"
        in form_errors(project, users["alice"], whisper_model="small")["whisper_model"][0]
    )
    paper = make_text_paper(project, "Bees vote.")
    project.whisper_model = WHISPER_NAME
    project.save()
    paper.refresh_from_db()
    assert transcribe.model_for(paper) == WHISPER_MODEL  # the operator's path, named by the project
    project.whisper_model = ""
    project.save()
    paper.refresh_from_db()
    assert transcribe.model_for(paper) == WHISPER_MODEL  # the server's default, as before


def test_a_path_in_the_operators_voice_list_stops_start_up(tmp_path: Path) -> None:
    env = {**os.environ, "PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_PIPER_VOICES": "en_US-joe-medium,/etc/passwd"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "PAPERCAST_PIPER_VOICES: '/etc/passwd' is not a voice name" in result.stderr
