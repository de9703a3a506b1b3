"""What every chat-style LLM backend does the same way: ask, parse, ask once more to repair, or fail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.llm.base import SCENE_SCHEMA, SceneRequest, SceneSummary, parse_scene_json

REPAIR = (
    "Your reply could not be used: {problem}. Reply again with only a JSON object with the keys {keys}, "
    "as asked, and nothing else."
)
RAW_KEPT = 1500
T = TypeVar("T")


@dataclass(frozen=True)
class ChatReply:
    content: str
    tokens_in: int
    tokens_out: int
    model: str
    cut_off: bool  # the server stopped at its output limit


@dataclass(frozen=True)
class Schema:
    """A JSON schema the reply must follow, with the name OpenAI-compatible servers want for it."""

    name: str
    body: dict[str, Any]


SCENE = Schema("scene", SCENE_SCHEMA)


class ChatSummarizer:
    name = "chat"
    prompt_version = "template"

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def server(self) -> str:
        """The key concurrency limits are kept under: one per server."""
        return f"{self.name}:{self.url}"

    def identity(self, model: str) -> str:
        return f"{self.name}:{model}"

    def _chat(self, messages: list[dict[str, str]], model: str, schema: Schema) -> ChatReply:  # pragma: no cover
        raise NotImplementedError

    def ask_json(
        self, messages: list[dict[str, str]], model: str, schema: Schema, parse: Callable[[str], T], what: str
    ) -> tuple[T, ChatReply, int, int]:
        """The parsed reply, the reply itself and the tokens in and out of every request it took.

        A reply that `parse` rejects (ValueError) is sent back once with what was wrong; if the repair fails
        too, PermanentError keeps the model's raw reply for the editor. `what` names the request in messages.
        """
        reply = self._chat(messages, model, schema)
        tokens_in, tokens_out = reply.tokens_in, reply.tokens_out
        try:
            return self._parse(reply, parse), reply, tokens_in, tokens_out
        except ValueError as problem:
            # One repair request: the model sees its own reply and what was wrong with it.
            messages = [
                *messages,
                {"role": "assistant", "content": reply.content},
                {"role": "user", "content": REPAIR.format(problem=problem, keys=" and ".join(schema.body["required"]))},
            ]
        repaired = self._chat(messages, model, schema)
        tokens_in, tokens_out = tokens_in + repaired.tokens_in, tokens_out + repaired.tokens_out
        try:
            return self._parse(repaired, parse), repaired, tokens_in, tokens_out
        except ValueError as again:
            raise PermanentError(
                f"The model {model!r} did not give a usable answer for {what} ({again}), even when asked to "
                f"repair its reply. Its reply, kept for the editor: {repaired.content[:RAW_KEPT]!r}"
            ) from None

    def summarize(self, request: SceneRequest) -> SceneSummary:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": request.system_prompt},
            {"role": "user", "content": request.user_prompt},
        ]
        (summary, image_prompt, phrases), reply, tokens_in, tokens_out = self.ask_json(
            messages, request.model, SCENE, parse_scene_json, f"scene {request.scene_index + 1}"
        )
        return SceneSummary(
            summary=summary,
            image_prompt=image_prompt,
            negative_prompt=request.negative_prompt,
            model=reply.model or request.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            key_phrases=phrases,
        )

    @staticmethod
    def _parse(reply: ChatReply, parse: Callable[[str], T]) -> T:
        if reply.cut_off:
            raise ValueError("the reply was cut off at the output limit")
        return parse(reply.content)


def int_or_zero(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0
