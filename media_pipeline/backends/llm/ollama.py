"""Ollama's native chat API (POST /api/chat, stream false) with a JSON schema as `format`.

Ollama silently cuts prompts longer than the context window (num_ctx, 4096 tokens by default). The context
is sized to the prompt, and a reply whose prompt_eval_count shows the prompt filled the window is taken as
truncated: the request is sent again with twice the context, up to PAPERCAST_LLM_MAX_CONTEXT, and fails
loudly beyond that rather than summarising half a prompt.
"""

from __future__ import annotations

from django.conf import settings

from media_pipeline.backends.errors import BackendError, PermanentError
from media_pipeline.backends.http import HttpPolicy, HttpStatusError, request_json
from media_pipeline.backends.llm.chat import ChatReply, ChatSummarizer, Schema, int_or_zero

OUTPUT_RESERVE = 1024  # tokens kept free for the reply
MIN_CONTEXT = 2048
CHARS_PER_TOKEN = 3  # a cautious estimate: English runs about 4


def context_for(messages: list[dict[str, str]], maximum: int) -> int:
    estimate = sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN + OUTPUT_RESERVE
    size = MIN_CONTEXT
    while size < estimate:
        size *= 2
    return min(size, maximum)


class OllamaSummarizer(ChatSummarizer):
    name = "ollama"

    def __init__(self, url: str, policy: HttpPolicy) -> None:
        super().__init__(url)
        self.policy = policy

    def identity(self, model: str) -> str:
        return f"ollama:{model}:t{settings.PAPERCAST_LLM_TEMPERATURE}:s{settings.PAPERCAST_LLM_SEED}"

    def _chat(self, messages: list[dict[str, str]], model: str, schema: Schema) -> ChatReply:
        maximum = settings.PAPERCAST_LLM_MAX_CONTEXT
        num_ctx = context_for(messages, maximum)
        while True:
            body = {
                "model": model,
                "messages": messages,
                "stream": False,
                "format": schema.body,
                "options": {
                    "num_ctx": num_ctx,
                    "seed": settings.PAPERCAST_LLM_SEED,
                    "temperature": settings.PAPERCAST_LLM_TEMPERATURE,
                },
                "keep_alive": settings.PAPERCAST_LLM_KEEP_ALIVE,
            }
            try:
                reply = request_json("POST", f"{self.url}/api/chat", policy=self.policy, body=body)
            except HttpStatusError as exc:
                raise self._explain(exc, model) from None
            prompt_tokens = reply.get("prompt_eval_count")
            if isinstance(prompt_tokens, int) and prompt_tokens > num_ctx - OUTPUT_RESERVE // 2:
                if num_ctx >= maximum:
                    raise PermanentError(
                        f"The prompt needs more than {maximum} tokens of context, the most "
                        "papercast asks of Ollama (PAPERCAST_LLM_MAX_CONTEXT); Ollama would cut it silently. "
                        "Raise the limit if the model supports it, or shorten the prompt template."
                    )
                num_ctx = min(num_ctx * 2, maximum)
                continue
            message = reply.get("message") or {}
            return ChatReply(
                content=str(message.get("content", "")),
                tokens_in=int_or_zero(prompt_tokens),
                tokens_out=int_or_zero(reply.get("eval_count")),
                model=str(reply.get("model") or model),
                cut_off=reply.get("done_reason") == "length",
            )

    def _explain(self, exc: HttpStatusError, model: str) -> PermanentError:
        if exc.status == 404:
            available = self._models()
            hint = f" It has: {', '.join(available)}." if available else ""
            return PermanentError(
                f"The model {model!r} is not available on the Ollama server at {self.url}: pull it "
                f"(ollama pull {model}) or choose another model (PAPERCAST_LLM_MODEL or the project's).{hint}"
            )
        return PermanentError(
            f"The Ollama server at {self.url} refused the request ({exc.status}): {exc.server_message()}"
        )

    def _models(self) -> list[str]:
        try:
            tags = request_json("GET", f"{self.url}/api/tags", policy=HttpPolicy(self.policy.connect_timeout, 10, 0, 0))
        except BackendError:  # the list is only a hint in an error message
            return []
        return sorted(str(m.get("name")) for m in tags.get("models", []) if isinstance(m, dict))[:20]
