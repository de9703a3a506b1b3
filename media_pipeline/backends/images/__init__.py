"""Scene images. Every backend turns one ImageRequest into PNG bytes plus the seed really used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    model: str
    # What a text-only renderer draws: the scene's summary and a caption line.
    headline: str = ""
    caption: str = ""


@dataclass(frozen=True)
class ImageResult:
    png: bytes
    seed: int
    model: str
    params: dict[str, Any] = field(default_factory=dict)


class ImageGenerator(Protocol):
    name: str

    def identity(self) -> str:
        """Backend, model and fixed parameters, for fingerprints."""
        ...

    def generate(self, request: ImageRequest) -> ImageResult: ...


def get_image_generator() -> ImageGenerator:
    from media_pipeline.backends.images.titlecard import TitleCardRenderer

    backend = settings.PAPERCAST_IMAGE_BACKEND
    if backend == "titlecard":
        return TitleCardRenderer(font_path=settings.PAPERCAST_FONT)
    raise ValueError(f"unknown image backend {backend!r}")
