"""/media/ serves stored files so that none can open as a page on our origin, whatever it holds."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from projects.models import Paper, Project
from tests.conftest import make_text_paper

pytestmark = pytest.mark.django_db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


@pytest.fixture
def carol(users: dict[str, User]) -> Client:
    client = Client()
    client.force_login(users["carol"])
    return client


@pytest.fixture
def paper(project: Project) -> Paper:
    return make_text_paper(project, "Bees dance.")


def _store(paper: Paper, name: str, data: bytes = SVG) -> str:
    return default_storage.save(f"projects/{paper.project_id}/sources/{name}", ContentFile(data))


def _assert_never_a_page(response: object) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert "sandbox" in response["Content-Security-Policy"]  # type: ignore[index]


@pytest.mark.parametrize("name", ["evil.svg", "evil.html", "evil.xhtml", "evil.htm", "evil.SVG", "evil"])
def test_a_file_with_a_suffix_outside_the_table_is_an_opaque_attachment(carol: Client, paper: Paper, name: str) -> None:
    url = f"/media/{_store(paper, name)}"
    whole = carol.get(url)
    assert whole.status_code == 200
    assert whole["Content-Type"] == "application/octet-stream"
    assert whole["Content-Disposition"].startswith("attachment")
    _assert_never_a_page(whole)
    part = carol.get(url, HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and part["Content-Type"] == "application/octet-stream"
    assert part["Content-Disposition"].startswith("attachment")
    _assert_never_a_page(part)
    _assert_never_a_page(carol.get(url, HTTP_RANGE="bytes=9999-"))  # 416


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("v.mp4", "video/mp4", "inline"),
        ("i.png", "image/png", "inline"),
        ("i.jpg", "image/jpeg", "inline"),
        ("a.wav", "audio/wav", "inline"),
        ("a.m4a", "audio/mp4", "inline"),
        ("a.mp3", "audio/mpeg", "inline"),
        ("c.srt", "text/plain; charset=utf-8", "attachment"),
        ("c.vtt", "text/vtt; charset=utf-8", "attachment"),
        ("p.pdf", "application/pdf", "attachment"),
        ("p.txt", "text/plain; charset=utf-8", "attachment"),
        ("r.json", "application/json", "attachment"),
    ],
)
def test_known_suffixes_get_a_fixed_type_and_only_media_show_inline(
    carol: Client, paper: Paper, name: str, content_type: str, disposition: str
) -> None:
    response = carol.get(f"/media/{_store(paper, name)}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].split(";")[0] == disposition
    _assert_never_a_page(response)
