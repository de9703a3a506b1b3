"""ComfyUI's HTTP API: POST /prompt with a workflow in API format, poll /history/{id}, fetch /view.

The workflow (PAPERCAST_COMFYUI_WORKFLOW, "Save (API format)" in ComfyUI; a plain SD txt2img graph is
bundled) marks where papercast's values go with placeholders: "%prompt%", "%negative_prompt%", "%seed%",
"%width%", "%height%", "%steps%", "%cfg%", "%sampler_name%", "%scheduler%" and "%model%". A workflow saved
without placeholders is filled in by node type instead: the KSampler's inputs, the CLIPTextEncode nodes
wired to its positive and negative inputs, EmptyLatentImage's size and CheckpointLoaderSimple's model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.backends.http import HttpPolicy, HttpStatusError, request_json, send
from media_pipeline.backends.images.base import ImageRequest, ImageResult, sampler

BUNDLED_WORKFLOW = Path(__file__).with_name("comfyui_txt2img.json")
POLL_START, POLL_MAX = 0.25, 2.0
Workflow = dict[str, Any]


def load_workflow(path: str | None) -> Workflow:
    source = Path(path) if path else BUNDLED_WORKFLOW
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        message = f"The ComfyUI workflow {source} (PAPERCAST_COMFYUI_WORKFLOW) cannot be read: {exc}"
        raise PermanentError(message) from None
    except ValueError as exc:
        raise PermanentError(f"The ComfyUI workflow {source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(n, dict) and "class_type" in n for n in data.values()):
        raise PermanentError(
            f"The ComfyUI workflow {source} is not in API format (save it with 'Save (API format)'): "
            "every node needs a class_type."
        )
    return data


def _replace(node: Any, values: dict[str, Any], found: set[str]) -> Any:
    if isinstance(node, dict):
        return {k: _replace(v, values, found) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, values, found) for v in node]
    if isinstance(node, str) and node.startswith("%") and node.endswith("%") and node[1:-1] in values:
        found.add(node[1:-1])
        return values[node[1:-1]]
    return node


def fill(workflow: Workflow, values: dict[str, Any]) -> Workflow:
    """The workflow with papercast's values in place (placeholders, or by node type)."""
    found: set[str] = set()
    graph = _replace(copy.deepcopy(workflow), values, found)
    if "model" not in found and values.get("model"):
        for node in graph.values():
            if node["class_type"] == "CheckpointLoaderSimple":
                node["inputs"]["ckpt_name"] = values["model"]
    if found:
        missing = {"prompt", "seed"} - found
        if missing:
            raise PermanentError(f"The ComfyUI workflow has no placeholder for {', '.join(sorted(missing))}.")
        return graph
    samplers = [n for n in graph.values() if n["class_type"] in ("KSampler", "KSamplerAdvanced")]
    latents = [n for n in graph.values() if n["class_type"] == "EmptyLatentImage"]
    if len(samplers) != 1 or len(latents) != 1:
        raise PermanentError(
            "The ComfyUI workflow has no placeholders and not exactly one KSampler and one EmptyLatentImage, so "
            'papercast cannot tell where the prompt, seed and size go; add placeholders such as "%prompt%".'
        )
    inputs = samplers[0]["inputs"]
    seed_key = "noise_seed" if samplers[0]["class_type"] == "KSamplerAdvanced" else "seed"
    inputs.update(
        {
            seed_key: values["seed"],
            "steps": values["steps"],
            "cfg": values["cfg"],
            "sampler_name": values["sampler_name"],
            "scheduler": values["scheduler"],
        }
    )
    latents[0]["inputs"].update({"width": values["width"], "height": values["height"], "batch_size": 1})
    for key, text in (("positive", values["prompt"]), ("negative", values["negative_prompt"])):
        link = inputs.get(key)
        target = graph.get(str(link[0])) if isinstance(link, list) and link else None
        if target is None or target["class_type"] != "CLIPTextEncode":
            raise PermanentError(f"The ComfyUI workflow's KSampler {key} input is not a CLIPTextEncode node.")
        target["inputs"]["text"] = text
    return graph


