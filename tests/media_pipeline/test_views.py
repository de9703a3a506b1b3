"""/media/ serves stored files so that none can open as a page on our origin, whatever it holds."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from media_pipeline.files import paper_folder
from projects import services
from projects.models import Paper, Project, Role
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
    """A file stored as the paper's upload (a file that no row points at is served to nobody)."""
    stored = default_storage.save(f"projects/{paper.project_id}/sources/{name}", ContentFile(data))
    Paper.objects.filter(pk=paper.pk).update(source_file=stored)
    return stored


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_moved_papers_media_follow_it_to_its_new_project(
    users: dict[str, User], project: Project, other_project: Project
) -> None:
    paper = make_text_paper(project, "Bees dance.")
    upload = paper.source_file.name  # projects/<old>/sources/...
    made = default_storage.save(f"{paper_folder(project.pk, paper.pk)}/video/v.mp4", ContentFile(b"mp4"))
    urls = [f"/media/{upload}", f"/media/{made}"]
    assert all(_client(users["carol"]).get(url).status_code == 200 for url in urls)
    assert all(_client(users["mallory"]).get(url).status_code == 404 for url in urls)

    # alice edits both projects and moves the paper in the admin, the way papers are moved.
    services.membership_set(project=other_project, user=users["alice"], role=Role.EDITOR)
    form = {"project": other_project.pk, "title": paper.title, "source_kind": "text", "description": ""}
    moved = _client(users["alice"]).post(f"/admin/projects/paper/{paper.pk}/change/", form)
    assert moved.status_code == 302, moved.content.decode()[:2000]
    paper.refresh_from_db()
    assert paper.project_id == other_project.pk and paper.source_file.name == upload  # the files stay put

    for url in urls:
        assert _client(users["mallory"]).get(url).status_code == 200, url  # a member of the new project only
        assert _client(users["carol"]).get(url).status_code == 404, url  # a member of the old project only
        assert _client(users["alice"]).get(url).status_code == 200, url  # a member of both


def test_a_stored_file_that_no_row_points_at_is_served_to_nobody(
    users: dict[str, User], project: Project, paper: Paper
) -> None:
    orphan = default_storage.save(f"projects/{project.pk}/sources/left-over.pdf", ContentFile(b"%PDF-1.4"))
    assert _client(users["alice"]).get(f"/media/{orphan}").status_code == 404


def test_a_projects_music_is_served_to_its_members_only(users: dict[str, User], project: Project) -> None:
    music = default_storage.save(f"projects/{project.pk}/sources/music-bed.wav", ContentFile(b"RIFF"))
    Project.objects.filter(pk=project.pk).update(music=music)
    assert _client(users["carol"]).get(f"/media/{music}").status_code == 200  # even with no paper in it yet
    assert _client(users["mallory"]).get(f"/media/{music}").status_code == 404


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
