"""The served OpenAPI schema makes a working client: openapi-python-client generates one from it, and that
client runs the uploader's whole flow against a live server (list, claim, download every file kind, publish).

A generated client reads a response as the first media type of the schema it knows: downloads must be bytes,
never text (a client once built `BytesIO(response.text)` from `text/vtt` and crashed on every file).
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from knox.models import AuthToken

from media_pipeline.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def generated(live_server: Any, tmp_dir: Path) -> Iterator[ModuleType]:
    schema = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert schema.status_code == 200, schema.text[:500]
    (tmp_dir / "schema.json").write_bytes(schema.content)
    config = "project_name_override: papercast-client\npackage_name_override: papercast_client\npost_hooks: []\n"
    (tmp_dir / "config.yaml").write_text(config)
    made = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "schema.json", "--output-path",
         "client", "--config", "config.yaml"],
        cwd=tmp_dir, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Warning" not in made.stdout + made.stderr, made.stdout + made.stderr  # every operation was understood
    sys.path.insert(0, str(tmp_dir / "client"))
    try:
        yield importlib.import_module("papercast_client")
    finally:
        sys.path.remove(str(tmp_dir / "client"))
        for name in [m for m in sys.modules if m == "papercast_client" or m.startswith("papercast_client.")]:
            del sys.modules[name]


def test_a_client_generated_from_the_schema_runs_the_uploaders_flow(
    generated: ModuleType, live_server: Any, approved_video: Video, users: dict[str, User]
) -> None:
    api = importlib.import_module("papercast_client.api.videos")
    models = importlib.import_module("papercast_client.models")
    for name in ("videos_list", "videos_claim_create", "videos_download_retrieve", "videos_published_create"):
        importlib.import_module(f"papercast_client.api.videos.{name}")
    _, token = AuthToken.objects.create(user=users["bob"])
    client = generated.AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token")

    todo = api.videos_list.sync(client=client, published=False, available=True)
    assert isinstance(todo, models.PaginatedVideoList) and [v.id for v in todo.results] == [approved_video.pk]
    claimed = api.videos_claim_create.sync(approved_video.pk, client=client, body=models.ClaimRequest(seconds=600))
    assert isinstance(claimed, models.Claimed), claimed
    lease = claimed.lease
    files: dict[str, bytes] = {}
    for kind in models.VideosDownloadRetrieveKind:
        got = api.videos_download_retrieve.sync(approved_video.pk, kind, client=client)
        assert isinstance(got, generated.types.File), (kind, got)
        files[str(kind)] = got.payload.read()
    assert hashlib.sha256(files["video"]).hexdigest() == approved_video.file_sha256
    assert files["video"][4:8] == b"ftyp" and b"-->" in files["srt"] and files["vtt"].startswith(b"WEBVTT")
    assert files["thumbnail"][:3] == b"\xff\xd8\xff"  # a JPEG

    # Another account's publish is refused in the schema's own conflict type; the holder's goes through.
    _, other = AuthToken.objects.create(user=users["alice"])
    intruder = generated.AuthenticatedClient(base_url=live_server.url, token=other, prefix="Token")
    refused = api.videos_published_create.sync(
        approved_video.pk, client=intruder, body=models.PublishedRequest(youtube_id="dQw4w9WgXcQ")
    )
    assert isinstance(refused, models.LeaseConflict) and str(refused.code) == "not_lease_holder"
    published = api.videos_published_create.sync(
        approved_video.pk, client=client, body=models.PublishedRequest(youtube_id="dQw4w9WgXcQ", lease=lease)
    )
    assert isinstance(published, models.VideoDetail), published
    assert (str(published.status), published.youtube_id) == ("published", "dQw4w9WgXcQ")
