"""What the uploader downloads: YouTube metadata within YouTube's limits, files with byte ranges from local
storage, presigned links from S3; and list endpoints whose query count does not grow with their rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from media_pipeline.models import Video
from media_pipeline.publishing import TAGS_LIMIT, _fit_tags
from projects.models import Paper, Project
from tests.api.conftest import approve, body, rendered_paper
from tests.conftest import make_text_paper

pytestmark = pytest.mark.django_db


def test_the_metadata_is_what_youtube_accepts(
    api: dict[str, APIClient], project: Project, tmp_dir: Path, users: dict[str, User]
) -> None:
    project.youtube_tags = "bees, swarm intelligence, <biology>, Bees"
    project.youtube_category_id = "27"
    project.youtube_privacy = "unlisted"
    project.youtube_language = "en"
    project.save()
    # Chapters need at least three of at least 10 s each.
    paper = rendered_paper(project, tmp_dir, [0.0, 10.0, 20.0], 32.0)
    Paper.objects.filter(pk=paper.pk).update(title="Why <bees> " + "swarm " * 30)
    video = approve(paper, users["bob"])
    meta = body(api["bob"].get(f"/api/v1/videos/{video.pk}/"))["metadata"]
    assert len(meta["title"]) <= 100 and "<" not in meta["title"] and meta["title"].startswith("Why ‹bees›")
    assert "<" not in meta["description"] and ">" not in meta["description"]
    assert len(meta["description"].encode()) <= 5000
    assert "Chapters:\n0:00 Scene number 1\n0:10 Scene number 2\n0:20 Scene number 3" in meta["description"]
    assert meta["description"].startswith("Scene number 1 Scene number 2")  # the summaries, nobody wrote one
    assert "synthetic speech" in meta["description"]
    assert meta["tags"] == ["bees", "swarm intelligence", "‹biology›"]  # duplicates dropped
    assert (meta["category_id"], meta["privacy_status"], meta["default_language"]) == ("27", "unlisted", "en")
    assert meta["made_for_kids"] is False and meta["contains_synthetic_media"] is True
    assert meta["youtube"] == {
        "snippet": {
            "title": meta["title"],
            "description": meta["description"],
            "tags": meta["tags"],
            "categoryId": "27",
            "defaultLanguage": "en",
            "defaultAudioLanguage": "en",
        },
        "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False, "containsSyntheticMedia": True},
    }
    # An editor's own description replaces the summaries.
    Paper.objects.filter(pk=paper.pk).update(description="How a swarm picks a home.")
    meta = body(api["bob"].get(f"/api/v1/videos/{video.pk}/"))["metadata"]
    assert meta["description"].startswith("How a swarm picks a home.\n\nChapters:\n0:00")


def test_tags_fit_youtubes_limit_counting_quotes_for_spaces() -> None:
    tags = _fit_tags([f"tag number {i}" for i in range(100)])
    cost = sum(len(t) + 2 for t in tags) + len(tags) - 1
    assert cost <= TAGS_LIMIT and len(tags) < 100
    assert cost + len(f"tag number {len(tags)}") + 3 > TAGS_LIMIT  # as many as fit


def test_local_files_stream_with_byte_ranges_for_members_only(api: dict[str, APIClient], approved_video: Video) -> None:
    detail = body(api["carol"].get(f"/api/v1/videos/{approved_video.pk}/"))
    links = detail["files"]
    assert {kind: link["requires_auth"] for kind, link in links.items()} == dict.fromkeys(links, True)
    url = urlsplit(links["video"]["url"]).path
    part = api["carol"].get(url, HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 0-99/{approved_video.file_size}"
    assert len(b"".join(part.streaming_content)) == 100
    assert 'filename="papercast-video-' in part["Content-Disposition"]
    thumb = api["carol"].get(urlsplit(links["thumbnail"]["url"]).path)
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert api["mallory"].get(url).status_code == 404
    assert api["anonymous"].get(url).status_code == 401


@pytest.mark.usefixtures("s3_storage")
def test_s3_files_are_short_lived_presigned_links(
    api: dict[str, APIClient], project: Project, tmp_dir: Path, users: dict[str, User], settings: Any
) -> None:
    settings.AWS_QUERYSTRING_EXPIRE = 120
    video = approve(rendered_paper(project, tmp_dir), users["bob"])
    links = body(api["bob"].get(f"/api/v1/videos/{video.pk}/"))["files"]
    link = links["video"]
    assert link["requires_auth"] is False and link["expires_at"] is not None
    query = urlsplit(link["url"]).query
    assert "Signature=" in query or "X-Amz-Signature=" in query
    fetched = requests.get(link["url"], timeout=30)  # no Authorization header: the URL carries the signature
    assert fetched.status_code == 200 and len(fetched.content) == video.file_size
    assert fetched.headers["Content-Type"] == "video/mp4"
    # The API's own download URL redirects to a fresh presigned link.
    redirect = api["bob"].get(f"/api/v1/videos/{video.pk}/download/srt/")
    assert redirect.status_code == 302 and "Signature" in redirect["Location"]
    unsigned = link["url"].split("?")[0]
    assert requests.get(unsigned, timeout=30).status_code == 403


CHANGELISTS: tuple[str, ...] = (
    "/api/v1/videos/",
    "/api/v1/videos/?status=approved&published=false",
    "/api/v1/papers/",
    "/api/v1/projects/",
)


def _populate(project: Project, users: dict[str, User], start: int, count: int) -> None:
    for i in range(start, start + count):
        paper = make_text_paper(project, f"Text {i}.", title=f"Paper {i}")
        Video.objects.create(
            paper=paper, file=f"v{i}.mp4", srt=f"v{i}.srt", duration=5.0, width=640, height=360,
            settings_fingerprint=str(i), approved_by=users["bob"], approved_at="2026-01-01T00:00:00Z",
        )  # fmt: skip
        from projects import services

        services.project_create(name=f"Team {i}", owner=users["alice"])


def _queries(client: APIClient, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries), len(body(response)["results"])


def test_list_queries_do_not_grow_with_rows(
    api: dict[str, APIClient], project: Project, users: dict[str, User], django_assert_num_queries: Callable[..., Any]
) -> None:
    _populate(project, users, 0, 5)
    few = {url: _queries(api["alice"], url) for url in CHANGELISTS}
    _populate(project, users, 5, 45)
    for url in CHANGELISTS:
        count, rows = _queries(api["alice"], url)
        assert rows >= 50 > few[url][1], url
        assert count == few[url][0], url
