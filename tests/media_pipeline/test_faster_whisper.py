"""faster-whisper: the same rows as whisper-timestamped. Recognition tests need a CTranslate2 model
directory in PAPERCAST_FASTER_WHISPER_MODEL (none can be downloaded here) and skip cleanly without one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from media_pipeline.models import RunStatus, Stage, StageRun, Transcription, Word
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, run_inline

pytestmark = pytest.mark.django_db(transaction=True)
CT2_MODEL = os.environ.get("PAPERCAST_FASTER_WHISPER_MODEL", "")
needs_model = pytest.mark.skipif(
    not (CT2_MODEL and Path(CT2_MODEL).is_dir()),
    reason="no CTranslate2 model directory in PAPERCAST_FASTER_WHISPER_MODEL",
)


def _failure(project: Project, settings: Any, model: str) -> str:
    settings.PAPERCAST_TRANSCRIBER = "faster-whisper"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = model
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    run = StageRun.objects.get(paper=paper, stage=Stage.TRANSCRIBE)
    assert run.status == RunStatus.FAILED and run.attempts == 1
    return run.error


def test_a_missing_model_directory_fails_clearly(project: Project, settings: Any) -> None:
    assert "is not a directory" in _failure(project, settings, "/nonexistent/ct2-tiny")


def test_an_incomplete_model_directory_names_what_is_missing(project: Project, settings: Any, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    error = _failure(project, settings, str(tmp_path))
    assert "lacks model.bin, tokenizer.json" in error and "ct2-transformers-converter" in error


@needs_model
@pytest.mark.slow
def test_faster_whisper_transcribes_jfk_into_the_same_rows(project: Project, settings: Any) -> None:
    settings.PAPERCAST_TRANSCRIBER = "faster-whisper"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = CT2_MODEL
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    transcription = Transcription.objects.get(paper=paper)
    assert transcription.engine == "faster-whisper"
    assert "my fellow americans" in transcription.text.lower()
    americans = Word.objects.get(transcription=transcription, text__istartswith="americans")
    assert americans.start <= 1.8 <= americans.end and americans.confidence is not None
