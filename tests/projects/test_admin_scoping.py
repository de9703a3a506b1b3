from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from media_pipeline.models import Stage, StageRun
from projects.models import Paper, Project
from tests.conftest import make_text_paper

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def paper(project: Project) -> Paper:
    paper = make_text_paper(project, "Bees dance.", title="Secret bee research")
    StageRun.objects.create(paper=paper, stage=Stage.NARRATE)
    return paper


def test_to_an_outsider_another_teams_paper_looks_exactly_like_a_missing_one(
    users: dict[str, User], paper: Paper
) -> None:
    missing_id = paper.pk + 1000
    mallory = _client(users["mallory"])
    for suffix in ("change/", "history/", "delete/"):
        real = mallory.get(f"/admin/projects/paper/{paper.pk}/{suffix}")
        missing = mallory.get(f"/admin/projects/paper/{missing_id}/{suffix}")
        assert real.status_code == missing.status_code == 404, suffix
        assert real.content == missing.content, suffix
        assert b"bee" not in real.content
    # The same for what belongs to the paper.
    run = paper.stage_runs.get()
    assert mallory.get(f"/admin/media_pipeline/stagerun/{run.pk}/change/").status_code == 404
    assert _client(users["carol"]).get(f"/admin/media_pipeline/stagerun/{run.pk}/change/").status_code == 200


def test_lists_and_searches_show_only_the_users_projects(
    users: dict[str, User], paper: Paper, other_project: Project
) -> None:
    theirs = make_text_paper(other_project, "Mallory's text.", title="Mallory's own paper")
    mallory = _client(users["mallory"])
    page = mallory.get("/admin/projects/paper/?q=research").content.decode()
    assert "Secret bee research" not in page
    page = mallory.get("/admin/projects/paper/").content.decode()
    assert "Mallory&#x27;s own paper" in page and "Secret bee research" not in page
    assert "Secret bee research" not in mallory.get("/admin/media_pipeline/stagerun/").content.decode()
    alice_page = _client(users["alice"]).get("/admin/projects/paper/").content.decode()
    assert "Secret bee research" in alice_page and "Mallory" not in alice_page
    assert theirs.pk != paper.pk


def test_members_see_the_paper_and_only_editors_change_it(users: dict[str, User], paper: Paper) -> None:
    url = f"/admin/projects/paper/{paper.pk}/change/"
    for name in ("alice", "bob", "carol"):
        assert _client(users[name]).get(url).status_code == 200, name
    form = {
        "project": paper.project_id,
        "title": "Renamed",
        "source_kind": "text",
        "source_text": "",
        "source_filename": "paper.txt",
        "curation_status": "draft",
    }
    assert _client(users["carol"]).post(url, form).status_code == 403
    paper.refresh_from_db()
    assert paper.title == "Secret bee research"
    assert _client(users["bob"]).post(url, form).status_code == 302
    paper.refresh_from_db()
    assert paper.title == "Renamed"


def test_pipeline_outputs_cannot_be_added_or_changed_by_hand(users: dict[str, User], paper: Paper) -> None:
    alice = _client(users["alice"])
    assert alice.get("/admin/media_pipeline/stagerun/add/").status_code == 403
    run = paper.stage_runs.get()
    response = alice.post(f"/admin/media_pipeline/stagerun/{run.pk}/change/", {"status": "succeeded"})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == "pending"


def test_an_editor_cannot_move_a_paper_into_another_teams_project(
    users: dict[str, User], paper: Paper, other_project: Project
) -> None:
    url = f"/admin/projects/paper/{paper.pk}/change/"
    form = {"project": other_project.pk, "title": "Moved", "source_kind": "text", "curation_status": "draft"}
    response = _client(users["bob"]).post(url, form)
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    paper.refresh_from_db()
    assert paper.project_id != other_project.pk


def test_stored_media_is_served_only_to_members(users: dict[str, User], paper: Paper) -> None:
    url = f"/media/{paper.source_file.name}"
    assert _client(users["carol"]).get(url).status_code == 200
    assert _client(users["mallory"]).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page


@pytest.mark.django_db(transaction=True)
def test_editors_start_the_pipeline_from_the_admin_and_viewers_cannot(
    users: dict[str, User], project: Project, settings: object
) -> None:
    settings.PAPERCAST_QUEUE_SYNC = False  # type: ignore[attr-defined]
    paper = make_text_paper(project, "Bees dance.", title="Dance paper")
    form = {"action": "run_pipeline", "_selected_action": [paper.pk]}
    carol = _client(users["carol"]).post("/admin/projects/paper/", form)
    assert carol.status_code in (200, 302) and not StageRun.objects.filter(paper=paper).exists()
    bob = _client(users["bob"]).post("/admin/projects/paper/", form)
    assert bob.status_code == 302
    run = StageRun.objects.get(paper=paper)
    assert (run.stage, run.status, run.requested_by) == (Stage.NARRATE, "pending", users["bob"])


def test_editors_revise_prompt_templates_as_new_versions_and_viewers_cannot(
    users: dict[str, User], project: Project
) -> None:
    from media_pipeline.models import PromptTemplate

    form = {
        "project": project.pk,
        "system_prompt": "Be brief.",
        "scene_prompt": "Scene: {scene}",
        "negative_prompt": "",
    }
    assert _client(users["carol"]).post("/admin/media_pipeline/prompttemplate/add/", form).status_code == 403
    bob = _client(users["bob"])
    page = bob.get(f"/admin/media_pipeline/prompttemplate/add/?project={project.pk}").content.decode()
    assert "Narration of this scene" in page  # pre-filled with the template in use
    assert bob.post("/admin/media_pipeline/prompttemplate/add/", form).status_code == 302
    assert (
        bob.post("/admin/media_pipeline/prompttemplate/add/", {**form, "system_prompt": "Be vivid."}).status_code == 302
    )
    versions = list(
        PromptTemplate.objects.filter(project=project)
        .order_by("version")
        .values_list("version", "system_prompt", "created_by")
    )
    assert versions == [(1, "Be brief.", users["bob"].pk), (2, "Be vivid.", users["bob"].pk)]
    first = PromptTemplate.objects.get(project=project, version=1)
    response = bob.post(
        f"/admin/media_pipeline/prompttemplate/{first.pk}/change/", {**form, "system_prompt": "Changed"}
    )
    assert response.status_code == 403  # versions are never edited in place
    broken = bob.post("/admin/media_pipeline/prompttemplate/add/", {**form, "scene_prompt": "Scene {scenery}"})
    assert broken.status_code == 200 and "cannot be filled in" in broken.content.decode()
