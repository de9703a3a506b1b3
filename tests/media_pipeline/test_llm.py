from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.backends.llm import SCENE_SCHEMA, SceneRequest, get_summarizer
from media_pipeline.models import Summary
from media_pipeline.prompts import (
    SCENE_PROMPT,
    SYSTEM_PROMPT,
    prompt_template_revise,
    render_scene_prompt,
    template_for,
)
from media_pipeline.stages import summarize
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, run_inline
from tests.fakes.llm_server import FakeLLM, running

MODEL = "qwen2.5:7b"


def _configure(settings: Any, backend: str, url: str) -> None:
    settings.PAPERCAST_LLM_BACKEND = backend
    settings.PAPERCAST_LLM_URL = url
    settings.PAPERCAST_LLM_MODEL = MODEL
    settings.PAPERCAST_LLM_READ_TIMEOUT = 0.5
    settings.PAPERCAST_LLM_CONNECT_TIMEOUT = 0.5
    settings.PAPERCAST_LLM_RETRIES = 2
    settings.PAPERCAST_LLM_BACKOFF = 0.0
    settings.PAPERCAST_LLM_API_KEY = None


@pytest.fixture
def ollama(settings: Any) -> Iterator[FakeLLM]:
    with running(FakeLLM()) as fake:
        _configure(settings, "ollama", fake.url)
        yield fake


@pytest.fixture
def openai(settings: Any) -> Iterator[FakeLLM]:
    with running(FakeLLM(json_schema=True)) as fake:
        _configure(settings, "openai", fake.url + "/v1")
        yield fake


def _request(text: str = "Scouts dance for the best site, and the swarm follows the longest dance.") -> SceneRequest:
    from media_pipeline.prompts import BUILTIN_VERSION, NEGATIVE_PROMPT, Template

    template = Template(BUILTIN_VERSION, SYSTEM_PROMPT, SCENE_PROMPT, NEGATIVE_PROMPT)
    values = {
        "title": "Bees",
        "scene_number": 2,
        "scene_count": 5,
        "previous": "Before.",
        "scene": text,
        "next": "After.",
        "style": "watercolour",
    }
    return SceneRequest(
        paper_title="Bees", scene_index=1, scene_count=5, text=text, previous_text="Before.", next_text="After.",
        style="watercolour", model=MODEL, system_prompt=SYSTEM_PROMPT,
        user_prompt=render_scene_prompt(template, **values), negative_prompt=NEGATIVE_PROMPT,
        template_version=BUILTIN_VERSION,
    )  # fmt: skip


def test_ollama_gets_one_structured_request_with_context_seed_and_keep_alive(ollama: FakeLLM, settings: Any) -> None:
    result = get_summarizer().summarize(_request())
    assert result.summary.startswith("In short: Scouts dance") and result.image_prompt.startswith("A detailed")
    assert (result.tokens_out, result.model) == (42, MODEL) and result.tokens_in > 0
    [sent] = ollama.chat_requests()
    body = sent["body"]
    assert body["stream"] is False and body["format"] == SCENE_SCHEMA and body["keep_alive"] == "10m"
    assert body["options"]["num_ctx"] >= 2048
    assert (body["options"]["seed"], body["options"]["temperature"]) == (
        settings.PAPERCAST_LLM_SEED,
        settings.PAPERCAST_LLM_TEMPERATURE,
    )
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "Video title: Bees" in body["messages"][1]["content"] and "watercolour" in body["messages"][1]["content"]


def test_a_busy_server_is_retried(ollama: FakeLLM) -> None:
    ollama.script = ["503", "503"]
    assert get_summarizer().summarize(_request()).summary
    assert len(ollama.chat_requests()) == 3


def test_a_reply_slower_than_the_timeout_is_retried_then_reported(ollama: FakeLLM) -> None:
    ollama.script = ["slow", "slow", "slow"]
    with pytest.raises(TransientError, match=r"did not answer after 3 attempts: no answer from .* within 0.5 s"):
        get_summarizer().summarize(_request())


