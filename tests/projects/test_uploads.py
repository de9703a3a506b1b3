"""Uploads are stored under a suffix from the allowlist for their kind, never the one the user gave: /media/
serves them from our origin, where a stored .svg or .html would open as a live page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from projects import services
from projects.models import Paper, Project
from projects.uploads import sniff_audio
from tests.conftest import JFK, make_tone

pytestmark = pytest.mark.django_db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><script>fetch('/api/v1/papers/')</script>"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _stored(media: Path) -> list[str]:
    return sorted(p.name for p in media.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["evil.svg", "evil.html", "evil.xhtml", "paper"])
def test_it_stores_a_pdf_paper_as_pdf_whatever_its_name(project: Project, name: str) -> None:
    paper = services.paper_create_from_pdf(project=project, file=io.BytesIO(SVG), filename=name, title="T")
    assert paper.source_file.name.endswith(".pdf")
    assert paper.source_filename == name  # the user's name is kept for display only


@pytest.mark.parametrize(("name", "suffix"), [("notes.md", ".md"), ("NOTES.Markdown", ".md"), ("a.TXT", ".txt")])
def test_it_stores_a_text_paper_as_txt_or_md(project: Project, name: str, suffix: str) -> None:
    paper = services.paper_create_from_text(project=project, title="T", file=io.BytesIO(b"Bees."), filename=name)
    assert paper.source_file.name.endswith(suffix)


@pytest.mark.parametrize("name", ["evil.svg", "evil.html", "evil.xhtml"])
def test_it_refuses_a_text_paper_that_is_not_txt_or_md(project: Project, settings: object, name: str) -> None:
    with pytest.raises(ValidationError, match=r"must be a plain-text or Markdown file \(.txt or .md\)"):
        services.paper_create_from_text(project=project, title="Evil", file=io.BytesIO(HTML), filename=name)
    assert not Paper.objects.filter(title="Evil").exists()
    assert _stored(Path(settings.MEDIA_ROOT)) == []  # type: ignore[attr-defined]


def test_it_stores_audio_under_its_verified_format_whatever_its_name(project: Project) -> None:
    with JFK.open("rb") as handle:
        paper = services.paper_create_from_audio(project=project, title="T", file=handle, filename="jfk.svg")
    assert paper.source_file.name.endswith(".flac")
    with paper.source_file.open("rb") as handle:
        assert handle.read() == JFK.read_bytes()


@pytest.mark.parametrize("name", ["evil.svg", "evil.html", "evil"])
def test_it_refuses_audio_that_is_neither_an_allowed_format_nor_so_named(
    project: Project, settings: object, name: str
) -> None:
    with pytest.raises(ValidationError, match="not audio in a format papercast accepts"):
        services.paper_create_from_audio(project=project, title="Evil", file=io.BytesIO(SVG), filename=name)
    assert not Paper.objects.filter(title="Evil").exists()
    assert _stored(Path(settings.MEDIA_ROOT)) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "extra", "suffix"),
    [
        ("wav", [], ".wav"),
        ("flac", [], ".flac"),
        ("mp3", ["-c:a", "libmp3lame"], ".mp3"),
        ("mp3", ["-c:a", "libmp3lame", "-write_xing", "0", "-id3v2_version", "0"], ".mp3"),
        ("ipod", ["-c:a", "aac"], ".m4a"),
        ("adts", ["-c:a", "aac"], ".aac"),
        ("ogg", ["-c:a", "libvorbis"], ".ogg"),
        ("webm", ["-c:a", "libopus"], ".webm"),
    ],
)
def test_it_recognises_each_allowed_audio_format_by_its_bytes(
    tmp_dir: Path, fmt: str, extra: list[str], suffix: str
) -> None:
    path = make_tone(tmp_dir / "tone.bin", 0.5, fmt=fmt, extra=extra)
    with path.open("rb") as handle:
        handle.seek(0)
        assert sniff_audio(handle) == suffix
        assert handle.tell() == 0


def test_an_avi_is_not_taken_for_wav(tmp_dir: Path) -> None:
    path = make_tone(tmp_dir / "talk.avi", 0.5, fmt="avi")
    with path.open("rb") as handle:
        assert sniff_audio(handle) is None


def _project_change_form(alice: Client, project: Project) -> tuple[str, dict[str, object]]:
    """The project's admin change URL and its form as the owner would post it back unchanged."""
    url = f"/admin/projects/project/{project.pk}/change/"
    form = {
        "name": project.name,
        "slug": project.slug,
        "image_style": project.image_style,
        "image_width": 0,
        "image_height": 0,
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }
    page = alice.get(url)
    assert page.status_code == 200
    return url, {**_initial_form(page.context["adminform"].form), **form}


