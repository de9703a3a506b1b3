"""The whole pipeline with S3 storage, against moto's S3 server started on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from django.core.files.storage import default_storage, storages

from media_pipeline.backends import ffmpeg
from media_pipeline.models import Image, RunStatus, StageRun, Video
from media_pipeline.report import paper_report
from projects.models import Project
from tests.conftest import make_text_paper, run_inline

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
BUCKET = "papercast-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(endpoint, timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.2)
    try:
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_storage(settings: Any, s3_endpoint: str) -> Iterator[Any]:
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, **credentials)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "file_overwrite": False,
            },
        },
    }
    storages._storages = {}  # the storage handler caches instances built from the old settings
    yield client
    storages._storages = {}
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_the_pipeline_stores_everything_in_s3(project: Project, s3_storage: Any) -> None:
    paper = make_text_paper(project, "Scouts find a cavity. They dance for it. The swarm decides.")
    run_inline(paper)
    assert set(StageRun.objects.filter(paper=paper).values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    keys = {item["Key"] for item in s3_storage.list_objects_v2(Bucket=BUCKET)["Contents"]}
    video = Video.objects.get(paper=paper)
    image = Image.objects.filter(chunk__paper=paper).first()
    assert image is not None
    assert {paper.source_file.name, video.file.name, video.srt.name, image.file.name} <= keys
    assert default_storage.__class__.__name__ == "S3Storage"

    report = paper_report(paper)  # downloads from S3 to local paths
    probe = ffmpeg.probe_video(Path(report["video"]))
    assert probe.video_codec == "h264" and abs(probe.duration - report["duration"]) <= 0.1
