"""What the uploader downloads: YouTube metadata within YouTube's limits, files with byte ranges from local
storage, presigned links from S3; and list endpoints whose query count does not grow with their rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
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


def _download(client: APIClient, video: Video, kind: str = "video", **headers: str) -> Any:
    return client.get(f"/api/v1/videos/{video.pk}/download/{kind}/", **headers)


def _content(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


def test_downloads_follow_the_rfc_on_ranges_and_validators(api: dict[str, APIClient], approved_video: Video) -> None:
    carol, size = api["carol"], approved_video.file_size
    whole = _download(carol, approved_video)
    etag, modified = whole["ETag"], whole["Last-Modified"]
    assert whole.status_code == 200 and etag == f'"{approved_video.file_sha256}"'  # strong: no W/
    assert len(_content(whole)) == size
    # Nothing changed since: 304, no body, the validators again.
    same = _download(carol, approved_video, HTTP_IF_NONE_MATCH=etag)
    assert same.status_code == 304 and same["ETag"] == etag and not _content(same)
    assert _download(carol, approved_video, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    # An invalid range (last before first) is ignored: the whole file.
    backwards = _download(carol, approved_video, HTTP_RANGE="bytes=100-50")
    assert backwards.status_code == 200 and len(_content(backwards)) == size
    # A range beyond the file: 416 in the API's error shape, saying how long the file is.
    beyond = _download(carol, approved_video, HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"
    assert beyond["Content-Type"] == "application/json"
    assert (body(beyond)["status"], body(beyond)["code"]) == (416, "range_not_satisfiable")
    # If-Range: the range only while the validator matches (a resumed download of the same file).
    for validator in (etag, modified):
        resumed = _download(carol, approved_video, HTTP_RANGE="bytes=100-199", HTTP_IF_RANGE=validator)
        assert resumed.status_code == 206 and resumed["Content-Range"] == f"bytes 100-199/{size}"
        assert len(_content(resumed)) == 100 and resumed["ETag"] == etag
    for stale in ('"another file"', f"W/{etag}", "Thu, 01 Jan 2004 00:00:00 GMT", "nonsense"):
        changed = _download(carol, approved_video, HTTP_RANGE="bytes=100-199", HTTP_IF_RANGE=stale)
        assert changed.status_code == 200 and len(_content(changed)) == size, stale
    # Files without a recorded sha256 get a strong validator from their size and time.
    srt = _download(carol, approved_video, "srt")
    assert srt.status_code == 200 and srt["ETag"].startswith('"') and srt["ETag"] != etag
    assert _download(carol, approved_video, "srt", HTTP_IF_NONE_MATCH=srt["ETag"]).status_code == 304


def _video_row(paper: Paper, users: dict[str, User], **fields: Any) -> Video:
    return Video.objects.create(
        paper=paper, file="v.mp4", srt="v.srt", duration=5.0, width=640, height=360,
        settings_fingerprint=uuid.uuid4().hex, approved_by=users["bob"], approved_at="2026-01-01T00:00:00Z", **fields,
    )  # fmt: skip


def _ids(client: APIClient, query: str) -> set[int]:
    response = client.get(f"/api/v1/videos/?{query}")
    assert response.status_code == 200, (query, body(response))
    return {row["id"] for row in body(response)["results"]}


def test_video_filters_take_the_usual_booleans_and_refuse_the_rest(
    api: dict[str, APIClient], project: Project, users: dict[str, User]
) -> None:
    paper = make_text_paper(project, "Text.", title="Paper")
    published = _video_row(paper, users, youtube_id="abcDEF12345")
    until = timezone.now() + timedelta(hours=1)
    held = _video_row(paper, users, lease_id=uuid.uuid4(), lease_holder=users["bob"], lease_expires_at=until)
    free = _video_row(paper, users)
    alice = api["alice"]
    for spelling in ("true", "True", "1", "yes", "YES", "on"):
        assert _ids(alice, f"published={spelling}") == {published.pk}, spelling
        assert _ids(alice, f"available={spelling}") == {published.pk, free.pk}, spelling
    for spelling in ("false", "FALSE", "0", "no", "No", "off"):
        assert _ids(alice, f"published={spelling}") == {held.pk, free.pk}, spelling
        assert _ids(alice, f"available={spelling}") == {held.pk}, spelling
    assert _ids(alice, "published=") == {published.pk, held.pk, free.pk}  # empty: no filter
    for query, field in (
        ("published=maybe", "published"),
        ("available=2", "available"),
        ("project=abc", "project"),
        ("paper=abc", "paper"),
        ("status=bogus", "status"),
    ):
        refused = alice.get(f"/api/v1/videos/?{query}")
        assert refused.status_code == 400 and body(refused)["code"] == "invalid", query
        assert field in body(refused)["errors"], query
    assert _ids(alice, f"project={project.pk}&paper={paper.pk}") == {published.pk, held.pk, free.pk}
    papers = alice.get("/api/v1/papers/?project=abc")
    assert papers.status_code == 400 and "project" in body(papers)["errors"]


def test_the_schema_types_the_filters_and_names_the_conflicts(client: Any) -> None:
    schema = client.get("/api/schema/?format=json").json()

    def component(reference: str) -> Any:
        return schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]

    def query_types(path: str) -> dict[str, str]:
        parameters = schema["paths"][path]["get"]["parameters"]
        return {p["name"]: p["schema"]["type"] for p in parameters if p["in"] == "query"}

    videos = query_types("/api/v1/videos/")
    assert (videos["project"], videos["paper"]) == ("integer", "integer")
    assert (videos["published"], videos["available"]) == ("boolean", "boolean")
    assert query_types("/api/v1/papers/")["project"] == "integer"
    for action, codes in (
        ("claim", {"lease_held", "lease_expired", "not_lease_holder", "already_published", "not_approved"}),
        ("published", {"lease_expired", "not_lease_holder", "already_published", "youtube_id_taken"}),
        ("failed", {"not_lease_holder", "already_published"}),
    ):
        conflict = schema["paths"][f"/api/v1/videos/{{id}}/{action}/"]["post"]["responses"]["409"]
        code = component(conflict["content"]["application/json"]["schema"]["$ref"])["properties"]["code"]
        enum = set(component(code["allOf"][0]["$ref"])["enum"] if "allOf" in code else code["enum"])
        assert codes <= enum, action
        assert all(f"`{name}`" in conflict["description"] for name in codes), action
    download = schema["paths"]["/api/v1/videos/{id}/download/{kind}/"]["get"]["responses"]
    assert "304" in download and "application/json" in download["416"]["content"]


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


def test_a_long_description_gives_way_in_its_summary_never_in_its_chapters_or_credits() -> None:
    """A 4,000-character CJK summary is 12,000 bytes: YouTube counts bytes, and the chapters and the
    synthetic-media credit must survive the cut."""
    from media_pipeline.publishing import DESCRIPTION_LIMIT, _description

    chapters = [f"{m}:00 Chapter {m}" for m in range(12)]
    credits = ["Narrated with synthetic speech, made with papercast.", "Figure 1 from “蜂群”."]
    for summary in ("蜂群选择新家。" * 570, "Bees <choose> a home. " * 400, "x" * 9000):
        text = _description(summary, chapters, credits)
        assert len(text.encode("utf-8")) <= DESCRIPTION_LIMIT
        assert text.endswith("Chapters:\n" + "\n".join(chapters) + "\n\n" + "\n".join(credits))
        head = text.split("\n\nChapters:")[0]
        assert len(head.encode("utf-8")) > DESCRIPTION_LIMIT - 600  # the summary keeps all the room left
        assert "<" not in text and head.endswith(("。", ".", "…"))
    assert _description("Short.", chapters, credits).startswith("Short.\n\nChapters:\n0:00 Chapter 0")
    # Hundreds of chapters: the last ones go, the credits stay.
    many = [f"{m // 60}:{m % 60:02d}:00 A rather long chapter title number {m}" for m in range(400)]
    text = _description("Summary.", many, credits)
    assert len(text.encode("utf-8")) <= DESCRIPTION_LIMIT and text.endswith("\n".join(credits))
    assert many[0] in text and many[-1] not in text


def test_youtube_fields_the_audio_language_a_schedule_and_a_caption_track(
    api: dict[str, APIClient], project: Project, tmp_dir: Path, users: dict[str, User]
) -> None:
    from datetime import UTC, datetime, timedelta

    from django.core.exceptions import ValidationError

    from media_pipeline.models import Transcription
    from media_pipeline.stages import no_progress, render

    # Only real language tags and YouTube's own categories are accepted.
    for bad in ({"youtube_language": "english"}, {"youtube_language": "en_US"}, {"youtube_category_id": "18"}):
        with pytest.raises(ValidationError):
            Project(name="p", slug="p", **bad).full_clean(exclude=["slug", "name"])
    for good in ("en", "en-GB", "pt-BR", "zh-Hant", "es-419", "sr-Latn-RS"):
        Project(name="p", slug="p", youtube_language=good).full_clean(exclude=["slug", "name"])

    project.youtube_language = "fr"  # the title and description are French; the narration is English
    project.youtube_privacy = "public"
    project.save()
    paper = rendered_paper(project, tmp_dir, [0.0, 10.0, 20.0], 32.0)
    Transcription.objects.create(
        paper=paper, engine="whisper", model="tiny.en", language="en", duration=32.0, audio_fingerprint="a",
        input_fingerprint="t",
    )  # fmt: skip
    render.run(paper, force=False, progress=no_progress)  # the scenes' timing comes from the transcription
    video = approve(paper, users["bob"])
    meta = body(api["bob"].get(f"/api/v1/videos/{video.pk}/"))["metadata"]
    assert (meta["default_language"], meta["default_audio_language"]) == ("fr", "en")
    assert meta["youtube"]["snippet"]["defaultLanguage"] == "fr"
    assert meta["youtube"]["snippet"]["defaultAudioLanguage"] == "en"
    assert meta["caption"] == {"language": "en", "name": "Narration"}
    assert meta["publish_at"] is None and meta["youtube"]["status"]["privacyStatus"] == "public"
    assert "publishAt" not in meta["youtube"]["status"]

    # Scheduled: uploaded private, made public by YouTube at the time given (UTC, ISO 8601).
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    Paper.objects.filter(pk=paper.pk).update(publish_at=when)
    meta = body(api["bob"].get(f"/api/v1/videos/{video.pk}/"))["metadata"]
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["publish_at"] == stamp and meta["privacy_status"] == "private"
    assert meta["youtube"]["status"]["publishAt"] == stamp and meta["youtube"]["status"]["privacyStatus"] == "private"
    # A time already past schedules nothing.
    Paper.objects.filter(pk=paper.pk).update(publish_at=when - timedelta(days=5))
    meta = body(api["bob"].get(f"/api/v1/videos/{video.pk}/"))["metadata"]
    assert meta["publish_at"] is None and meta["privacy_status"] == "public"
