from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from media_pipeline.backends.pdf import read_pdf
from media_pipeline.models import RunStatus, Stage, StageRun, Transcription
from media_pipeline.stages.extract import read_document
from projects import services
from projects.models import Paper, Project
from tests.conftest import make_audio_paper, make_text_paper, make_tone, run_inline
from tests.fakes import pdf_traps

pytestmark = pytest.mark.django_db(transaction=True)


def _only_failure(paper: Paper) -> StageRun:
    runs = list(StageRun.objects.filter(paper=paper))
    assert len(runs) == 1, "the pipeline must stop at the stage that found the problem"
    run = runs[0]
    assert run.status == RunStatus.FAILED
    assert run.attempts == 1, "bad input is never retried"
    return run


def _source_kept(paper: Paper, expected: bytes) -> None:
    paper.refresh_from_db()
    with paper.source_file.open("rb") as handle:
        assert handle.read() == expected


@pytest.mark.parametrize("text", ["", "   \n\t\n  "])
def test_it_rejects_empty_text_with_a_clear_message(project: Project, text: str) -> None:
    paper = make_text_paper(project, text)
    run_inline(paper)
    run = _only_failure(paper)
    assert run.stage == Stage.NARRATE
    assert "The text is empty" in run.error
    _source_kept(paper, text.encode())


def test_it_rejects_a_text_file_that_is_not_utf8_and_keeps_it(project: Project) -> None:
    data = "Les abeilles dansent très bien.".encode("latin-1")
    paper = make_text_paper(project, data)
    run_inline(paper)
    run = _only_failure(paper)
    assert "not UTF-8" in run.error and "0xe8" in run.error and "Save it as UTF-8" in run.error
    _source_kept(paper, data)


def test_it_rejects_text_over_the_length_limit(project: Project, settings: Any) -> None:
    settings.PAPERCAST_MAX_TEXT_CHARS = 100
    paper = make_text_paper(project, "word " * 50)
    run_inline(paper)
    assert "limit is 100" in _only_failure(paper).error


def test_it_refuses_an_hls_playlist_renamed_mp3_without_following_it(project: Project, tmp_dir: Path) -> None:
    # The playlist points at a local file; ffmpeg following it would decode that file as the narration.
    target = make_tone(tmp_dir / "secret.wav", 2)
    playlist = tmp_dir / "episode.mp3"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile://{target}\n#EXT-X-ENDLIST\n")
    paper = make_audio_paper(project, playlist)
    run_inline(paper)
    run = _only_failure(paper)
    assert run.stage == Stage.TRANSCRIBE
    assert "not audio in a format papercast accepts" in run.error
    assert not Transcription.objects.filter(paper=paper).exists()
    _source_kept(paper, playlist.read_bytes())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.mp3", b"These are meeting notes, not audio at all.\n" * 20, "not audio in a format papercast accepts"),
        ("empty.wav", b"", "not audio in a format papercast accepts"),
    ],
)
def test_it_rejects_files_that_are_not_audio(
    project: Project, tmp_dir: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_dir / name
    path.write_bytes(content)
    paper = make_audio_paper(project, path)
    run_inline(paper)
    assert message in _only_failure(paper).error


def test_it_rejects_a_video_container_format_outside_the_allowlist(project: Project, tmp_dir: Path) -> None:
    path = make_tone(tmp_dir / "talk.avi", 1, fmt="avi")
    with pytest.raises(ValidationError, match="not audio in a format papercast accepts"):
        make_audio_paper(project, path)  # neither its bytes nor its name are an allowed format: refused at once
    # Named as allowed audio, it is stored, and the transcribe stage's probe refuses the container.
    paper = make_audio_paper(project, path.rename(tmp_dir / "talk.mp3"))
    run_inline(paper)
    assert "not audio in a format papercast accepts" in _only_failure(paper).error


def test_it_rejects_audio_longer_than_the_limit(project: Project, tmp_dir: Path, settings: Any) -> None:
    settings.PAPERCAST_MAX_AUDIO_SECONDS = 2.0
    path = make_tone(tmp_dir / "long.flac", 3, fmt="flac")
    paper = make_audio_paper(project, path)
    run_inline(paper)
    error = _only_failure(paper).error
    assert "The audio is 3.0 s long; the limit is 2.0 s (PAPERCAST_MAX_AUDIO_SECONDS)" in error


def test_it_refuses_an_upload_over_the_size_limit_before_storing_it(project: Project, settings: Any) -> None:
    settings.PAPERCAST_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(ValidationError, match="limit is"):
        services.paper_create_from_audio(project=project, title="Big", file=io.BytesIO(b"x" * 2000), filename="big.wav")
    assert not Paper.objects.filter(title="Big").exists()


@pytest.mark.parametrize(
    ("jpeg", "declared", "said"),
    [
        ((30000, 30000), (200, 200), "over 80,000,000 pixels"),  # Pillow refuses to open it at all
        ((7000, 7000), (200, 200), "7000x7000 pixels"),  # Pillow only warns: papercast's own limit applies
        ((30000, 30000), None, "30000x30000 pixels"),  # the PDF's image dictionary says so too
    ],
)
def test_a_decompression_bomb_image_in_a_pdf_is_left_out_and_the_rest_is_read(
    tmp_dir: Path, jpeg: tuple[int, int], declared: tuple[int, int] | None, said: str
) -> None:
    expected = pdf_traps.image_bomb(tmp_dir / "bomb.pdf", jpeg=jpeg, declared=declared)
    out = tmp_dir / "pages"
    out.mkdir()
    raw = read_pdf(expected.path, out)
    assert raw["warnings"] == [
        f"An image on page 1 was left out: it declares {said}, and papercast decodes at most 40,000,000. "
        "It may be built to exhaust memory (a decompression bomb)."
    ]
    first, second = raw["pages"]
    assert [image["file"] for image in first["images"]] == [None] and not second["images"]  # its box is kept
    assert not list(out.glob("*.png"))  # nothing of it was decoded or saved

    document_out = tmp_dir / "document"
    document_out.mkdir()
    document = read_document(expected.path, document_out)
    assert document.title == expected.title and document.page_count == 2
    assert raw["warnings"][0] in document.warnings  # the paper page says what was left out
    narrated = " ".join([document.abstract, *(p.text for s in document.sections for p in s.paragraphs)])
    assert all(phrase in narrated for phrase in expected.phrases)


def test_silence_is_reported_as_no_speech(project: Project, tmp_dir: Path) -> None:
    path = tmp_dir / "silence.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(path)], check=True
    )
    paper = make_audio_paper(project, path)
    run_inline(paper)
    assert "No speech was recognised" in _only_failure(paper).error


@pytest.mark.parametrize(
    ("seconds", "text"), [(3.04, "3.0 s"), (42, "42 s"), (185, "3 min 5 s"), (600, "10 min"), (7800, "2 h 10 min")]
)
def test_it_says_durations_the_way_people_do(seconds: float, text: str) -> None:
    from media_pipeline.stages.transcribe import human_duration

    assert human_duration(seconds) == text