def test_project_music_is_stored_under_its_verified_format_or_refused(
    users: dict[str, User], project: Project, tmp_dir: Path, settings: object
) -> None:
    alice = _client(users["alice"])
    url, form = _project_change_form(alice, project)

    refused = alice.post(url, {**form, "music": SimpleUploadedFile("evil.svg", SVG, "image/svg+xml")})
    assert refused.status_code == 200
    assert "not audio in a format papercast accepts" in refused.context["adminform"].form.errors["music"][0]
    project.refresh_from_db()
    assert not project.music
    assert _stored(Path(settings.MEDIA_ROOT)) == []  # type: ignore[attr-defined]

    wav = make_tone(tmp_dir / "tone.wav", 0.5).read_bytes()
    saved = alice.post(url, {**form, "music": SimpleUploadedFile("bed.html", wav, "text/html")})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    project.refresh_from_db()
    assert project.music.name.endswith(".wav") and ".html" not in project.music.name


def test_project_music_over_the_upload_limit_is_refused_before_it_is_stored(
    users: dict[str, User], project: Project, tmp_dir: Path, settings: object
) -> None:
    alice = _client(users["alice"])
    url, form = _project_change_form(alice, project)
    wav = make_tone(tmp_dir / "bed.wav", 0.5).read_bytes()
    settings.PAPERCAST_MAX_UPLOAD_BYTES = len(wav) - 1  # type: ignore[attr-defined]

    refused = alice.post(url, {**form, "music": SimpleUploadedFile("bed.wav", wav, "audio/wav")})
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "music" in errors, errors
    assert "The background music 'bed.wav' is" in errors["music"][0]
    assert "larger than papercast accepts" in errors["music"][0]
    assert "PAPERCAST_MAX_UPLOAD_MB" in errors["music"][0]
    project.refresh_from_db()
    assert not project.music
    assert _stored(Path(settings.MEDIA_ROOT)) == []  # type: ignore[attr-defined]

    settings.PAPERCAST_MAX_UPLOAD_BYTES = len(wav)  # type: ignore[attr-defined]
    saved = alice.post(url, {**form, "music": SimpleUploadedFile("bed.wav", wav, "audio/wav")})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    project.refresh_from_db()
    assert project.music.name.endswith(".wav")


def test_a_paper_uploaded_in_the_admin_gets_an_allowed_suffix_or_is_refused(
    users: dict[str, User], project: Project
) -> None:
    bob = _client(users["bob"])
    add = "/admin/projects/paper/add/"
    base = {"project": project.pk, "curation_status": "draft"}
    pdf = bob.post(
        add, {**base, "title": "Evil PDF", "source_kind": "pdf", "source_file": SimpleUploadedFile("evil.svg", SVG)}
    )
    assert pdf.status_code == 302
    assert Paper.objects.get(title="Evil PDF").source_file.name.endswith(".pdf")

    text = bob.post(
        add, {**base, "title": "Evil text", "source_kind": "text", "source_file": SimpleUploadedFile("a.html", HTML)}
    )
    assert text.status_code == 200 and "must be a plain-text or Markdown file" in text.content.decode()
    assert not Paper.objects.filter(title="Evil text").exists()

    audio = bob.post(
        add,
        {**base, "title": "Evil audio", "source_kind": "audio", "source_file": SimpleUploadedFile("a.svg", SVG)},
    )
    assert audio.status_code == 200 and "not audio in a format papercast accepts" in audio.content.decode()
    assert not Paper.objects.filter(title="Evil audio").exists()


def _initial_form(form: object) -> dict[str, object]:
    """The change form's current values, as a browser would post them back."""
    values: dict[str, object] = {}
    for name, field in form.fields.items():  # type: ignore[attr-defined]
        value = form.initial.get(name, field.initial)  # type: ignore[attr-defined]
        if value is None or name == "music":
            continue
        if isinstance(value, bool):
            if value:
                values[name] = "on"
            continue
        values[name] = value
    return values
