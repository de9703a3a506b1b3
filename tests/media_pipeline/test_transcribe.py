from __future__ import annotations

import itertools
from typing import Any

import pytest

from media_pipeline.backends import whisper
from media_pipeline.models import RunStatus, Segment, Stage, StageRun, Transcription, Word
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, run_inline

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_it_transcribes_speech_with_word_timings_and_reuses_the_result(project: Project, count_calls: Any) -> None:
    paper = make_audio_paper(project, JFK)
    calls = count_calls("whisper", whisper, "transcribe")
    run_inline(paper, until="transcribe")
    assert StageRun.objects.get(paper=paper, stage=Stage.TRANSCRIBE).status == RunStatus.SUCCEEDED
    transcription = Transcription.objects.get(paper=paper)
    assert "my fellow americans" in transcription.text.lower()
    assert transcription.language == "en" and abs(transcription.duration - 11.0) < 0.05
    americans = Word.objects.get(transcription=transcription, text__istartswith="americans")
    assert americans.start <= 1.8 <= americans.end  # openai-whisper's own test for this clip
    assert americans.confidence is not None and 0 < americans.confidence <= 1
    segment = Segment.objects.filter(transcription=transcription).first()
    assert segment is not None
    assert segment.tokens and segment.avg_logprob is not None and segment.no_speech_prob is not None
    assert segment.compression_ratio is not None and segment.temperature == 0.0
    words = list(Word.objects.filter(transcription=transcription).order_by("index").values_list("start", "end"))
    assert all(s <= e for s, e in words) and all(a[1] <= b[0] for a, b in itertools.pairwise(words))
    assert calls["whisper"] == 1

    run_inline(paper, until="transcribe")
    assert calls["whisper"] == 1  # same audio, model and parameters: reused
    assert Transcription.objects.filter(paper=paper).count() == 1


def test_it_sets_the_official_alignment_heads_for_a_checkpoint_loaded_by_path(settings: Any) -> None:
    import whisper as openai_whisper

    model = whisper.load_model(settings.PAPERCAST_WHISPER_MODEL, "cpu")
    heads = model.alignment_heads.to_dense().nonzero().tolist()
    reference = openai_whisper._ALIGNMENT_HEADS["tiny.en"]
    fresh = openai_whisper.model.Whisper(model.dims)
    fresh.set_alignment_heads(reference)
    assert heads == fresh.alignment_heads.to_dense().nonzero().tolist()


def test_a_missing_checkpoint_fails_clearly(project: Project, settings: Any) -> None:
    settings.PAPERCAST_WHISPER_MODEL = "/nonexistent/tiny.pt"
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    run = StageRun.objects.get(paper=paper, stage=Stage.TRANSCRIBE)
    assert run.status == RunStatus.FAILED and "does not exist" in run.error and run.attempts == 1


def test_a_recording_uploaded_without_a_title_takes_its_own_title_tag(project: Project, tmp_path: Any) -> None:
    """A podcast named only by its file ("fireflies") takes the title the recording carries; a given one stays."""
    import subprocess

    from projects import services
    from projects.models import Paper

    tagged = tmp_path / "fireflies.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(JFK), "-metadata", "title=Ask Not: The 1961 Inaugural Address",
         "-codec:a", "libmp3lame", "-q:a", "6", str(tagged)],
        check=True, timeout=60,
    )  # fmt: skip
    with tagged.open("rb") as handle:
        untitled = services.paper_create_from_audio(project=project, file=handle, filename=tagged.name)
    assert (untitled.title, untitled.title_from_source) == ("fireflies", True)
    with tagged.open("rb") as handle:
        titled = services.paper_create_from_audio(project=project, title="JFK", file=handle, filename=tagged.name)
    for paper in (untitled, titled):
        run_inline(paper, until="transcribe")
    assert Paper.objects.get(pk=untitled.pk).title == "Ask Not: The 1961 Inaugural Address"
    assert Paper.objects.get(pk=titled.pk).title == "JFK"
