"""Curation in the admin: the paper page, its buttons for every role, edits that survive re-runs, approval,
attributable changes, and changelists whose query count does not grow with their rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from media_pipeline import curation
from media_pipeline.models import (
    Chunk,
    Image,
    PromptTemplate,
    Segment,
    StageRun,
    Summary,
    Transcription,
    Video,
    Word,
)
from media_pipeline.stages import no_progress, render, summarize
from projects import services
from projects.models import CurationStatus, Membership, Paper, Project, Role
from tests.conftest import make_text_paper
from tests.media_pipeline.test_render import make_video_paper

pytestmark = pytest.mark.django_db
NAMES = ("alice", "bob", "carol", "mallory")


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clients(users: dict[str, User]) -> dict[str, Client]:
    return {name: _client(users[name]) for name in NAMES}


@pytest.fixture
def paper(project: Project, tmp_dir: Path, other_project: Project) -> Paper:
    """Three scenes with images, a transcript with one flagged segment; mallory owns another project."""
    paper = make_video_paper(project, tmp_dir, [0.0, 2.0, 4.0], 6.0)
    transcription = Transcription.objects.get(paper=paper)
    Segment.objects.create(
        transcription=transcription, index=1, start=2.5, end=3.0, text="Thanks for watching!", flag="outro phrase"
    )
    shown = Image.objects.get(chunk__paper=paper, chunk__index=1)
    Image.objects.create(
        chunk=shown.chunk, file=shown.file.name, prompt="p", seed=99, backend="t", width=16, height=16,
        sha256="e" * 64, input_fingerprint="x",
    )  # fmt: skip
    return paper


def _scene(paper: Paper, index: int) -> Chunk:
    return Chunk.objects.get(paper=paper, index=index)


def _page(paper: Paper, suffix: str = "change/") -> str:
    return f"/admin/projects/paper/{paper.pk}/{suffix}"


# --- Who may do what --------------------------------------------------------------------------------------


def _post_urls(paper: Paper) -> dict[str, tuple[str, dict[str, Any]]]:
    chunk = _scene(paper, 1)
    image = Image.objects.filter(chunk=chunk).first()
    assert image is not None
    return {
        "run": (_page(paper, "pipeline/run/"), {}),
        "rerun": (_page(paper, "pipeline/run/"), {"from_stage": "illustrate"}),
        "render": (_page(paper, "pipeline/render/"), {}),
        "submit": (_page(paper, "curation/submit/"), {}),
        "edit": (_page(paper, f"scenes/{chunk.pk}/edit/"), {"summary": "S", "image_prompt": "A lighthouse"}),
        "reset": (_page(paper, f"scenes/{chunk.pk}/reset/"), {}),
        "regenerate": (_page(paper, f"scenes/{chunk.pk}/regenerate/"), {"count": "1"}),
        "select": (_page(paper, f"images/{image.pk}/select/"), {}),
    }


def test_every_paper_page_button_answers_each_role_as_its_role_allows(
    clients: dict[str, Client], paper: Paper, settings: Any
) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False  # runs are created, not executed: this test is about who may
    urls = _post_urls(paper)
    before = (StageRun.objects.count(), LogEntry.objects.count(), Summary.objects.filter(edited_by_human=True).count())
    for who in ("mallory", "carol"):
        for name, (url, data) in urls.items():
            expected = 404 if who == "mallory" else 403
            assert clients[who].post(url, data).status_code == expected, (who, name)
    after = (StageRun.objects.count(), LogEntry.objects.count(), Summary.objects.filter(edited_by_human=True).count())
    assert after == before  # nothing was done on their behalf
    for who in ("bob", "alice"):
        for name, (url, data) in urls.items():
            assert clients[who].post(url, data).status_code == 302, (who, name)
    # GET never changes anything.
    for name, (url, _) in urls.items():
        assert clients["bob"].get(url).status_code == 405, name


def test_the_paper_page_and_its_status_feed_for_each_role(clients: dict[str, Client], paper: Paper) -> None:
    for who, expected in {"alice": 200, "bob": 200, "carol": 200, "mallory": 404}.items():
        assert clients[who].get(_page(paper)).status_code == expected, who
        assert clients[who].get(_page(paper, "pipeline.json")).status_code == expected, who
        assert clients[who].get(_page(paper, "history/")).status_code == expected, who
    # A missing paper and another team's paper are indistinguishable to mallory, everywhere.
    for suffix in ("change/", "pipeline.json", "history/", "pipeline/run/"):
        method = clients["mallory"].post if suffix.endswith("run/") else clients["mallory"].get
        real, missing = method(_page(paper, suffix)), method(f"/admin/projects/paper/{paper.pk + 999}/{suffix}")
        assert (real.status_code, real.content) == (missing.status_code, missing.content), suffix
    editor = clients["bob"].get(_page(paper)).content.decode()
    viewer = clients["carol"].get(_page(paper)).content.decode()
    for control in ("Run the pipeline", "Re-run", "Render the video", "Use this one", "Regenerate", "Save scene 1"):
        assert control in editor and control not in viewer, control
    assert "Thanks for watching!" in viewer and "outro phrase" in viewer  # the flagged segment, on its scene
    assert "<textarea" not in viewer and 'name="_save"' not in viewer


def test_the_admin_pages_of_every_model_answer_each_role(
    clients: dict[str, Client], paper: Paper, users: dict[str, User]
) -> None:
    chunk = _scene(paper, 0)
    objects: dict[str, Any] = {
        "projects/project": paper.project,
        "projects/membership": Membership.objects.get(project=paper.project, user=users["carol"]),
        "projects/paper": paper,
        "media_pipeline/chunk": chunk,
        "media_pipeline/summary": chunk.summary,
        "media_pipeline/image": Image.objects.filter(chunk=chunk).first(),
        "media_pipeline/transcription": Transcription.objects.get(paper=paper),
        "media_pipeline/segment": Segment.objects.filter(transcription__paper=paper).first(),
        "media_pipeline/word": Word.objects.filter(transcription__paper=paper).first(),
    }
    for model, obj in objects.items():
        for who in NAMES:
            assert clients[who].get(f"/admin/{model}/").status_code == 200, (model, who)
            page = clients[who].get(f"/admin/{model}/{obj.pk}/change/")
            assert page.status_code == (404 if who == "mallory" else 200), (model, who)
            if who != "mallory":
                assert str(obj)[:20] in page.content.decode() or model == "projects/paper", (model, who)
            listing = clients[who].get(f"/admin/{model}/").content.decode()
            assert (f"/{obj.pk}/change/" in listing) == (who != "mallory"), (model, who)
    # Pipeline outputs are never added or changed by hand, whatever the role.
    for model in ("chunk", "summary", "image", "video", "stagerun", "transcription", "segment", "word"):
        for who in NAMES:
            assert clients[who].get(f"/admin/media_pipeline/{model}/add/").status_code == 403, (model, who)
    summary = chunk.summary
    assert (
        clients["alice"].post(f"/admin/media_pipeline/summary/{summary.pk}/change/", {"summary": "x"}).status_code
        == 403
    )


def test_only_owners_manage_members(clients: dict[str, Client], paper: Paper, users: dict[str, User]) -> None:
    project = paper.project
    form = {"project": project.pk, "user": "mallory", "role": "owner"}  # members are named, never listed
    assert clients["bob"].post("/admin/projects/membership/add/", form).status_code == 403
    assert clients["carol"].post("/admin/projects/membership/add/", form).status_code == 403
    # mallory owns her own project, so she may open the form, but not name a project she does not own.
    response = clients["mallory"].post("/admin/projects/membership/add/", form)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    carol = Membership.objects.get(project=project, user=users["carol"])
    url = f"/admin/projects/membership/{carol.pk}/change/"
    assert clients["bob"].post(url, {"project": project.pk, "user": "carol", "role": "owner"}).status_code == 403
    assert not Membership.objects.filter(project=project, user=users["mallory"]).exists()
    assert clients["alice"].post("/admin/projects/membership/add/", form).status_code == 302
    assert Membership.objects.get(project=project, user=users["mallory"]).role == Role.OWNER


# --- What the buttons do -----------------------------------------------------------------------------------


def test_an_edited_prompt_is_the_persons_and_survives_a_forced_rerun(
    clients: dict[str, Client], paper: Paper, users: dict[str, User]
) -> None:
    chunk = _scene(paper, 1)
    response = clients["bob"].post(
        _page(paper, f"scenes/{chunk.pk}/edit/"),
        {"summary": chunk.summary.summary, "image_prompt": "A lighthouse keeper counting photons"},
    )
    assert response.status_code == 302 and response["Location"].endswith("#scene-2")
    summary = Summary.objects.get(chunk=chunk)
    assert summary.image_prompt == "A lighthouse keeper counting photons"
    assert (summary.edited_by_human, summary.edited_by, summary.edited_fields) == (True, users["bob"], ["image_prompt"])
    untouched = Summary.objects.get(chunk=_scene(paper, 0)).summary
    summarize.run(paper, force=True, progress=no_progress)
    assert Summary.objects.get(chunk=chunk).image_prompt == "A lighthouse keeper counting photons"
    assert Summary.objects.get(chunk=_scene(paper, 0)).summary != untouched  # the model's scenes were redone
    page = clients["carol"].get(_page(paper)).content.decode()
    assert "edited by bob" in page
    entry = LogEntry.objects.get(object_id=str(paper.pk))
    assert (entry.user, entry.get_change_message()) == (users["bob"], "Edited the image prompt of scene 2")
    # Handing it back to the model: the next run rewrites it.
    clients["bob"].post(_page(paper, f"scenes/{chunk.pk}/reset/"))
    summarize.run(paper, force=False, progress=no_progress)
    assert Summary.objects.get(chunk=chunk).image_prompt != "A lighthouse keeper counting photons"


def test_an_empty_edit_is_refused_and_keeps_the_text(clients: dict[str, Client], paper: Paper) -> None:
    chunk = _scene(paper, 0)
    before = Summary.objects.get(chunk=chunk).image_prompt
    response = clients["bob"].post(_page(paper, f"scenes/{chunk.pk}/edit/"), {"summary": "x", "image_prompt": "  "})
    assert response.status_code == 302
    assert Summary.objects.get(chunk=chunk).image_prompt == before
    assert "cannot be empty" in clients["bob"].get(_page(paper)).content.decode()


def test_regenerate_adds_a_candidate_and_a_chosen_one_stays_chosen(
    clients: dict[str, Client], paper: Paper, users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    chunk = _scene(paper, 2)
    original = Image.objects.get(chunk=chunk)
    with django_capture_on_commit_callbacks(execute=True):
        clients["bob"].post(_page(paper, f"scenes/{chunk.pk}/regenerate/"), {"count": "2"})
    candidates = list(Image.objects.filter(chunk=chunk).order_by("pk"))
    assert len(candidates) == 3 and candidates[0] == original
    assert {c.backend for c in candidates[1:]} == {"slides"}
    assert [c.selected for c in candidates] == [False, True, False]  # the first new one is shown
    # bob picks the original back; a further regenerate adds a candidate but keeps his choice.
    clients["bob"].post(_page(paper, f"images/{original.pk}/select/"))
    original.refresh_from_db()
    assert (original.selected, original.selected_by_human, original.selected_by) == (True, True, users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        clients["bob"].post(_page(paper, f"scenes/{chunk.pk}/regenerate/"), {"count": "1"})
    assert Image.objects.filter(chunk=chunk).count() == 4
    assert Image.objects.get(chunk=chunk, selected=True) == original
    # Editing the prompt releases the choice: it was made for the old prompt.
    clients["bob"].post(_page(paper, f"scenes/{chunk.pk}/edit/"), {"image_prompt": "A different picture"})
    original.refresh_from_db()
    assert (original.selected, original.selected_by_human) == (True, False)
    # An image of another paper cannot be chosen through this paper's URL.
    assert clients["bob"].post(_page(paper, "images/999999/select/")).status_code == 404


def test_approval_needs_a_current_video_and_is_bound_to_it(
    clients: dict[str, Client], paper: Paper, users: dict[str, User]
) -> None:
    bob = clients["bob"]
    bob.post(_page(paper, "curation/approve/"))
    paper.refresh_from_db()
    assert paper.curation_status == CurationStatus.DRAFT
    assert "There is no video yet" in bob.get(_page(paper)).content.decode()
    render.run(paper, force=False, progress=no_progress)
    bob.post(_page(paper, "curation/submit/"))
    paper.refresh_from_db()
    assert paper.curation_status == CurationStatus.IN_REVIEW
    bob.post(_page(paper, "curation/approve/"))
    paper.refresh_from_db()
    video = Video.objects.get(paper=paper)
    assert paper.curation_status == CurationStatus.APPROVED
    assert (video.approved_by, video.approved_at is not None) == (users["bob"], True)
    assert bob.post(_page(paper, "curation/approve/")).status_code == 302  # approving again changes nothing
    assert Video.objects.get(pk=video.pk).approved_at == video.approved_at
    page = clients["carol"].get(_page(paper)).content.decode()
    assert "approved by bob" in page and f'src="/media/{video.file.name}"' in page
    # Returning to review withdraws the approval; a changed scene then needs a new render first.
    bob.post(_page(paper, "curation/return/"))
    paper.refresh_from_db()
    assert paper.curation_status == CurationStatus.IN_REVIEW and Video.objects.get(pk=video.pk).approved_at is None
    other = Image.objects.create(
        chunk=_scene(paper, 0), file=Image.objects.filter(chunk__paper=paper).first().file.name, prompt="p",  # type: ignore[union-attr]
        seed=7, backend="t", width=16, height=16, sha256="f" * 64, input_fingerprint="x",
    )  # fmt: skip
    curation.image_select(other, user=users["bob"])
    bob.post(_page(paper, "curation/approve/"))
    assert "render the video again" in bob.get(_page(paper)).content.decode()
    paper.refresh_from_db()
    assert paper.curation_status == CurationStatus.IN_REVIEW
    log = list(LogEntry.objects.filter(object_id=str(paper.pk)).order_by("pk").values_list("change_message", flat=True))
    assert log == ["Sent for review", f"Approved video {video.pk} for publishing", "Returned to review"]


def test_the_status_feed_reports_each_stage(clients: dict[str, Client], paper: Paper) -> None:
    StageRun.objects.create(paper=paper, stage="illustrate", status="running", progress=40, attempts=2)
    data = clients["carol"].get(_page(paper, "pipeline.json")).json()
    assert data["active"] is True
    illustrate = next(s for s in data["stages"] if s["stage"] == "illustrate")
    assert (illustrate["status"], illustrate["progress"], illustrate["attempts"]) == ("running", 40, 2)
    assert [s["stage"] for s in data["stages"]] == ["transcribe", "chunk", "summarize", "illustrate", "render"]


def test_videos_are_served_in_byte_ranges_for_seeking(clients: dict[str, Client], paper: Paper) -> None:
    render.run(paper, force=False, progress=no_progress)
    video = Video.objects.get(paper=paper)
    url = f"/media/{video.file.name}"
    whole = clients["carol"].get(url)
    body = b"".join(whole.streaming_content)  # type: ignore[attr-defined]
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "video/mp4"
    part = clients["carol"].get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(body)}"
    assert b"".join(part.streaming_content) == body[100:200]  # type: ignore[attr-defined]
    tail = clients["carol"].get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == body[-10:]  # type: ignore[attr-defined]
    assert clients["carol"].get(url, HTTP_RANGE=f"bytes={len(body)}-").status_code == 416
    assert clients["mallory"].get(url, HTTP_RANGE="bytes=0-9").status_code == 404


# --- Query counts ------------------------------------------------------------------------------------------


def _populate(project: Project, start: int, count: int) -> None:
    """`count` more of every kind of row the changelists show."""
    owner = Membership.objects.get(project=project, role=Role.OWNER).user
    for n in range(start, start + count):
        services.project_create(name=f"Side project {n}", owner=owner)  # type: ignore[arg-type]
        user = User.objects.create_user(f"member{n}", is_staff=True)
        services.membership_set(project=project, user=user, role=Role.VIEWER)
        paper = make_text_paper(project, f"Text {n}.", title=f"Paper {n}")
        StageRun.objects.create(paper=paper, stage="narrate", status="succeeded", metrics={"seconds": 1})
        StageRun.objects.create(paper=paper, stage="transcribe", status="failed", error="boom")
        t = Transcription.objects.create(
            paper=paper, engine="e", model="m", duration=1, audio_fingerprint="a", input_fingerprint="i"
        )
        segment = Segment.objects.create(transcription=t, index=0, start=0, end=1, text="t")
        Word.objects.create(transcription=t, segment=segment, index=0, start=0, end=1, text="w")
        chunk = Chunk.objects.create(
            paper=paper, transcription=t, index=0, start=0, end=1, text="c", input_fingerprint="i"
        )
        Summary.objects.create(
            chunk=chunk, summary="s", image_prompt="p", backend="b", prompt_version="v", input_fingerprint="i"
        )
        Image.objects.create(
            chunk=chunk, file=f"x/{n}.png", prompt="p", seed=n, backend="b", width=1, height=1, sha256="s",
            input_fingerprint="i", selected=True,
        )  # fmt: skip
        Video.objects.create(
            paper=paper, file=f"x/{n}.mp4", srt=f"x/{n}.srt", duration=1, width=1, height=1, settings_fingerprint="f"
        )
        PromptTemplate.objects.create(project=project, version=n + 1, system_prompt="s", scene_prompt="{scene}")


CHANGELISTS = [
    "projects/project",
    "projects/membership",
    "projects/paper",
    "media_pipeline/stagerun",
    "media_pipeline/transcription",
    "media_pipeline/segment",
    "media_pipeline/word",
    "media_pipeline/chunk",
    "media_pipeline/summary",
    "media_pipeline/image",
    "media_pipeline/video",
    "media_pipeline/prompttemplate",
]


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("who", ["alice", "superuser"])
def test_changelist_queries_do_not_grow_with_rows(
    who: str, users: dict[str, User], project: Project, django_assert_num_queries: Callable[..., Any]
) -> None:
    user = users["alice"] if who == "alice" else User.objects.create_superuser("root", password="x")
    client = _client(user)
    _populate(project, 0, 5)
    with_5 = {url: _queries(client, f"/admin/{url}/") for url in CHANGELISTS}
    _populate(project, 5, 45)
    for url in CHANGELISTS:
        rows = client.get(f"/admin/{url}/").context["cl"].result_count
        assert rows >= 50, url
        with django_assert_num_queries(with_5[url]):
            client.get(f"/admin/{url}/")


def test_the_paper_page_queries_do_not_grow_with_scenes(
    clients: dict[str, Client], project: Project, tmp_dir: Path
) -> None:
    few = make_video_paper(project, tmp_dir, [float(i) for i in range(5)], 60.0)
    many = make_video_paper(project, tmp_dir, [float(i) for i in range(50)], 60.0)
    _queries(clients["bob"], _page(few))  # the first page of a process fills Django's content-type cache
    assert _queries(clients["bob"], _page(few)) == _queries(clients["bob"], _page(many))
