"""A local diffusers text-to-image pipeline (meant for the gpu cluster).

PAPERCAST_IMAGE_MODEL is a local directory (a pipeline saved with save_pretrained) or a Hugging Face model
id; with HF_HUB_OFFLINE=1 nothing is downloaded and a model missing from the cache is a clear error. The
pipeline is loaded once per worker process and kept. cuda when available (float16), else CPU (float32).
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.base import ImageRequest, ImageResult, sampler

_cache: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def _device(choice: str) -> str:
    import torch

    if choice and choice != "auto":
        return choice
    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype(choice: str, device: str) -> Any:
    import torch

    if choice in ("", "auto"):
        return torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[choice]
    except KeyError:
        raise PermanentError(f"PAPERCAST_DIFFUSERS_DTYPE={choice!r}: use auto, float16, bfloat16 or float32.") from None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def load_pipeline(model: str, device: str, dtype_name: str) -> Any:
    key = (model, device, dtype_name)
    with _lock:
        if key in _cache:
            return _cache[key]
        try:
            from diffusers import AutoPipelineForText2Image
        except ImportError as exc:  # pragma: no cover - diffusers is in requirements.txt
            raise PermanentError(f"The diffusers backend needs the diffusers package: {exc}") from None
        local = Path(model).is_dir()
        try:
            pipeline = AutoPipelineForText2Image.from_pretrained(
                model, dtype=_dtype(dtype_name, device), local_files_only=local or _offline()
            )
        except (OSError, ValueError) as exc:
            where = "the directory" if local else "the Hugging Face cache (HF_HUB_OFFLINE is set)" if _offline() else ""
            raise PermanentError(
                f"The diffusers model {model!r} could not be loaded{' from ' + where if where else ''}: {exc}"
            ) from None
        pipeline = pipeline.to(device)
        pipeline.set_progress_bar_config(disable=True)
        _cache[key] = pipeline
        return pipeline


class DiffusersGenerator:
    name = "diffusers"

    def __init__(self, model: str, *, device: str = "auto", dtype: str = "auto") -> None:
        if not model:
            raise PermanentError(
                "The diffusers backend needs PAPERCAST_IMAGE_MODEL: a local pipeline directory or a model id."
            )
        self.model = model
        self.device_choice = device
        self.dtype_choice = dtype

    @property
    def server(self) -> str:
        return ""

    def identity(self) -> str:
        return f"{self.name}:{self.model}:{self.dtype_choice}"

    def generate(self, request: ImageRequest) -> ImageResult:
        import torch

        device = _device(self.device_choice)
        pipeline = load_pipeline(self.model, device, self.dtype_choice)
        chosen = sampler(request.sampler)
        import diffusers

        scheduler_class = getattr(diffusers, chosen.diffusers)
        options: dict[str, Any] = {"use_karras_sigmas": True} if chosen.karras else {}
        pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config, **options)
        if request.width % 8 or request.height % 8:
            raise PermanentError(
                f"diffusers needs an image size divisible by 8; {request.width}x{request.height} is not. "
                "Set the project's image size."
            )
        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        with torch.inference_mode():
            output = pipeline(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                width=request.width,
                height=request.height,
                generator=generator,
            )
        image = output.images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        params = {
            "steps": request.steps,
            "guidance_scale": request.guidance,
            "scheduler": chosen.diffusers + (" (Karras sigmas)" if chosen.karras else ""),
            "width": request.width,
            "height": request.height,
            "device": device,
            "dtype": str(pipeline.dtype).removeprefix("torch."),
            "diffusers": diffusers.__version__,
        }
        return ImageResult(png=buffer.getvalue(), seed=request.seed, model=self.model, params=params)
