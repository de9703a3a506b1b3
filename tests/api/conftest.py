from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from knox.models import AuthToken
from rest_framework.test import APIClient

from media_pipeline import curation
from media_pipeline.models import Video
from media_pipeline.stages import no_progress, render
from projects.models import Paper, Project
from tests.media_pipeline.test_render import make_video_paper

NAMES = ("alice", "bob", "carol", "mallory")


def token_client(user: User | None) -> APIClient:
    """A client that authenticates the way the uploader does: with an API token, not a session."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api(users: dict[str, User]) -> dict[str, APIClient]:
    clients = {name: token_client(users[name]) for name in NAMES}
    clients["anonymous"] = token_client(None)
    return clients


def rendered_paper(project: Project, tmp: Path, starts: list[float] | None = None, duration: float = 6.0) -> Paper:
    paper = make_video_paper(project, tmp, starts or [0.0, 2.0, 4.0], duration)
    render.run(paper, force=False, progress=no_progress)
    return paper


def approve(paper: Paper, user: User) -> Video:
    video, _ = curation.paper_approve(paper, user=user)  # type: ignore[arg-type]
    return video


@pytest.fixture
def approved_video(project: Project, tmp_dir: Path, users: dict[str, User]) -> Video:
    """A rendered 6 s video of three scenes, approved by bob."""
    return approve(rendered_paper(project, tmp_dir), users["bob"])


def body(response: Any) -> Any:
    return response.json()
