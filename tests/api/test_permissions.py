"""Who may do what through the API: alice (owner), bob (editor), carol (viewer), mallory (outsider) and an
anonymous client, on every endpoint and method. A non-member sees exactly what a missing id shows."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from media_pipeline.models import StageRun, UploadEvent, Video
from projects.models import Paper, Project
from tests.api.conftest import body

pytestmark = pytest.mark.django_db
MISSING = 987654


def _reads(project: Project, paper: Paper, video: Video) -> dict[str, str]:
    return {
        "project": f"/api/v1/projects/{project.pk}/",
        "paper": f"/api/v1/papers/{paper.pk}/",
        "video": f"/api/v1/videos/{video.pk}/",
        "download": f"/api/v1/videos/{video.pk}/download/video/",
        "srt": f"/api/v1/videos/{video.pk}/download/srt/",
    }


def _writes(paper: Paper, video: Video) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "pipeline": (f"/api/v1/papers/{paper.pk}/pipeline/", {}),
        "claim": (f"/api/v1/videos/{video.pk}/claim/", {}),
        "published": (f"/api/v1/videos/{video.pk}/published/", {"youtube_id": "dQw4w9WgXcQ"}),
        "failed": (f"/api/v1/videos/{video.pk}/failed/", {"reason": "quota exceeded"}),
    }


def _state() -> tuple[Any, ...]:
    videos = tuple(Video.objects.order_by("pk").values_list("lease_id", "youtube_id", "upload_failures"))
    return videos, StageRun.objects.count(), UploadEvent.objects.count(), Paper.objects.count()


def test_every_endpoint_answers_each_role_as_its_role_allows(
    api: dict[str, APIClient], project: Project, other_project: Project, approved_video: Video, settings: Any
) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False  # a started pipeline is queued, not run, here
    video = approved_video
    paper = video.paper
    reads = _reads(project, paper, video)
    writes = _writes(paper, video)
    before = _state()

    # Anonymous: 401 everywhere, the schema and docs aside.
    for name, url in reads.items():
        assert api["anonymous"].get(url).status_code == 401, name
    for url in ("/api/v1/projects/", "/api/v1/papers/", "/api/v1/videos/"):
        assert api["anonymous"].get(url).status_code == 401, url
    for name, (url, data) in writes.items():
        assert api["anonymous"].post(url, data, format="json").status_code == 401, name

    # mallory: lists without bob's things; each of bob's things looks exactly like a missing one.
    mallory = api["mallory"]
    for url, key in (("/api/v1/projects/", project.pk), ("/api/v1/papers/", paper.pk), ("/api/v1/videos/", video.pk)):
        listed = body(mallory.get(url))
        assert key not in [row["id"] for row in listed["results"]], url
    for name, url in reads.items():
        real, missing = mallory.get(url), mallory.get(url.replace(f"/{_id_in(url)}/", f"/{MISSING}/", 1))
        assert real.status_code == 404, name
        assert (real.status_code, body(real)) == (missing.status_code, body(missing)), name
    for name, (url, data) in writes.items():
        response = mallory.post(url, data, format="json")
        assert response.status_code == 404, name
    # Naming bob's project in a request body: the same answer as a project id that does not exist.
    theirs = mallory.post("/api/v1/papers/", {"project": project.pk, "title": "T", "text": "Hi."}, format="json")
    nowhere = mallory.post("/api/v1/papers/", {"project": MISSING, "title": "T", "text": "Hi."}, format="json")
    assert theirs.status_code == nowhere.status_code == 400
    assert body(theirs)["errors"]["project"] == [f'Invalid pk "{project.pk}" - object does not exist.']
    assert body(nowhere)["errors"]["project"] == [f'Invalid pk "{MISSING}" - object does not exist.']

    # carol: reads everything, changes nothing (403, not 404: she may know it exists).
    carol = api["carol"]
    for name, url in reads.items():
        assert carol.get(url).status_code == 200, name
    for name, (url, data) in writes.items():
        response = carol.post(url, data, format="json")
        assert response.status_code == 403, name
        assert body(response)["code"] == "permission_denied"
    response = carol.post("/api/v1/papers/", {"project": project.pk, "title": "T", "text": "Hi."}, format="json")
    assert response.status_code == 403
    assert _state() == before  # nobody outside the editors changed anything

    # Editors and owners: every write does its work.
    bob, alice = api["bob"], api["alice"]
    created = bob.post("/api/v1/papers/", {"project": project.pk, "title": "New", "text": "Hello."}, format="json")
    assert created.status_code == 201 and body(created)["pipeline"]["status"] == "new"
    # ...but never in a project they are not a member of, nor where they only view.
    assert (
        bob.post(
            "/api/v1/papers/", {"project": other_project.pk, "title": "T", "text": "Hi."}, format="json"
        ).status_code
        == 400
    )
    started = bob.post(f"/api/v1/papers/{body(created)['id']}/pipeline/", {}, format="json")
    assert started.status_code == 202 and body(started)["stage"] == "narrate"
    assert bob.post(f"/api/v1/papers/{body(created)['id']}/pipeline/", {}, format="json").status_code == 409
    claim = bob.post(writes["claim"][0], {}, format="json")
    assert claim.status_code == 200
    assert alice.post(writes["claim"][0], {}, format="json").status_code == 409  # bob's lease holds
    lease = body(claim)["lease"]
    published = alice.post(writes["published"][0], {"youtube_id": "dQw4w9WgXcQ", "lease": lease}, format="json")
    assert published.status_code == 200
    assert bob.post(*writes["published"], format="json").status_code == 200  # the same id again
    assert bob.post(*writes["failed"], format="json").status_code == 409  # nothing left to fail

    # Methods the API does not offer answer 405 for members.
    for url in (reads["paper"], reads["video"], reads["project"]):
        for method in ("put", "patch", "delete"):
            assert getattr(bob, method)(url, {}, format="json").status_code == 405, (method, url)


def _id_in(url: str) -> str:
    return url.split("/")[4]


def test_superusers_see_every_project(api: dict[str, APIClient], project: Project, other_project: Project) -> None:
    root = User.objects.create_superuser("root", password="x")
    from tests.api.conftest import token_client

    client = token_client(root)
    listed = body(client.get("/api/v1/projects/"))
    assert {row["id"] for row in listed["results"]} == {project.pk, other_project.pk}
    assert {row["role"] for row in listed["results"]} == {"owner"}
    roles = {row["id"]: row["role"] for row in body(api["carol"].get("/api/v1/projects/"))["results"]}
    assert roles == {project.pk: "viewer"}
