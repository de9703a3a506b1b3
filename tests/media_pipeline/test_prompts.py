"""Prompt templates are filled in with plain {name} placeholders only, and never grow past a fixed length."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from media_pipeline.backends.errors import PermanentError
from media_pipeline.models import PromptTemplate
from media_pipeline.prompts import MAX_PROMPT_CHARS, Template, prompt_template_revise, render_scene_prompt
from projects.models import Project

VALUES: dict[str, object] = {
    "title": "Bees",
    "scene_number": 3,
    "scene_count": 9,
    "previous": "Before.",
    "scene": "Bees dance.",
    "next": "After.",
    "style": "watercolour",
}


def _render(scene_prompt: str, **values: object) -> str:
    return render_scene_prompt(Template("v1", "", scene_prompt, ""), **{**VALUES, **values})


def test_it_fills_in_plain_placeholders_and_keeps_doubled_braces_literal() -> None:
    rendered = _render('Scene {scene_number} of {scene_count}: {scene} ({style}) {{"summary": "{title}"}}')
    assert rendered == 'Scene 3 of 9: Bees dance. (watercolour) {"summary": "Bees"}'


@pytest.mark.parametrize(
    "placeholder",
    [
        "{scene_number:>2000000000}",  # would allocate ~2 GB per render with str.format
        "{scene_number:>200}",
        "{scene!r}",
        "{title.__class__}",
        "{scene[0]}",
        "{scene:{title}}",
        "{0}",
        "{}",
        "{scenery}",
    ],
)
@pytest.mark.django_db
def test_it_refuses_anything_but_a_plain_placeholder_and_names_it(project: Project, placeholder: str) -> None:
    with pytest.raises(PermanentError) as refused:
        prompt_template_revise(project=project, system_prompt="x", scene_prompt=f"Scene: {placeholder}")
    assert f"{placeholder} is not an allowed placeholder" in str(refused.value)
    assert not PromptTemplate.objects.filter(project=project).exists()
    with pytest.raises(PermanentError, match="not an allowed placeholder"):
        _render(f"Scene: {placeholder}")  # a template saved before the check is refused in the worker too


@pytest.mark.django_db
def test_it_refuses_a_template_that_would_render_too_long_when_saved(project: Project) -> None:
    # Each {scene} is checked at a real scene's longest (2,500 characters): nine of them are past the limit.
    with pytest.raises(PermanentError, match=f"the limit is {MAX_PROMPT_CHARS:,}"):
        prompt_template_revise(project=project, system_prompt="x", scene_prompt="{scene}" * 9)
    with pytest.raises(PermanentError, match="the limit is 20,000"):
        prompt_template_revise(project=project, system_prompt="x", scene_prompt="x" * 20_001)
    assert not PromptTemplate.objects.filter(project=project).exists()
    prompt_template_revise(project=project, system_prompt="x", scene_prompt="{scene}" * 2)


def test_it_caps_the_rendered_prompt_in_the_worker() -> None:
    assert len(_render("{scene}", scene="s" * MAX_PROMPT_CHARS)) == MAX_PROMPT_CHARS
    with pytest.raises(PermanentError, match="renders to 20,001 characters; the limit is 20,000"):
        _render("{scene}!", scene="s" * MAX_PROMPT_CHARS)


@pytest.mark.django_db
def test_the_admin_form_says_which_placeholder_is_wrong(users: dict[str, User], project: Project) -> None:
    client = Client()
    client.force_login(users["bob"])
    form = {"project": project.pk, "system_prompt": "x", "scene_prompt": "{scene_number:>2000000000}"}
    response = client.post("/admin/media_pipeline/prompttemplate/add/", form)
    assert response.status_code == 200
    assert "{scene_number:&gt;2000000000} is not an allowed placeholder" in response.content.decode()
    assert not PromptTemplate.objects.filter(project=project).exists()
