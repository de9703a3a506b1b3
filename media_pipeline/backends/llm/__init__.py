"""Scene summaries and image prompts. Every backend answers one SceneRequest with one SceneSummary."""

from __future__ import annotations

from django.conf import settings

from media_pipeline.backends.llm.base import (
    SCENE_SCHEMA,
    SceneRequest,
    SceneSummary,
    Summarizer,
    parse_scene_json,
)

__all__ = [
    "SCENE_SCHEMA",
    "SceneRequest",
    "SceneSummary",
    "Summarizer",
    "parse_scene_json",
]


def get_summarizer() -> Summarizer:
    backend = settings.PAPERCAST_LLM_BACKEND
    if backend == "extractive":
        from media_pipeline.backends.llm.extractive import ExtractiveSummarizer

        return ExtractiveSummarizer()
    from media_pipeline.backends.http import HttpPolicy

    policy = HttpPolicy(
        connect_timeout=settings.PAPERCAST_LLM_CONNECT_TIMEOUT,
        read_timeout=settings.PAPERCAST_LLM_READ_TIMEOUT,
        retries=settings.PAPERCAST_LLM_RETRIES,
        backoff=settings.PAPERCAST_LLM_BACKOFF,
    )
    if backend == "ollama":
        from media_pipeline.backends.llm.ollama import OllamaSummarizer

        return OllamaSummarizer(settings.PAPERCAST_LLM_URL, policy)
    if backend == "openai":
        from media_pipeline.backends.llm.openai import OpenAISummarizer

        return OpenAISummarizer(settings.PAPERCAST_LLM_URL, policy, api_key=settings.PAPERCAST_LLM_API_KEY)
    raise ValueError(f"unknown LLM backend {backend!r}")
