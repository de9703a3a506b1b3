"""Image backends against servers speaking the real APIs (and a real, tiny diffusers pipeline)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.backends.images import ImageRequest, get_image_generator
from media_pipeline.backends.images.comfyui import BUNDLED_WORKFLOW, fill, load_workflow
from media_pipeline.backends.images.png import with_text
from tests.fakes.image_servers import A1111_SAMPLERS, FakeA1111, FakeComfyUI, picture, running


def _request(**changes: Any) -> ImageRequest:
    base: dict[str, Any] = {
        "prompt": "A honeybee dancing on a comb, watercolour",
        "negative_prompt": "text, watermark",
        "width": 768,
        "height": 432,
        "seed": 1234,
        "steps": 20,
        "guidance": 6.5,
        "sampler": "euler_a",
    }
    return ImageRequest(**{**base, **changes})


def _configure(settings: Any, backend: str, url: str) -> None:
    settings.PAPERCAST_IMAGE_BACKEND = backend
    settings.PAPERCAST_IMAGE_URL = url
    settings.PAPERCAST_IMAGE_MODEL = ""
    settings.PAPERCAST_IMAGE_AUTH = None
    settings.PAPERCAST_IMAGE_READ_TIMEOUT = 5.0
    settings.PAPERCAST_IMAGE_CONNECT_TIMEOUT = 0.5
    settings.PAPERCAST_IMAGE_RETRIES = 2
    settings.PAPERCAST_IMAGE_BACKOFF = 0.0


@pytest.fixture
def webui(settings: Any) -> Iterator[FakeA1111]:
    with running(FakeA1111()) as fake:
        assert isinstance(fake, FakeA1111)
        _configure(settings, "a1111", fake.url)
        yield fake


@pytest.fixture
def comfy(settings: Any) -> Iterator[FakeComfyUI]:
    with running(FakeComfyUI()) as fake:
        assert isinstance(fake, FakeComfyUI)
        _configure(settings, "comfyui", fake.url)
        settings.PAPERCAST_COMFYUI_WORKFLOW = None
        yield fake


# --- AUTOMATIC1111 ----------------------------------------------------------------------------------------


def test_a1111_gets_the_documented_txt2img_request_and_its_seed_and_model_are_kept(
    webui: FakeA1111, settings: Any
) -> None:
    settings.PAPERCAST_IMAGE_MODEL = "sdxl_base.safetensors"
    settings.PAPERCAST_IMAGE_AUTH = "papercast:s3cret"
    webui.auth = ("papercast", "s3cret")
    webui.server_seed = 777
    result = get_image_generator().generate(_request())

    (sent,) = webui.generations()
    body = sent["body"]
    assert sent["path"] == "/sdapi/v1/txt2img"
    assert sent["auth"] == "Basic " + base64.b64encode(b"papercast:s3cret").decode()
    assert (
        body["prompt"] == "A honeybee dancing on a comb, watercolour" and body["negative_prompt"] == "text, watermark"
    )
    assert (body["steps"], body["cfg_scale"], body["width"], body["height"]) == (20, 6.5, 768, 432)
    assert (body["seed"], body["sampler_name"]) == (1234, "Euler a")
    assert body["override_settings"] == {"sd_model_checkpoint": "sdxl_base.safetensors"}
    assert result.seed == 777  # what the server says it used, not what was asked
    assert result.model == "sdxl_base" and result.params["model_hash"] == "6ce0161689"
    with Image.open(io.BytesIO(result.png)) as image:
        assert image.size == (768, 432)


def test_a1111_wrong_credentials_unknown_sampler_and_validation_errors_are_explained(
    webui: FakeA1111, settings: Any
) -> None:
    webui.auth = ("papercast", "s3cret")
    settings.PAPERCAST_IMAGE_AUTH = "papercast:wrong"
    with pytest.raises(PermanentError, match=r"refused the credentials.*PAPERCAST_IMAGE_AUTH"):
        get_image_generator().generate(_request())
    settings.PAPERCAST_IMAGE_AUTH = "papercast:s3cret"
    webui.samplers = {"Euler"}  # a fork that lacks the project's sampler
    with pytest.raises(PermanentError, match="Sampler not found"):
        get_image_generator().generate(_request())
    webui.samplers = A1111_SAMPLERS
    webui.script = ["reject"]
    with pytest.raises(PermanentError, match="refused the request \\(422\\)"):
        get_image_generator().generate(_request())
    assert len(webui.generations()) == 3  # 4xx answers are not retried


def test_a1111_busy_or_crashing_servers_are_retried_then_reported_as_transient(webui: FakeA1111) -> None:
    webui.script = ["503", "drop"]
    result = get_image_generator().generate(_request())
    assert len(webui.generations()) == 3 and result.seed == 1234

    webui.script = ["500", "500", "500"]
    with pytest.raises(TransientError, match=r"WebUI did not answer after 3 attempts.*answered 500"):
        get_image_generator().generate(_request())


def test_an_unreachable_server_is_transient(settings: Any) -> None:
    _configure(settings, "a1111", "http://127.0.0.1:9")
    with pytest.raises(TransientError, match="could not connect"):
        get_image_generator().generate(_request())


def test_a_server_without_the_api_says_how_to_enable_it(webui: FakeA1111, settings: Any) -> None:
    settings.PAPERCAST_IMAGE_URL = webui.url + "/not-the-webui"
    with pytest.raises(PermanentError, match="start the WebUI with --api"):
        get_image_generator().generate(_request())


# --- ComfyUI ----------------------------------------------------------------------------------------------


def test_comfyui_fills_the_workflow_polls_history_and_fetches_the_image(comfy: FakeComfyUI, settings: Any) -> None:
    settings.PAPERCAST_IMAGE_MODEL = "dreamshaper_8.safetensors"
    comfy.polls_before_done = 3
    result = get_image_generator().generate(_request())

    (queued,) = comfy.generations()
    graph = queued["body"]["prompt"]
    assert queued["path"] == "/prompt" and queued["body"]["client_id"].startswith("papercast-")
    sampler = graph["sampler"]["inputs"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"]) == (1234, 20, 6.5)
    assert (sampler["sampler_name"], sampler["scheduler"]) == ("euler_ancestral", "normal")
    assert graph["latent"]["inputs"] == {"width": 768, "height": 432, "batch_size": 1}
    assert graph["positive"]["inputs"]["text"] == "A honeybee dancing on a comb, watercolour"
    assert graph["negative"]["inputs"]["text"] == "text, watermark"
    assert graph["checkpoint"]["inputs"]["ckpt_name"] == "dreamshaper_8.safetensors"
    gets = [r["path"] for r in comfy.requests if r["method"] == "GET"]
    assert sum(p.startswith("/history/") for p in gets) == 4 and gets[-1].startswith("/view?filename=papercast_")
    assert result.png == picture("A honeybee dancing on a comb, watercolour", 1234, 768, 432)
    assert result.model == "dreamshaper_8.safetensors" and result.seed == 1234


def test_comfyui_workflows_without_placeholders_are_filled_by_node_type(tmp_path: Path) -> None:
    graph = json.loads(BUNDLED_WORKFLOW.read_text())
    # A workflow as ComfyUI's "Save (API format)" writes it: numeric ids, literal values, no placeholders.
    plain = {
        "3": {**graph["sampler"], "inputs": {**graph["sampler"]["inputs"], "seed": 1, "steps": 20, "cfg": 8.0,
              "sampler_name": "euler", "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0],
              "latent_image": ["5", 0], "model": ["4", 0]}},
        "4": graph["checkpoint"],
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
    }  # fmt: skip
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(plain))
    values = {"prompt": "bees", "negative_prompt": "blur", "seed": 99, "width": 640, "height": 360, "steps": 12,
              "cfg": 5.0, "sampler_name": "dpmpp_2m", "scheduler": "karras", "model": ""}  # fmt: skip
    filled = fill(load_workflow(str(path)), values)
    assert filled["3"]["inputs"]["seed"] == 99 and filled["3"]["inputs"]["scheduler"] == "karras"
    assert filled["5"]["inputs"]["width"] == 640 and filled["6"]["inputs"]["text"] == "bees"
    assert filled["7"]["inputs"]["text"] == "blur" and plain["6"]["inputs"]["text"] == "a cat"  # a copy

    path.write_text(json.dumps({"nodes": [], "links": []}))  # the UI's format, not the API's
    with pytest.raises(PermanentError, match="not in API format"):
        load_workflow(str(path))
    del plain["5"]
    path.write_text(json.dumps(plain))
    with pytest.raises(PermanentError, match="cannot tell where"):
        fill(load_workflow(str(path)), values)


def test_comfyui_validation_and_execution_errors_are_reported(comfy: FakeComfyUI) -> None:
    comfy.script = ["reject"]
    with pytest.raises(PermanentError, match="refused the workflow \\(400\\): Prompt outputs failed validation"):
        get_image_generator().generate(_request())
    comfy.script = ["exec_error"]
    with pytest.raises(PermanentError, match="KSampler: Allocation on device would exceed"):
        get_image_generator().generate(_request())


def test_comfyui_that_never_finishes_times_out_as_transient(comfy: FakeComfyUI, settings: Any) -> None:
    comfy.polls_before_done = 10_000
    settings.PAPERCAST_IMAGE_READ_TIMEOUT = 0.6
    with pytest.raises(TransientError, match=r"did not finish the image within 0\.6 s"):
        get_image_generator().generate(_request())


# --- diffusers --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fakes.tiny_diffusers import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("diffusers") / "tiny-sd")


def test_diffusers_runs_a_local_pipeline_on_the_cpu_without_downloading(
    tiny_pipeline: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.PAPERCAST_IMAGE_BACKEND = "diffusers"
    settings.PAPERCAST_IMAGE_MODEL = str(tiny_pipeline)
    settings.PAPERCAST_DIFFUSERS_DEVICE = "auto"
    settings.PAPERCAST_DIFFUSERS_DTYPE = "auto"
    generator = get_image_generator()
    first = generator.generate(_request(width=64, height=48, steps=2))
    again = generator.generate(_request(width=64, height=48, steps=2))
    other = generator.generate(_request(width=64, height=48, steps=2, seed=99))
    with Image.open(io.BytesIO(first.png)) as image:
        assert (image.format, image.size) == ("PNG", (64, 48))
    assert first.png == again.png and first.png != other.png  # the seed decides the picture
    assert first.params["device"] == "cpu" and first.params["dtype"] == "float32"
    assert first.params["scheduler"] == "EulerAncestralDiscreteScheduler"

    with pytest.raises(PermanentError, match="divisible by 8"):
        generator.generate(_request(width=60, height=48, steps=2))


def test_diffusers_reports_a_model_it_cannot_load(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.PAPERCAST_IMAGE_BACKEND = "diffusers"
    settings.PAPERCAST_IMAGE_MODEL = "someone/not-in-the-cache"
    with pytest.raises(PermanentError, match="could not be loaded from the Hugging Face cache"):
        get_image_generator().generate(_request(width=64, height=48))
    settings.PAPERCAST_IMAGE_MODEL = ""
    with pytest.raises(PermanentError, match="needs PAPERCAST_IMAGE_MODEL"):
        get_image_generator()


# --- PNG provenance ---------------------------------------------------------------------------------------


def test_provenance_chunks_are_added_without_touching_the_pixels() -> None:
    original = picture("bees", 1, 32, 16, {"parameters": "Steps: 20", "prompt": "old"})
    annotated = with_text(original, {"prompt": "A bee — in ünïcode", "seed": "42"})
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(annotated)) as after:
        assert after.tobytes() == before.tobytes()
        assert after.text == {"prompt": "A bee — in ünïcode", "seed": "42", "parameters": "Steps: 20"}
