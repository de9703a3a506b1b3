"""The instructions the LLM gets for each scene: the project's newest PromptTemplate, or the built-in one.

Templates are versioned: a revision is a new row, never an edit, so each Summary records which version of
the instructions produced it, and a revision makes scenes whose summaries no person edited out of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Max

from media_pipeline.backends.errors import PermanentError
from media_pipeline.models import PromptTemplate
from projects.models import Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User

BUILTIN_VERSION = "builtin-2"  # 2: key phrases for the slide
SYSTEM_PROMPT = (
    "You plan the pictures for a narrated explainer video about a research paper. For the scene you are "
    'given, reply with only a JSON object with three keys. "summary": the scene\'s core idea in one or two '
    'plain sentences, faithful to the narration, adding no claims of your own. "image_prompt": a detailed '
    "prompt for an image generator that shows that idea: the subject, composition, setting, lighting and "
    "colours, in the given visual style, with no text, letters, numbers or logos in the picture. "
    '"key_phrases": one to three short phrases (two to six words each) for the scene\'s slide, naming what '
    "it is about with its numbers exact; not sentences copied from the narration."
)
SCENE_PROMPT = (
    "Video title: {title}\n"
    "Scene {scene_number} of {scene_count}.\n\n"
    "Narration just before this scene (context only):\n{previous}\n\n"
    "Narration of this scene:\n{scene}\n\n"
    "Narration just after this scene (context only):\n{next}\n\n"
    "Visual style: {style}"
)
NEGATIVE_PROMPT = "text, letters, watermark, logo, signature, blurry, low quality, deformed, distorted"


@dataclass(frozen=True)
class Template:
    version: str
    system_prompt: str
    scene_prompt: str
    negative_prompt: str


def template_for(project: Project) -> Template:
    row = PromptTemplate.objects.filter(project=project).order_by("-version").first()
    if row is None:
        return Template(BUILTIN_VERSION, SYSTEM_PROMPT, SCENE_PROMPT, NEGATIVE_PROMPT)
    return Template(f"v{row.version}", row.system_prompt, row.scene_prompt, row.negative_prompt)


def render_scene_prompt(template: Template, **values: object) -> str:
    try:
        return template.scene_prompt.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise PermanentError(
            f"The prompt template {template.version} cannot be filled in ({type(exc).__name__}: {exc}). "
            "Use only the placeholders {title}, {scene_number}, {scene_count}, {previous}, {scene}, {next} and "
            "{style}, and write literal braces as {{ and }}."
        ) from None


def check_scene_prompt(scene_prompt: str) -> None:
    """PermanentError when the scene prompt cannot be filled in."""
    probe = Template("new", "", scene_prompt, "")
    render_scene_prompt(probe, title="", scene_number=1, scene_count=1, previous="", scene="", next="", style="")


def prompt_template_revise(
    *,
    project: Project,
    system_prompt: str,
    scene_prompt: str,
    negative_prompt: str = "",
    created_by: User | None = None,
) -> PromptTemplate:
    """Add the next version of the project's template. Not idempotent: each call is a new version."""
    check_scene_prompt(scene_prompt)
    for _ in range(5):
        try:
            with transaction.atomic():
                latest = PromptTemplate.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0
                return PromptTemplate.objects.create(
                    project=project,
                    version=latest + 1,
                    system_prompt=system_prompt,
                    scene_prompt=scene_prompt,
                    negative_prompt=negative_prompt,
                    created_by=created_by,
                )
        except IntegrityError:
            continue  # someone else took that version number at the same moment: take the next
    raise PermanentError("Could not save the prompt template: too many revisions at once. Try again.")
