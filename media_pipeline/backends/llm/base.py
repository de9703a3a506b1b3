"""The types every scene summarizer shares: the request, the summary, the JSON schema and its parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SceneRequest:
    """Everything a backend may use to describe one scene; all of it goes into the fingerprint."""

    paper_title: str
    scene_index: int
    scene_count: int
    text: str
    previous_text: str
    next_text: str
    style: str
    model: str
    # The instructions, rendered from the project's prompt template (LLM backends send these).
    system_prompt: str = ""
    user_prompt: str = ""
    negative_prompt: str = ""
    template_version: str = ""


SCENE_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {
            "type": "string",
            "maxLength": 400,
            "description": "The scene's core idea in one or two sentences.",
        },
        "image_prompt": {
            "type": "string",
            "maxLength": 600,
            "description": "A detailed prompt for an image generator.",
        },
        "key_phrases": {
            "type": "array",
            "items": {"type": "string", "maxLength": 60},
            "maxItems": 3,
            "description": "One to three short phrases (two to six words) for the scene's slide.",
        },
    },
    "required": ["summary", "image_prompt", "key_phrases"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class SceneSummary:
    summary: str
    image_prompt: str
    negative_prompt: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    key_phrases: tuple[str, ...] = ()  # for the slide; () when the backend proposed none usable


class Summarizer(Protocol):
    name: str
    prompt_version: str

    def identity(self, model: str) -> str:
        """Backend, model and prompt version, for fingerprints."""
        ...

    def summarize(self, request: SceneRequest) -> SceneSummary: ...


def parse_scene_json(content: str) -> tuple[str, str, tuple[str, ...]]:
    """(summary, image_prompt, key phrases) from a model's reply; ValueError says what is wrong with it.
    Key phrases are optional (a custom prompt may not ask for them): unusable ones are left out."""
    import json

    text = content.strip()
    if text.startswith("```"):  # a fenced block from servers without structured output
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    values = []
    for key in ("summary", "image_prompt"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'the key "{key}" is missing or empty')
        values.append(" ".join(value.split()))
    raw = data.get("key_phrases")
    phrases = tuple(
        " ".join(p.split()).strip(" .;")
        for p in (raw if isinstance(raw, list) else [])
        if isinstance(p, str) and 0 < len(p.split()) <= 8 and len(p) <= 80
    )[:3]
    return values[0], values[1], phrases
