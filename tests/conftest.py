from __future__ import annotations

import io
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from media_pipeline import pipeline
from projects import services
from projects.models import Paper, Project, Role

SHARED = Path(__file__).resolve().parents[2] / "shared"
WHISPER_MODEL = os.environ.get("PAPERCAST_WHISPER_MODEL") or str(SHARED / "models/whisper/tiny.en.pt")
PIPER_VOICE = os.environ.get("PAPERCAST_PIPER_VOICE") or str(SHARED / "models/piper/en_US-joe-medium.onnx")
JFK = SHARED / "fixtures" / "jfk.flac"
# No test may reach the Hugging Face hub (diffusers, transformers): only local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _isolated_settings(settings: Any, tmp_path: Path) -> None:
    """Each test stores media in its own temp dir, runs stages inline and never waits on a backoff."""
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "papercast.storage.LocalStorage",
            "OPTIONS": {"location": media, "base_url": "/media/"},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PAPERCAST_WHISPER_MODEL = WHISPER_MODEL
    settings.PAPERCAST_PIPER_VOICE = PIPER_VOICE
    settings.PAPERCAST_QUEUE_SYNC = True
    settings.PAPERCAST_RETRY_BACKOFF = 0.0
    settings.PAPERCAST_WHISPER_DEVICE = "cpu"
    # The suite runs whisper-timestamped unless a test asks for another engine (test_faster_whisper.py).
    settings.PAPERCAST_TRANSCRIBER = "whisper-timestamped"
    # Test users' passwords need no protection; the default hasher's 1M rounds would cost seconds per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # API throttle counters must not leak from one test into the next


@pytest.fixture
def users(db: None) -> dict[str, User]:
    """alice owns the project, bob edits, carol views, mallory is an outsider."""
    return {
        name: User.objects.create_user(name, password="pw-" + name, is_staff=True)
        for name in ("alice", "bob", "carol", "mallory")
    }


@pytest.fixture
def project(users: dict[str, User]) -> Project:
    project = services.project_create(
        name="Bees", owner=users["alice"], max_scene_seconds=6.0, video_width=640, video_height=360
    )
    services.membership_set(project=project, user=users["bob"], role=Role.EDITOR)
    services.membership_set(project=project, user=users["carol"], role=Role.VIEWER)
    return project


@pytest.fixture
def other_project(users: dict[str, User]) -> Project:
    return services.project_create(name="Mallory's", owner=users["mallory"])


def make_text_paper(project: Project, text: str | bytes, title: str = "A paper") -> Paper:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return services.paper_create_from_text(project=project, title=title, file=io.BytesIO(data), filename="paper.txt")


def make_audio_paper(project: Project, path: Path, title: str = "An episode") -> Paper:
    with path.open("rb") as handle:
        return services.paper_create_from_audio(project=project, title=title, file=handle, filename=path.name)


def run_inline(paper: Paper, **kwargs: Any) -> None:
    with pipeline.inline():
        pipeline.pipeline_start(paper, **kwargs)
        pipeline.drain()


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Any, str], Counter[str]]:
    """Wrap a real function so the test can count calls; the real code still runs."""
    counter: Counter[str] = Counter()

    def spy(label: str, owner: Any, name: str) -> Counter[str]:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counter[label] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
        return counter

    return spy


def make_tone(path: Path, seconds: float, *, fmt: str = "wav", extra: list[str] | None = None) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=330:duration={seconds}",
            *(extra or []),
            "-f",
            fmt,
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    yield work


from tests.fakes.s3 import media_storage, s3_endpoint, s3_storage  # noqa: E402,F401  (shared fixtures)


def make_scenes(paper: Paper, prompts: list[str], *, seconds: float = 4.0) -> list[Any]:
    """Scenes with summaries, as the chunk and summarize stages leave them (no models run)."""
    from media_pipeline.models import Chunk, Summary

    chunks = []
    for index, prompt in enumerate(prompts):
        chunk = Chunk.objects.create(
            paper=paper,
            index=index,
            start=index * seconds,
            end=(index + 1) * seconds,
            text=f"Narration of scene {index + 1}.",
            input_fingerprint="test",
        )
        Summary.objects.create(
            chunk=chunk,
            summary=f"Scene {index + 1}",
            image_prompt=prompt,
            negative_prompt="text, watermark",
            backend="test",
            prompt_version="test",
            input_fingerprint="test",
        )
        chunks.append(chunk)
    return chunks
