"""Stable Diffusion WebUI (AUTOMATIC1111 and forks such as Forge): POST /sdapi/v1/txt2img.

The WebUI must run with --api (and --api-auth user:password for HTTP basic auth, PAPERCAST_IMAGE_AUTH).
The reply carries base64 PNGs in `images` and, in `info` (a JSON string), the seed and the model really
used; papercast records those rather than what it asked for.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.backends.http import HttpPolicy, HttpStatusError, request_json
from media_pipeline.backends.images.base import ImageRequest, ImageResult, sampler


class A1111Generator:
    name = "a1111"

    def __init__(self, url: str, model: str, policy: HttpPolicy, auth: tuple[str, str] | None) -> None:
        if not url:
            raise PermanentError("PAPERCAST_IMAGE_URL is empty: set it to the WebUI's address.")
        self.url = url.rstrip("/")
        self.model = model
        self.policy = policy
        self.auth = auth

    @property
    def server(self) -> str:
        return self.url

    def identity(self) -> str:
        return f"{self.name}:{self.model or 'server-default'}"

    def payload(self, request: ImageRequest) -> dict[str, Any]:
        chosen = sampler(request.sampler)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed,
            "steps": request.steps,
            "cfg_scale": request.guidance,
            "width": request.width,
            "height": request.height,
            "sampler_name": chosen.a1111,
            # WebUI 1.9 and later take the noise schedule separately; older ones ignore the field.
            "scheduler": chosen.a1111_scheduler,
            "batch_size": 1,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
        }
        if self.model:
            body["override_settings"] = {"sd_model_checkpoint": self.model}
            body["override_settings_restore_afterwards"] = False  # switching checkpoints back costs minutes
        return body

    def generate(self, request: ImageRequest) -> ImageResult:
        body = self.payload(request)
        try:
            reply = request_json(
                "POST",
                f"{self.url}/sdapi/v1/txt2img",
                policy=self.policy,
                body=body,
                auth=self.auth,
                service="The Stable Diffusion WebUI",
            )
        except HttpStatusError as exc:
            raise self._explain(exc) from None
        images = reply.get("images")
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise TransientError(f"{self.url} answered txt2img without an image.")
        encoded = images[0].split(",", 1)[1] if images[0].startswith("data:") else images[0]
        try:
            png = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PermanentError(f"The WebUI's image is not valid base64: {exc}") from None
        info = _info(reply.get("info"))
        seed = info.get("seed")
        model = info.get("sd_model_name") or self.model or "server-default"
        params = {
            "steps": info.get("steps", request.steps),
            "cfg_scale": info.get("cfg_scale", request.guidance),
            "sampler_name": info.get("sampler_name", body["sampler_name"]),
            "scheduler": body["scheduler"],
            "width": info.get("width", request.width),
            "height": info.get("height", request.height),
        }
        if info.get("sd_model_hash"):
            params["model_hash"] = info["sd_model_hash"]
        if info.get("version"):
            params["server_version"] = info["version"]
        return ImageResult(
            png=png, seed=seed if isinstance(seed, int) else request.seed, model=str(model), params=params
        )

    def _explain(self, exc: HttpStatusError) -> PermanentError:
        detail = _detail(exc)
        if exc.status == 401:
            return PermanentError(
                f"The WebUI at {self.url} refused the credentials: set PAPERCAST_IMAGE_AUTH to the user:password "
                "it was started with (--api-auth)."
            )
        if exc.status == 404 and "sampler" not in detail.lower() and "model" not in detail.lower():
            return PermanentError(
                f"{self.url} has no /sdapi/v1/txt2img: start the WebUI with --api, or check PAPERCAST_IMAGE_URL."
            )
        return PermanentError(f"The WebUI at {self.url} refused the request ({exc.status}): {detail}")


def _info(raw: object) -> dict[str, Any]:
    """The reply's `info`: a JSON document in a string (older forks send an object)."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def _detail(exc: HttpStatusError) -> str:
    """The WebUI's error text: {"detail": "..."}, FastAPI's [{"loc", "msg"}] list, or {"errors": "..."}."""
    try:
        data = json.loads(exc.body)
    except ValueError:
        return exc.body[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    detail = data.get("detail") or data.get("errors") or data.get("error") or ""
    if isinstance(detail, list):
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg', '')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    return str(detail)[:300]
