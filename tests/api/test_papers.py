"""Creating papers and starting their pipelines through the API."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from media_pipeline.models import RunStatus, StageRun
from projects.models import Paper, Project, SourceKind
from tests.api.conftest import body
from tests.conftest import JFK

pytestmark = pytest.mark.django_db


def test_an_audio_upload_becomes_an_audio_paper_stored_as_given(api: dict[str, APIClient], project: Project) -> None:
    data = JFK.read_bytes()
    upload = io.BytesIO(data)
    upload.name = "jfk.flac"
    response = api["bob"].post(
        "/api/v1/papers/",
        {"project": project.pk, "title": "Inaugural", "description": "Ask not.", "audio": upload},
        format="multipart",
    )
    assert response.status_code == 201, body(response)
    created = body(response)
    assert (created["source_kind"], created["source_filename"], created["created_by"]) == ("audio", "jfk.flac", "bob")
    assert created["pipeline"]["stages"][0]["stage"] == "transcribe"  # no narration to make
    paper = Paper.objects.get(pk=created["id"])
    with paper.source_file.open("rb") as handle:
        assert handle.read() == data
    assert paper.description == "Ask not."


def test_a_text_file_upload_is_kept_even_when_it_is_not_utf8(api: dict[str, APIClient], project: Project) -> None:
    upload = io.BytesIO("Café".encode("latin-1"))
    upload.name = "notes.txt"
    response = api["bob"].post(
        "/api/v1/papers/", {"project": project.pk, "title": "Notes", "text_file": upload}, format="multipart"
    )
    # Stored as handed in; the narrate stage explains what is wrong with it, and nothing is lost.
    assert response.status_code == 201
    paper = Paper.objects.get(pk=body(response)["id"])
    assert paper.source_kind == SourceKind.TEXT
    with paper.source_file.open("rb") as handle:
        assert handle.read() == "Café".encode("latin-1")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "T"}, "non_field_errors"),  # no source at all
        ({"title": "T", "text": "Hi.", "extra": 1}, None),  # unknown fields are ignored
        ({"title": "   ", "text": "Hi."}, "title"),
        ({"title": "T", "text": "   "}, "text"),
    ],
)
def test_a_paper_needs_a_title_and_exactly_one_source(
    api: dict[str, APIClient], project: Project, data: dict[str, Any], field: str | None
) -> None:
    response = api["bob"].post("/api/v1/papers/", {"project": project.pk, **data}, format="json")
    if field is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400 and field in body(response)["errors"], body(response)
    assert not Paper.objects.filter(title=data["title"]).exists()


def test_oversized_uploads_are_refused_before_they_are_stored(
    api: dict[str, APIClient], project: Project, settings: Any
) -> None:
    settings.PAPERCAST_MAX_UPLOAD_BYTES = 1024
    big = io.BytesIO(b"\0" * (3 * 1024 * 1024))
    big.name = "long.wav"
    response = api["bob"].post(
        "/api/v1/papers/", {"project": project.pk, "title": "T", "audio": big}, format="multipart"
    )
    assert response.status_code == 413 and body(response)["code"] == "too_large"
    small = io.BytesIO(b"\0" * 4096)
    small.name = "short.wav"
    response = api["bob"].post(
        "/api/v1/papers/", {"project": project.pk, "title": "T", "audio": small}, format="multipart"
    )
    assert response.status_code == 400 and "PAPERCAST_MAX_UPLOAD_MB" in body(response)["detail"]
    assert not Paper.objects.exists()


def test_editors_start_the_pipeline_and_each_run_names_them(
    api: dict[str, APIClient], project: Project, users: dict[str, User], settings: Any
) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False
    created = body(api["bob"].post("/api/v1/papers/", {"project": project.pk, "title": "T", "text": "Hi."}))
    url = f"/api/v1/papers/{created['id']}/pipeline/"
    wrong = api["bob"].post(url, {"from_stage": "render", "until": "chunk"}, format="json")
    assert wrong.status_code == 400 and "comes after" in body(wrong)["detail"]
    started = api["alice"].post(url, {"until": "chunk"}, format="json")
    assert started.status_code == 202
    assert body(started)["pipeline"]["stages"][0] == {
        "stage": "narrate", "status": "pending", "progress": 0, "attempts": 0, "error": "", "seconds": None,
        "reused": False,
    }  # fmt: skip
    run = StageRun.objects.get(pk=body(started)["run"])
    assert (run.status, run.requested_by, run.until_stage) == (RunStatus.PENDING, users["alice"], "chunk")
    busy = api["bob"].post(url, {}, format="json")
    assert busy.status_code == 409 and "already running" in body(busy)["detail"]
    assert body(busy)["code"] == "pipeline_busy"
    shown = body(api["carol"].get(f"/api/v1/papers/{created['id']}/"))
    assert shown["pipeline"]["status"] == "pending" and shown["pipeline"]["active"] is True


def test_papers_come_from_a_pdf_or_an_arxiv_identifier_but_never_a_url(
    api: dict[str, APIClient], project: Project, tmp_dir: Any
) -> None:
    from tests.fakes import pdfs

    path = pdfs.make_paper_pdf(tmp_dir / "paper.pdf")
    with path.open("rb") as upload:
        created = api["bob"].post(
            "/api/v1/papers/", {"project": project.pk, "pdf": upload, "script_minutes": 3}, format="multipart"
        )
    assert created.status_code == 201, body(created)
    assert (body(created)["source_kind"], body(created)["script_minutes"]) == ("pdf", 3)
    assert [s["stage"] for s in body(created)["pipeline"]["stages"]][:2] == ["extract", "script"]

    by_id = api["bob"].post("/api/v1/papers/", {"project": project.pk, "arxiv_id": "arXiv:2202.08906v2"}, format="json")
    assert by_id.status_code == 201 and body(by_id)["arxiv_id"] == "2202.08906v2"
    refused = api["bob"].post(
        "/api/v1/papers/", {"project": project.pk, "arxiv_id": "https://arxiv.org/abs/2202.08906"}, format="json"
    )
    assert refused.status_code == 400 and "looks like an address" in body(refused)["errors"]["arxiv_id"][0]
    assert Paper.objects.count() == 2
