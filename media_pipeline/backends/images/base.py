"""The types every image backend shares: samplers, requests, results and the generator protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from media_pipeline.backends.errors import PermanentError
from projects.models import ImageSampler


@dataclass(frozen=True)
class Sampler:
    """One sampler in each backend's own words."""

    a1111: str
    a1111_scheduler: str
    comfyui: str
    comfyui_scheduler: str
    diffusers: str
    karras: bool = False


# The samplers a project can choose (projects.models.ImageSampler), translated for each backend.
SAMPLERS: dict[str, Sampler] = {
    ImageSampler.EULER: Sampler("Euler", "Automatic", "euler", "normal", "EulerDiscreteScheduler"),
    ImageSampler.EULER_A: Sampler(
        "Euler a", "Automatic", "euler_ancestral", "normal", "EulerAncestralDiscreteScheduler"
    ),
    ImageSampler.DPMPP_2M: Sampler("DPM++ 2M", "Automatic", "dpmpp_2m", "normal", "DPMSolverMultistepScheduler"),
    ImageSampler.DPMPP_2M_KARRAS: Sampler(
        "DPM++ 2M", "Karras", "dpmpp_2m", "karras", "DPMSolverMultistepScheduler", karras=True
    ),
    ImageSampler.DDIM: Sampler("DDIM", "Automatic", "ddim", "ddim_uniform", "DDIMScheduler"),
}
DEFAULT_SAMPLER = str(ImageSampler.DPMPP_2M_KARRAS)


def sampler(key: str) -> Sampler:
    try:
        return SAMPLERS[key or DEFAULT_SAMPLER]
    except KeyError:
        known = ", ".join(SAMPLERS)
        raise PermanentError(f"Unknown sampler {key!r}; papercast knows: {known}.") from None


@dataclass(frozen=True)
class SlideSpec:
    """What one slide says. `figure` is the figure's PNG or JPEG bytes (kept out of fingerprints: its sha256,
    `figure_sha256`, stands for it). `picture` is an image server's picture for a title or points slide, drawn
    beside the text (kept out of fingerprints: the request that made it stands for it)."""

    kind: str  # "title", "points" or "figure"
    title: str = ""  # the paper's title (title slide), or its short title (footer)
    authors: str = ""
    venue: str = ""
    header: str = ""  # the section's name
    phrases: tuple[str, ...] = ()
    figure_label: str = ""  # "Figure 3", "Table 2"
    figure_caption: str = ""
    figure_sha256: str = ""
    figure: bytes = field(default=b"", repr=False, compare=False)
    picture: bytes = field(default=b"", repr=False, compare=False)
    theme: str = ""  # the project's theme key: same key, same colours
    counter: str = ""  # "3/12"


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
    # What the slide renderer draws (the other backends draw the prompt).
    slide: SlideSpec | None = None


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


class LocalRenderer:
    """What papercast's own drawing backends share: no server, an identity from their version and font."""

    name = ""
    version = ""

    def __init__(self, font_path: str | None = None) -> None:
        self.font_path = font_path

    @property
    def server(self) -> str:
        return ""

    def identity(self) -> str:
        return f"{self.name}:{self.version}:{self.font_path or 'default'}"
