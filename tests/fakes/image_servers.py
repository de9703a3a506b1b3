"""Small image servers for tests, on 127.0.0.1, speaking Stable Diffusion WebUI's and ComfyUI's real APIs.

- FakeA1111: POST /sdapi/v1/txt2img, with HTTP basic auth when `auth` is set (as with --api-auth). The reply
  has base64 PNGs in `images`, the request echoed in `parameters` and a JSON string in `info` with the seed
  and model really used, as the WebUI sends them; errors use the WebUI's error body.
- FakeComfyUI: POST /prompt (API-format workflow) -> prompt_id; GET /history/{id} ({} until finished, then
  outputs and status); GET /view?filename=&subfolder=&type= -> the PNG.

The picture is a flat colour drawn from the seed and prompt, so the same request gives the same bytes and
another seed gives other bytes. `script` holds actions consumed one per generation request: "503", "500",
"drop" (close without answering), "garbage" (bytes that are not an image), "bomb" (a PNG claiming
100000x100000 pixels), "reject" (a validation error), "exec_error" (ComfyUI: the run fails).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.fakes.serve import serve

A1111_SAMPLERS = {"Euler", "Euler a", "DPM++ 2M", "DDIM"}


def picture(prompt: str, seed: int, width: int, height: int, text: dict[str, str] | None = None) -> bytes:
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    image = Image.new("RGB", (width, height), (digest[0], digest[1], digest[2]))
    image.paste((digest[3], digest[4], digest[5]), (0, 0, max(width // 4, 1), max(height // 4, 1)))
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """A tiny PNG whose header claims 100000 x 100000 pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


