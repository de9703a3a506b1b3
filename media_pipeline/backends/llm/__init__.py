"""Scene summaries and image prompts. Every backend answers one SceneRequest with one SceneSummary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings


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


@dataclass(frozen=True)
class SceneSummary:
    summary: str
    image_prompt: str
    negative_prompt: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0


class Summarizer(Protocol):
    name: str
    prompt_version: str

    def identity(self, model: str) -> str:
        """Backend, model and prompt version, for fingerprints."""
        ...

    def summarize(self, request: SceneRequest) -> SceneSummary: ...


def get_summarizer() -> Summarizer:
    from media_pipeline.backends.llm.extractive import ExtractiveSummarizer

    backend = settings.PAPERCAST_LLM_BACKEND
    if backend == "extractive":
        return ExtractiveSummarizer()
    raise ValueError(f"unknown LLM backend {backend!r}")