def test_invalid_json_is_repaired_once(ollama: FakeLLM) -> None:
    ollama.script = ["invalid_json"]
    result = get_summarizer().summarize(_request())
    assert result.summary.startswith("In short")
    _, second = ollama.chat_requests()
    roles = [m["role"] for m in second["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert "not valid JSON" in second["body"]["messages"][-1]["content"]
    assert result.tokens_out == 84  # both calls are counted


def test_output_that_stays_unusable_fails_the_scene_keeping_the_raw_reply(ollama: FakeLLM) -> None:
    ollama.script = ["invalid_json", "missing_key"]
    with pytest.raises(PermanentError) as error:
        get_summarizer().summarize(_request())
    message = str(error.value)
    assert "scene 2" in message and 'the key "image_prompt" is missing' in message
    assert "Only a summary." in message  # the raw reply, for the editor


def test_an_unknown_model_is_a_clear_permanent_error(ollama: FakeLLM, settings: Any) -> None:
    settings.PAPERCAST_LLM_MODEL = "qwen2.5"
    request = _request()
    request = SceneRequest(**{**request.__dict__, "model": "qwen2.5"})
    with pytest.raises(PermanentError) as error:
        get_summarizer().summarize(request)
    assert str(error.value).startswith(
        f"The model 'qwen2.5' is not available on the Ollama server at {ollama.url}: pull it"
    )
    assert f"It has: {MODEL}" in str(error.value)
    assert len(ollama.chat_requests()) == 1  # a 4xx is not retried


def test_a_truncated_prompt_is_sent_again_with_a_larger_context(ollama: FakeLLM) -> None:
    ollama.prompt_tokens = 6000
    assert get_summarizer().summarize(_request()).summary
    assert [r["body"]["options"]["num_ctx"] for r in ollama.chat_requests()] == [2048, 4096, 8192]


def test_a_prompt_too_long_for_the_largest_context_fails_loudly(ollama: FakeLLM, settings: Any) -> None:
    settings.PAPERCAST_LLM_MAX_CONTEXT = 8192
    ollama.prompt_tokens = 20000
    with pytest.raises(PermanentError, match="more than 8192 tokens"):
        get_summarizer().summarize(_request())


def test_openai_servers_get_a_json_schema_and_report_usage(openai: FakeLLM, settings: Any) -> None:
    settings.PAPERCAST_LLM_API_KEY = "sk-test"
    result = get_summarizer().summarize(_request())
    assert (result.tokens_in, result.tokens_out) == (120, 40)
    [sent] = openai.chat_requests()
    assert sent["body"]["response_format"]["type"] == "json_schema"
    # OpenAI's strict mode refuses length bounds: the schema goes without them.
    schema = sent["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["summary"] == {
        "type": "string",
        "description": SCENE_SCHEMA["properties"]["summary"]["description"],
    }
    assert "maxItems" not in schema["properties"]["key_phrases"] and schema["required"] == SCENE_SCHEMA["required"]
    assert sent["headers"]["Authorization"] == "Bearer sk-test"


def test_servers_without_json_schema_get_a_plainer_request_and_it_is_remembered(settings: Any) -> None:
    with running(FakeLLM(json_schema=False)) as fake:
        _configure(settings, "openai", fake.url + "/v1")
        assert get_summarizer().summarize(_request()).summary
        assert get_summarizer().summarize(_request()).summary
        formats = [r["body"].get("response_format", {}).get("type") for r in fake.chat_requests()]
        assert formats == ["json_schema", "json_object", "json_object"]


def test_a_server_that_reports_an_unsupported_mode_as_a_500_gets_the_next_mode_without_retries(
    settings: Any,
) -> None:
    """llama-cpp-python's server answers a json_schema response_format with HTTP 500 (a validation error);
    papercast once retried it five times per attempt and failed the stage. It constrains output to a schema
    with {"type": "json_object", "schema": ...}."""
    settings.PAPERCAST_LLM_RETRIES = 4
    with running(FakeLLM(llama_cpp=True)) as fake:
        _configure(settings, "openai", fake.url + "/v1")
        assert get_summarizer().summarize(_request()).summary
        assert get_summarizer().summarize(_request()).summary
        sent = [r["body"].get("response_format", {}) for r in fake.chat_requests()]
        assert [f.get("type") for f in sent] == ["json_schema", "json_object", "json_object"]  # one refusal only
        assert sent[1]["schema"] == SCENE_SCHEMA and sent[2]["schema"] == SCENE_SCHEMA  # remembered
        # A grammar-constrained server keeps the bounds: a rambling model stops at a valid end of the string.
        assert SCENE_SCHEMA["properties"]["summary"]["maxLength"] == 400


def test_rate_limits_are_retried_and_bad_keys_are_explained(openai: FakeLLM, settings: Any) -> None:
    openai.script = ["429"]
    assert get_summarizer().summarize(_request()).summary
    settings.PAPERCAST_LLM_API_KEY = "wrong"
    with pytest.raises(PermanentError, match=r"refused the API key \(PAPERCAST_LLM_API_KEY\): Incorrect API key"):
        get_summarizer().summarize(_request())


def test_unreachable_servers_are_transient(settings: Any) -> None:
    _configure(settings, "ollama", "http://127.0.0.1:9")
    with pytest.raises(TransientError, match="could not connect"):
        get_summarizer().summarize(_request())


@pytest.mark.django_db(transaction=True)
def test_the_concurrency_limit_holds_across_workers(ollama: FakeLLM, settings: Any) -> None:
    settings.PAPERCAST_LLM_CONCURRENCY = 2
    settings.PAPERCAST_LLM_READ_TIMEOUT = 5
    ollama.delay = 0.3
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            summarize._call(get_summarizer(), _request())
        except BaseException as exc:  # collected and re-raised by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ollama.chat_requests()) == 6 and ollama.max_active == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_pipeline_with_ollama_fills_every_scene_reuses_and_keeps_edits(
    ollama: FakeLLM, project: Project, settings: Any
) -> None:
    settings.PAPERCAST_WHISPER_LANGUAGE = "en"
    project.max_scene_seconds = 4.0
    project.save()
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="summarize")
    summaries = list(Summary.objects.filter(chunk__paper=paper).order_by("chunk__index"))
    assert len(summaries) >= 2 and len(ollama.chat_requests()) == len(summaries)
    assert all(s.backend == "ollama" and s.model == MODEL and s.prompt_version == "builtin-2" for s in summaries)
    assert all(s.summary.startswith("In short") and s.tokens_out == 42 for s in summaries)

    run_inline(paper, until="summarize")
    assert len(ollama.chat_requests()) == len(summaries)  # unchanged inputs: no call

    edited = summaries[0]
    Summary.objects.filter(pk=edited.pk).update(image_prompt="A bee in a hat", edited_by_human=True)
    prompt_template_revise(
        project=project, system_prompt=SYSTEM_PROMPT, scene_prompt="Scene:\nNarration of this scene:\n{scene}\n\n"
    )
    assert template_for(project).version == "v1"
    run_inline(paper, until="summarize")
    assert len(ollama.chat_requests()) == 2 * len(summaries) - 1  # all but the edited scene again
    edited.refresh_from_db()
    assert edited.image_prompt == "A bee in a hat"
    assert set(
        Summary.objects.exclude(pk=edited.pk).filter(chunk__paper=paper).values_list("prompt_version", flat=True)
    ) == {"v1"}

    out = io.StringIO()
    call_command(
        "makevideo", "--paper", str(paper.pk), "--until", "summarize", "--json", stdout=out, stderr=io.StringIO()
    )
    scenes = json.loads(out.getvalue())["scenes"]
    assert scenes[0]["image_prompt"] == "A bee in a hat" and scenes[1]["summary"].startswith("In short")


@pytest.mark.django_db
def test_a_template_with_a_broken_placeholder_is_refused(project: Project) -> None:
    with pytest.raises(PermanentError, match="cannot be filled in"):
        prompt_template_revise(project=project, system_prompt="x", scene_prompt="Scene {scenery}")
