"""Any OpenAI-compatible chat server (POST {base}/chat/completions): vLLM, llama.cpp's server, LM Studio,
Ollama's compatibility layer, OpenAI itself.

Structured output is asked for mode by mode, the best first: a JSON schema (`json_schema`, OpenAI's and
vLLM's); a JSON object constrained by the schema (`{"type": "json_object", "schema": ...}`, llama.cpp's
servers); a JSON object; plain JSON by instruction alone. A server that cannot do a mode says so in its
error, with any status (llama-cpp-python answers 500): an error answer that names `response_format`,
`json_schema` or `format` is taken as "not this mode", never retried, and the next mode is asked for. What
a server accepted is remembered for the process.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import requests
from django.conf import settings

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.http import HttpPolicy, HttpStatusError, request_json
from media_pipeline.backends.llm.chat import ChatReply, ChatSummarizer, Schema, int_or_zero

MODES = ("json_schema", "json_object_schema", "json_object", "plain")
_CAPABILITY = re.compile(r"response_format|json_schema|\bformat\b", re.I)


def _capability_error(response: requests.Response) -> bool:
    """An error answer about the structured-output mode itself (a capability, not a fault to retry)."""
    return bool(_CAPABILITY.search(response.text[:4000]))


_modes: dict[str, str] = {}
_lock = threading.Lock()


class OpenAISummarizer(ChatSummarizer):
    name = "openai"

    def __init__(self, url: str, policy: HttpPolicy, *, api_key: str | None) -> None:
        super().__init__(url)
        self.policy = policy
        self.api_key = api_key

    def identity(self, model: str) -> str:
        return f"openai:{model}:t{settings.PAPERCAST_LLM_TEMPERATURE}:s{settings.PAPERCAST_LLM_SEED}"

    def _chat(self, messages: list[dict[str, str]], model: str, schema: Schema) -> ChatReply:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with _lock:
            mode = _modes.get(self.url, MODES[0])
        while True:
            body: dict[str, object] = {
                "model": model,
                "messages": messages,
                "temperature": settings.PAPERCAST_LLM_TEMPERATURE,
                "seed": settings.PAPERCAST_LLM_SEED,
            }
            if mode == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema.name, "strict": True, "schema": unbounded(schema.body)},
                }
            elif mode == "json_object_schema":
                body["response_format"] = {"type": "json_object", "schema": schema.body}
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object"}
            try:
                reply = request_json(
                    "POST", f"{self.url}/chat/completions", policy=self.policy, body=body, headers=headers,
                    refusal=_capability_error if mode != MODES[-1] else None,
                )  # fmt: skip
            except HttpStatusError as exc:
                refused_mode = exc.status == 400 or bool(_CAPABILITY.search(exc.body[:4000]))
                if refused_mode and mode != MODES[-1]:
                    mode = MODES[MODES.index(mode) + 1]
                    continue
                raise self._explain(exc, model) from None
            with _lock:
                _modes[self.url] = mode
            choices = reply.get("choices") or [{}]
            choice = choices[0] if isinstance(choices[0], dict) else {}
            message = choice.get("message") or {}
            usage = reply.get("usage") or {}
            return ChatReply(
                content=str(message.get("content") or ""),
                tokens_in=int_or_zero(usage.get("prompt_tokens")),
                tokens_out=int_or_zero(usage.get("completion_tokens")),
                model=str(reply.get("model") or model),
                cut_off=choice.get("finish_reason") == "length",
            )

    def _explain(self, exc: HttpStatusError, model: str) -> PermanentError:
        detail = exc.server_message()
        if exc.status in (401, 403):
            return PermanentError(f"The server at {self.url} refused the API key (PAPERCAST_LLM_API_KEY): {detail}")
        if exc.status == 404:
            return PermanentError(
                f"The model {model!r} is not available on the server at {self.url} ({detail}): choose another "
                "model (PAPERCAST_LLM_MODEL or the project's), or check PAPERCAST_LLM_URL ends in /v1."
            )
        return PermanentError(f"The server at {self.url} refused the request ({exc.status}): {detail}")


_BOUNDS = frozenset({"maxLength", "minLength", "maxItems", "minItems"})


def unbounded(body: Any) -> Any:
    """The schema without its length bounds, for OpenAI's strict mode, which refuses them. Servers that turn
    the schema into a grammar (llama.cpp's, Ollama) keep them: a small model that rambles is stopped at a
    valid end of the string instead of being cut off mid-JSON at the output limit."""
    if isinstance(body, dict):
        return {key: unbounded(value) for key, value in body.items() if key not in _BOUNDS}
    if isinstance(body, list):
        return [unbounded(value) for value in body]
    return body
