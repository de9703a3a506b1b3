"""The instructions the LLM gets for each scene: the project's newest PromptTemplate, or the built-in one.

Templates are versioned: a revision is a new row, never an edit, so each Summary records which version of
the instructions produced it, and a revision makes scenes whose summaries no person edited out of date.
"""

from __future__ import annotations

import string
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


PLACEHOLDERS = ("title", "scene_number", "scene_count", "previous", "scene", "next", "style")
MAX_PROMPT_CHARS = 20_000
# What check_scene_prompt fills in: each value as long as a real scene's can be (titles are cut at 300
# characters, the style at 500, the neighbours' context at 600; a 120 s scene is ~2,500 characters), so a
# template that would render too long for a real scene is refused when saved, not in the worker.
_PROBE_VALUES: dict[str, object] = {
    "title": "t" * 300,
    "scene_number": 999,
    "scene_count": 999,
    "previous": "p" * 600,
    "scene": "s" * 2_500,
    "next": "n" * 600,
    "style": "y" * 500,
}
_HELP = (
    "Use only the placeholders {title}, {scene_number}, {scene_count}, {previous}, {scene}, {next} and "
    "{style}, exactly like that (no format specs such as {scene_number:>5}, no !r, no .attributes or [index]), "
    "and write literal braces as {{ and }}."
)


def _pieces(template: Template) -> list[tuple[str, str | None]]:
    """The template as (literal text, placeholder name or None) pairs; PermanentError for anything but a plain
    {name}. str.format is never used: its format specs ({x:>2000000000}) allocate whatever they ask for and
    its attribute and index access reach into the values' objects."""
    try:
        parsed = list(string.Formatter().parse(template.scene_prompt))
    except ValueError as exc:
        raise PermanentError(f"The prompt template {template.version} cannot be filled in ({exc}). {_HELP}") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None))
            continue
        if field not in PLACEHOLDERS or spec or conversion is not None:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise PermanentError(
                f"The prompt template {template.version} cannot be filled in: {shown} is not an allowed placeholder. "
                + _HELP
            )
        pieces.append((literal, field))
    return pieces


def render_scene_prompt(template: Template, **values: object) -> str:
    """The scene prompt with each {name} replaced by str(value). PermanentError for a placeholder other than a
    plain {name} from PLACEHOLDERS, a value not given, or a result over MAX_PROMPT_CHARS (measured before
    anything is joined, so an oversized result is never built)."""
    pieces = _pieces(template)
    texts = {name: str(value) for name, value in values.items()}
    missing = sorted({field for _, field in pieces if field is not None and field not in texts})
    if missing:
        raise PermanentError(
            f"The prompt template {template.version} cannot be filled in: no value for {{{missing[0]}}}. {_HELP}"
        )
    length = sum(len(literal) + (len(texts[field]) if field is not None else 0) for literal, field in pieces)
    if length > MAX_PROMPT_CHARS:
        raise PermanentError(
            f"The prompt template {template.version} renders to {length:,} characters; the limit is "
            f"{MAX_PROMPT_CHARS:,}. Shorten the template or use fewer placeholders."
        )
    return "".join(literal + (texts[field] if field is not None else "") for literal, field in pieces)


def check_scene_prompt(scene_prompt: str) -> None:
    """PermanentError when the scene prompt cannot be filled in, or would render over MAX_PROMPT_CHARS for a
    scene with the longest title, style, scene text and context papercast produces."""
    render_scene_prompt(Template("new", "", scene_prompt, ""), **_PROBE_VALUES)


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
