"""Scene images. Every backend turns one ImageRequest into PNG bytes plus the seed and model really used.

Backends: `titlecard` (built in, offline), `a1111` (Stable Diffusion WebUI and its forks), `comfyui`, and
`diffusers` (a local pipeline, for the gpu cluster). `get_image_generator()` builds the configured one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from media_pipeline.backends.errors import PermanentError


@dataclass(frozen=True)
class Sampler:
    """One sampler in each backend's own words."""

    label: str
    a1111: str
    a1111_scheduler: str
    comfyui: str
    comfyui_scheduler: str
    diffusers: str
    karras: bool = False


# The samplers papercast offers per project, named once and translated for each backend.
SAMPLERS: dict[str, Sampler] = {
    "euler": Sampler("Euler", "Euler", "Automatic", "euler", "normal", "EulerDiscreteScheduler"),
    "euler_a": Sampler(
        "Euler ancestral", "Euler a", "Automatic", "euler_ancestral", "normal", "EulerAncestralDiscreteScheduler"
    ),
    "dpmpp_2m": Sampler("DPM++ 2M", "DPM++ 2M", "Automatic", "dpmpp_2m", "normal", "DPMSolverMultistepScheduler"),
    "dpmpp_2m_karras": Sampler(
        "DPM++ 2M Karras", "DPM++ 2M", "Karras", "dpmpp_2m", "karras", "DPMSolverMultistepScheduler", karras=True
    ),
    "ddim": Sampler("DDIM", "DDIM", "Automatic", "ddim", "ddim_uniform", "DDIMScheduler"),
}
DEFAULT_SAMPLER = "dpmpp_2m_karras"


def sampler(key: str) -> Sampler:
    try:
        return SAMPLERS[key or DEFAULT_SAMPLER]
    except KeyError:
        known = ", ".join(SAMPLERS)
        raise PermanentError(f"Unknown sampler {key!r}; papercast knows: {known}.") from None


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    steps: int = 25
    guidance: float = 7.0
    sampler: str = DEFAULT_SAMPLER
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

    @property
    def server(self) -> str:
        """The outside server's address ('' for in-process backends): its concurrency limit is per server."""
        ...

    def identity(self) -> str:
        """Backend, model and fixed parameters, for fingerprints."""
        ...

    def generate(self, request: ImageRequest) -> ImageResult: ...


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