class FakeImageServer:
    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.delay = 0.0
        self.auth: tuple[str, str] | None = None
        self.lock = threading.Lock()
        self.url = ""

    def next_action(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"

    def generations(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]


class FakeA1111(FakeImageServer):
    def __init__(self) -> None:
        super().__init__()
        self.model = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
        self.samplers = set(A1111_SAMPLERS)
        self.server_seed: int | None = None  # answer with this seed whatever was asked (e.g. a seed-randomising fork)


class FakeComfyUI(FakeImageServer):
    def __init__(self) -> None:
        super().__init__()
        self.polls_before_done = 2  # /history answers {} this many times per prompt before the result
        self.jobs: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeImageServer

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return None

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.fake.auth is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.fake.auth).encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", "Basic")
        data = json.dumps({"detail": "Incorrect username or password"}).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return False

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")

    def _failure(self, action: str) -> bool:
        """Failures both servers share; True when handled."""
        if action in ("500", "503"):
            self._send(int(action), {"error": "RuntimeError", "detail": "", "body": "", "errors": "CUDA out of memory"})
            return True
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        return False

    def _track(self, method: str, body: Any = None) -> None:
        self.fake.requests.append(
            {"method": method, "path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )


class _A1111Handler(_Handler):
    fake: FakeA1111

    def do_POST(self) -> None:
        body = self._body()
        self._track("POST", body)
        if not self._authorised():
            return
        if urlparse(self.path).path != "/sdapi/v1/txt2img":
            self._send(404, {"detail": "Not Found"})
            return
        fake = self.fake
        with fake.lock:
            fake.active += 1
            fake.max_active = max(fake.max_active, fake.active)
        try:
            time.sleep(fake.delay)
            self._txt2img(body, fake.next_action())
        finally:
            with fake.lock:
                fake.active -= 1

    def _txt2img(self, body: dict[str, Any], action: str) -> None:
        if self._failure(action):
            return
        if action == "reject" or not isinstance(body.get("prompt"), str):
            detail = [{"loc": ["body", "prompt"], "msg": "str type expected", "type": "type_error.str"}]
            self._send(422, {"detail": detail})
            return
        if body.get("sampler_name") not in self.fake.samplers:
            self._send(
                404,
                {"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": "Sampler not found"},
            )
            return
        seed = int(body.get("seed", -1))
        if seed == -1:
            seed = int.from_bytes(uuid.uuid4().bytes[:4], "big") & 0x7FFFFFFF
        if self.fake.server_seed is not None:
            seed = self.fake.server_seed
        width, height = int(body.get("width", 512)), int(body.get("height", 512))
        model = body.get("override_settings", {}).get("sd_model_checkpoint") or self.fake.model
        infotext = f"{body['prompt']}\nSteps: {body.get('steps')}, Sampler: {body['sampler_name']}, Seed: {seed}"
        if action == "garbage":
            png = b"<html><body>Bad Gateway</body></html>"
        elif action == "bomb":
            png = bomb_png()
        else:
            png = picture(body["prompt"], seed, width, height, {"parameters": infotext})
        info = {
            "prompt": body["prompt"],
            "all_prompts": [body["prompt"]],
            "negative_prompt": body.get("negative_prompt", ""),
            "seed": seed,
            "all_seeds": [seed],
            "subseed": 1,
            "width": width,
            "height": height,
            "sampler_name": body["sampler_name"],
            "cfg_scale": body.get("cfg_scale"),
            "steps": body.get("steps"),
            "batch_size": 1,
            "sd_model_name": model.split(" [")[0].removesuffix(".safetensors"),
            "sd_model_hash": "6ce0161689",
            "infotexts": [infotext],
            "version": "v1.10.1",
        }
        self._send(200, {"images": [base64.b64encode(png).decode()], "parameters": body, "info": json.dumps(info)})


class _ComfyHandler(_Handler):
    fake: FakeComfyUI

    def do_POST(self) -> None:
        body = self._body()
        self._track("POST", body)
        if not self._authorised():
            return
        if urlparse(self.path).path != "/prompt":
            self._send(404, b"404: Not Found", "text/plain")
            return
        fake = self.fake
        action = fake.next_action()
        if self._failure(action):
            return
        graph = body.get("prompt")
        sampler = next((n for n in (graph or {}).values() if n.get("class_type") == "KSampler"), None)
        if action == "reject" or sampler is None or not isinstance(sampler["inputs"].get("seed"), int):
            self._send(
                400,
                {
                    "error": {
                        "type": "prompt_outputs_failed_validation",
                        "message": "Prompt outputs failed validation",
                        "details": "",
                        "extra_info": {},
                    },
                    "node_errors": {
                        "sampler": {
                            "errors": [{"type": "value_not_valid", "message": "Value not valid", "details": "seed"}],
                            "dependent_outputs": ["save"],
                            "class_type": "KSampler",
                        }
                    },
                },
            )
            return
        prompt_id = str(uuid.uuid4())
        with fake.lock:
            fake.jobs[prompt_id] = {"graph": graph, "polls": 0, "action": action}
        self._send(200, {"prompt_id": prompt_id, "number": len(fake.jobs), "node_errors": {}})

    def do_GET(self) -> None:
        self._track("GET")
        if not self._authorised():
            return
        url = urlparse(self.path)
        if url.path.startswith("/history/"):
            self._history(url.path.removeprefix("/history/"))
        elif url.path == "/view":
            query = parse_qs(url.query)
            name = query.get("filename", [""])[0]
            if query.get("type", [""])[0] != "output" or name not in self.fake.files:
                self._send(404, b"404: Not Found", "text/plain")
            else:
                self._send(200, self.fake.files[name], "image/png")
        else:
            self._send(404, b"404: Not Found", "text/plain")

    def _history(self, prompt_id: str) -> None:
        fake = self.fake
        job = fake.jobs.get(prompt_id)
        if job is None:
            self._send(200, {})
            return
        job["polls"] += 1
        if job["polls"] <= fake.polls_before_done:
            self._send(200, {})  # queued or running: ComfyUI has no history entry yet
            return
        graph = job["graph"]
        if job["action"] == "exec_error":
            messages = [
                ["execution_start", {"prompt_id": prompt_id}],
                [
                    "execution_error",
                    {
                        "prompt_id": prompt_id,
                        "node_id": "sampler",
                        "node_type": "KSampler",
                        "exception_message": "Allocation on device would exceed allowed memory.",
                        "exception_type": "torch.OutOfMemoryError",
                        "traceback": [],
                    },
                ],
            ]
            entry = {
                "prompt": [0, prompt_id, graph, {}, []],
                "outputs": {},
                "status": {"status_str": "error", "completed": False, "messages": messages},
            }
            self._send(200, {prompt_id: entry})
            return
        sampler = next(n for n in graph.values() if n["class_type"] == "KSampler")
        latent = graph[sampler["inputs"]["latent_image"][0]]["inputs"]
        positive = graph[sampler["inputs"]["positive"][0]]["inputs"]["text"]
        save_id = next(key for key, n in graph.items() if n["class_type"] == "SaveImage")
        name = f"papercast_{list(fake.jobs).index(prompt_id) + 1:05d}_.png"
        fake.files[name] = picture(positive, sampler["inputs"]["seed"], latent["width"], latent["height"])
        entry = {
            "prompt": [0, prompt_id, graph, {}, [save_id]],
            "outputs": {save_id: {"images": [{"filename": name, "subfolder": "", "type": "output"}]}},
            "status": {"status_str": "success", "completed": True, "messages": [["execution_success", {}]]},
            "meta": {save_id: {"node_id": save_id, "display_node": save_id}},
        }
        self._send(200, {prompt_id: entry})


@contextmanager
def running(fake: FakeImageServer) -> Iterator[FakeImageServer]:
    base = _A1111Handler if isinstance(fake, FakeA1111) else _ComfyHandler
    with serve(type("Handler", (base,), {"fake": fake})) as url:
        fake.url = url
        yield fake