class ComfyUIGenerator:
    name = "comfyui"

    def __init__(
        self, url: str, model: str, workflow: Workflow, policy: HttpPolicy, auth: tuple[str, str] | None
    ) -> None:
        if not url:
            raise PermanentError("PAPERCAST_IMAGE_URL is empty: set it to ComfyUI's address.")
        self.url = url.rstrip("/")
        self.model = model
        self.workflow = workflow
        self.policy = policy
        self.auth = auth

    @property
    def server(self) -> str:
        return self.url

    def identity(self) -> str:
        digest = json.dumps(self.workflow, sort_keys=True)
        return f"{self.name}:{self.model or 'workflow-default'}:{hash_text(digest)}"

    def _model_in(self, graph: Workflow) -> str:
        for node in graph.values():
            if node["class_type"] == "CheckpointLoaderSimple":
                return str(node["inputs"].get("ckpt_name", ""))
        return self.model

    def generate(self, request: ImageRequest) -> ImageResult:
        chosen = sampler(request.sampler)
        values = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed,
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "cfg": request.guidance,
            "sampler_name": chosen.comfyui,
            "scheduler": chosen.comfyui_scheduler,
            "model": self.model,
        }
        graph = fill(self.workflow, values)
        try:
            queued = request_json(
                "POST",
                f"{self.url}/prompt",
                policy=self.policy,
                body={"prompt": graph, "client_id": f"papercast-{uuid.uuid4().hex}"},
                auth=self.auth,
                service="ComfyUI",
            )
        except HttpStatusError as exc:
            raise PermanentError(f"ComfyUI refused the workflow ({exc.status}): {_comfy_error(exc.body)}") from None
        prompt_id = queued.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise TransientError(f"ComfyUI at {self.url} queued the workflow without a prompt_id.")
        image = self._wait_for_image(prompt_id)
        try:
            png = send(
                "GET",
                f"{self.url}/view",
                policy=self.policy,
                params={
                    "filename": str(image.get("filename", "")),
                    "subfolder": str(image.get("subfolder", "")),
                    "type": str(image.get("type", "output")),
                },
                auth=self.auth,
                service="ComfyUI",
            ).content
        except HttpStatusError as exc:
            raise TransientError(f"ComfyUI could not hand over the finished image ({exc.status}).") from None
        params = {
            "steps": request.steps,
            "cfg": request.guidance,
            "sampler_name": chosen.comfyui,
            "scheduler": chosen.comfyui_scheduler,
            "width": request.width,
            "height": request.height,
            "prompt_id": prompt_id,
        }
        return ImageResult(png=png, seed=request.seed, model=self._model_in(graph), params=params)

    def _wait_for_image(self, prompt_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.policy.read_timeout
        delay = POLL_START
        while True:
            history = request_json(
                "GET", f"{self.url}/history/{prompt_id}", policy=self.policy, auth=self.auth, service="ComfyUI"
            )
            entry = history.get(prompt_id)
            if isinstance(entry, dict):
                status = entry.get("status") or {}
                if status.get("status_str") == "error":
                    raise PermanentError(f"ComfyUI failed to run the workflow: {_execution_error(status)}")
                for output in (entry.get("outputs") or {}).values():
                    images = output.get("images") if isinstance(output, dict) else None
                    if images:
                        return dict(images[0])
                if status.get("completed"):
                    raise PermanentError("ComfyUI finished the workflow but it saved no image (no SaveImage node?).")
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"ComfyUI did not finish the image within {self.policy.read_timeout:g} s "
                    "(PAPERCAST_IMAGE_READ_TIMEOUT); its queue may be long."
                )
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _comfy_error(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300]
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message", "") if isinstance(error, dict) else str(error or "")
    details = []
    for node_id, node in (data.get("node_errors") or {}).items():
        for item in node.get("errors", []):
            details.append(f"node {node_id}: {item.get('message', '')} {item.get('details', '')}".strip())
    return "; ".join([message, *details])[:500] or body[:300]


def _execution_error(status: dict[str, Any]) -> str:
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            info = message[1]
            return f"{info.get('node_type', '?')}: {info.get('exception_message', '').strip()}"[:500]
    return "no error message"
