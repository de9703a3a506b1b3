"""A small LLM server for tests, on 127.0.0.1, speaking Ollama's native API and the OpenAI chat API.

It answers with a JSON summary of the scene it was sent, in the wire formats the real servers use
(Ollama: message, done, done_reason, prompt_eval_count, eval_count; OpenAI: choices, finish_reason, usage),
and can be told to misbehave: `server.script` is a list of actions consumed one per chat request.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.serve import serve

SCENE = re.compile(r"Narration of this scene:\n(.*?)\n\n", re.S)


class FakeLLM:
    def __init__(
        self, *, models: tuple[str, ...] = ("qwen2.5:7b",), json_schema: bool = True, llama_cpp: bool = False
    ) -> None:
        self.models = list(models)
        self.json_schema = json_schema  # an OpenAI-compatible server that refuses json_schema when False
        # llama-cpp-python's server: a json_schema response_format fails validation and comes back as a 500;
        # {"type": "json_object", "schema": ...} is how it constrains output to a schema.
        self.llama_cpp = llama_cpp
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.delay = 0.0
        self.prompt_tokens: int | None = None  # pretend every prompt is this long (to test truncation)
        self.lock = threading.Lock()
        self.url = ""

    def next_action(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] in ("/api/chat", "/v1/chat/completions")]


PARAGRAPH = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def _narration(messages: list[dict[str, str]]) -> dict[str, Any]:
    """A script for the section in the prompt: one sentence per numbered paragraph, citing it."""
    prompt = messages[-1]["content"]
    sentences = [
        {"text": f"The paper says that {' '.join(text.split()[:14]).rstrip('.,;')}.", "paragraphs": [int(n)]}
        for n, text in PARAGRAPH.findall(prompt)
    ]
    section = re.search(r"the section “([^”]*)”", prompt)
    return {
        "chapter": f"What {section.group(1)} shows" if section else "",
        "sentences": sentences or [{"text": "This section has nothing to say.", "paragraphs": []}],
    }


def _wants_narration(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format", {})
    schema = (
        body.get("format")
        or response_format.get("json_schema", {}).get("schema")
        or response_format.get("schema")
        or {}
    )
    return isinstance(schema, dict) and "sentences" in schema.get("properties", {})


def _answer(messages: list[dict[str, str]]) -> dict[str, str]:
    prompt = messages[-1]["content"] if messages[-1]["role"] == "user" else ""
    for message in messages:
        match = SCENE.search(message["content"] + "\n\n")
        if match:
            prompt = match.group(1)
    words = prompt.split()
    return {
        "summary": "In short: " + " ".join(words[:12]),
        "image_prompt": "A detailed illustration of " + " ".join(words[:20]),
    }


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            return None

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            fake.requests.append({"path": self.path, "method": "GET"})
            if self.path == "/api/tags":
                self._send(200, {"models": [{"name": m, "model": m, "size": 1, "digest": "x"} for m in fake.models]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            fake.requests.append({"path": self.path, "method": "POST", "body": body, "headers": dict(self.headers)})
            with fake.lock:
                fake.active += 1
                fake.max_active = max(fake.max_active, fake.active)
            try:
                time.sleep(fake.delay)
                if self.path == "/api/chat":
                    self._ollama(body)
                elif self.path == "/v1/chat/completions":
                    self._openai(body)
                else:
                    self._send(404, {"error": "not found"})
            finally:
                with fake.lock:
                    fake.active -= 1

        def _content(self, action: str, messages: list[dict[str, str]], body: dict[str, Any]) -> str:
            if action == "invalid_json":
                return "Sure! Here is the summary: the bees dance."
            if action == "missing_key":
                return json.dumps({"summary": "Only a summary."})
            if _wants_narration(body):
                return json.dumps(_narration(messages))
            return json.dumps(_answer(messages))

        def _common(self, action: str, model: str) -> bool:
            """Failures both APIs share; True when a reply was sent."""
            if action == "503":
                self._send(503, {"error": "server busy"})
                return True
            if action == "429":
                self._send(429, {"error": "rate limited"})
                return True
            if action == "slow":
                time.sleep(1.5)
            if model not in fake.models:
                self._send(404, {"error": f"model '{model}' not found"})
                return True
            return False

        def _ollama(self, body: dict[str, Any]) -> None:
            action = fake.next_action()
            model = body.get("model", "")
            if self._common(action, model):
                return
            messages = body.get("messages", [])
            num_ctx = int(body.get("options", {}).get("num_ctx", 4096))
            tokens = fake.prompt_tokens or sum(len(m["content"]) for m in messages) // 4
            truncated = tokens > num_ctx  # Ollama keeps only what fits, and says how much it read
            self._send(
                200,
                {
                    "model": model,
                    "created_at": "2026-11-25T08:00:00Z",
                    "message": {"role": "assistant", "content": self._content(action, messages, body)},
                    "done": True,
                    "done_reason": "length" if action == "cut_off" else "stop",
                    "total_duration": 1_000_000,
                    "load_duration": 1000,
                    "prompt_eval_count": num_ctx if truncated else tokens,
                    "prompt_eval_duration": 1000,
                    "eval_count": 42,
                    "eval_duration": 1000,
                },
            )

        def _openai(self, body: dict[str, Any]) -> None:
            response_format = body.get("response_format", {})
            if fake.llama_cpp and response_format.get("type") not in (None, "text", "json_object"):
                message = (
                    "1 validation error for ChatCompletionRequestResponseFormat\ntype\n  Input should be 'text' or "
                    f"'json_object' [type=literal_error, input_value='{response_format.get('type')}', input_type=str]"
                )
                self._send(500, {"error": {"message": message, "type": "internal_server_error", "param": None}})
                return
            if response_format.get("type") == "json_schema" and not fake.json_schema:
                error = {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}
                self._send(400, {"error": error})
                return
            if self.headers.get("Authorization") == "Bearer wrong":
                self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                return
            action = fake.next_action()
            model = body.get("model", "")
            if self._common(action, model):
                return
            messages = body.get("messages", [])
            self._send(
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1764057600,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": self._content(action, messages, body)},
                            "finish_reason": "length" if action == "cut_off" else "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
                },
            )

    return Handler


@contextmanager
def running(fake: FakeLLM) -> Iterator[FakeLLM]:
    with serve(_handler(fake)) as url:
        fake.url = url
        yield fake
