"""What every chat-style LLM backend does the same way: ask, parse, ask once more to repair, or fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.llm import SceneRequest, SceneSummary, parse_scene_json

REPAIR = (
    "Your reply could not be used: {problem}. Reply again with only a JSON object with the keys "
    '"summary" and "image_prompt", both non-empty strings, and nothing else.'
)
RAW_KEPT = 1500


@dataclass(frozen=True)
class ChatReply:
    content: str
    tokens_in: int
    tokens_out: int
    model: str
    cut_off: bool  # the server stopped at its output limit


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

    def _chat(self, messages: list[dict[str, str]], model: str) -> ChatReply:  # pragma: no cover - abstract
        raise NotImplementedError

    def summarize(self, request: SceneRequest) -> SceneSummary:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": request.system_prompt},
            {"role": "user", "content": request.user_prompt},
        ]
        reply = self._chat(messages, request.model)
        tokens_in, tokens_out = reply.tokens_in, reply.tokens_out
        try:
            summary, image_prompt = self._parse(reply)
        except ValueError as problem:
            # One repair request: the model sees its own reply and what was wrong with it.
            messages += [
                {"role": "assistant", "content": reply.content},
                {"role": "user", "content": REPAIR.format(problem=problem)},
            ]
            repaired = self._chat(messages, request.model)
            tokens_in, tokens_out = tokens_in + repaired.tokens_in, tokens_out + repaired.tokens_out
            try:
                summary, image_prompt = self._parse(repaired)
            except ValueError as again:
                raise PermanentError(
                    f"The model {request.model!r} did not give a usable summary for scene {request.scene_index + 1} "
                    f"({again}), even when asked to repair its reply. Its reply, kept for the editor: "
                    f"{repaired.content[:RAW_KEPT]!r}"
                ) from None
            reply = repaired
        return SceneSummary(
            summary=summary,
            image_prompt=image_prompt,
            negative_prompt=request.negative_prompt,
            model=reply.model or request.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )

    @staticmethod
    def _parse(reply: ChatReply) -> tuple[str, str]:
        if reply.cut_off:
            raise ValueError("the reply was cut off at the output limit")
        return parse_scene_json(reply.content)


def int_or_zero(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0
