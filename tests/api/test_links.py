"""Links the API hands out: behind a TLS proxy they are https, so the uploader never sends its token in clear."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from media_pipeline.models import Video
from projects.models import Project
from tests.api.conftest import body
from tests.conftest import make_text_paper

pytestmark = pytest.mark.django_db


def _links(client: APIClient, project: Project, video: Video, **headers: str) -> list[str]:
    make_text_paper(project, "Bees vote.", title="One")
    make_text_paper(project, "Bees swarm.", title="Two")
    papers = body(client.get("/api/v1/papers/?page_size=1", **headers))
    files = body(client.get(f"/api/v1/videos/{video.pk}/", **headers))["files"]
    return [papers["next"], *(link["url"] for link in files.values() if link)]


@pytest.mark.parametrize("trusted", [True, False])
def test_it_gives_https_links_behind_a_tls_proxy(
    settings: Any, api: dict[str, APIClient], project: Project, approved_video: Video, trusted: bool
) -> None:
    settings.SITE_URL = "https://papercast.example.org"
    settings.ALLOWED_HOSTS = ["papercast.example.org"]
    # With the proxy's header trusted (the default for an https site) and without it (an operator who
    # turned it off): either way the site is https, and so are its links.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if trusted else None
    proxied = {"HTTP_HOST": "papercast.example.org", "HTTP_X_FORWARDED_PROTO": "https"}
    links = _links(api["carol"], project, approved_video, **proxied)
    assert len(links) == 5  # next, video, srt, vtt, thumbnail
    assert all(link.startswith("https://papercast.example.org/api/v1/") for link in links), links


def test_it_keeps_http_links_for_a_plain_http_site(
    settings: Any, api: dict[str, APIClient], project: Project, approved_video: Video
) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    links = _links(api["carol"], project, approved_video)
    assert all(link.startswith("http://testserver/api/v1/") for link in links), links
