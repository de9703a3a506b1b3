"""Scene images. Every backend turns one ImageRequest into PNG bytes plus the seed and model really used.

Backends: `slides` (built in, offline, the default: title, key-point and figure slides), `titlecard` (the
scene's summary in large type, offline), `a1111` (Stable Diffusion WebUI and its forks), `comfyui`, and
`diffusers` (a local pipeline, for the gpu cluster). `get_image_generator()` builds the configured one.
"""

from __future__ import annotations

from django.conf import settings

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.base import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    ImageGenerator,
    ImageRequest,
    ImageResult,
    Sampler,
    sampler,
)

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "ImageGenerator",
    "ImageRequest",
    "ImageResult",
    "Sampler",
    "sampler",
]


def basic_auth() -> tuple[str, str] | None:
    """PAPERCAST_IMAGE_AUTH ("user:password") as a requests auth tuple."""
    raw = settings.PAPERCAST_IMAGE_AUTH
    if not raw:
        return None
    user, _, password = raw.partition(":")
    return user, password


def get_image_generator() -> ImageGenerator:
    from media_pipeline.backends.http import HttpPolicy

    backend = settings.PAPERCAST_IMAGE_BACKEND
    policy = HttpPolicy(
        connect_timeout=settings.PAPERCAST_IMAGE_CONNECT_TIMEOUT,
        read_timeout=settings.PAPERCAST_IMAGE_READ_TIMEOUT,
        retries=settings.PAPERCAST_IMAGE_RETRIES,
        backoff=settings.PAPERCAST_IMAGE_BACKOFF,
    )
    if backend == "slides":
        from media_pipeline.backends.images.slides import SlideRenderer

        return SlideRenderer(font_path=settings.PAPERCAST_FONT)
    if backend == "titlecard":
        from media_pipeline.backends.images.titlecard import TitleCardRenderer

        return TitleCardRenderer(font_path=settings.PAPERCAST_FONT)
    if backend == "a1111":
        from media_pipeline.backends.images.a1111 import A1111Generator

        return A1111Generator(settings.PAPERCAST_IMAGE_URL, settings.PAPERCAST_IMAGE_MODEL, policy, basic_auth())
    if backend == "comfyui":
        from media_pipeline.backends.images.comfyui import ComfyUIGenerator, load_workflow

        workflow = load_workflow(settings.PAPERCAST_COMFYUI_WORKFLOW)
        return ComfyUIGenerator(
            settings.PAPERCAST_IMAGE_URL, settings.PAPERCAST_IMAGE_MODEL, workflow, policy, basic_auth()
        )
    if backend == "diffusers":
        from media_pipeline.backends.images.diffusers import DiffusersGenerator

        return DiffusersGenerator(
            settings.PAPERCAST_IMAGE_MODEL,
            device=settings.PAPERCAST_DIFFUSERS_DEVICE,
            dtype=settings.PAPERCAST_DIFFUSERS_DTYPE,
        )
    raise PermanentError(f"Unknown image backend {backend!r} (PAPERCAST_IMAGE_BACKEND).")
