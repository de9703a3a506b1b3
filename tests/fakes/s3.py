"""moto's S3 server on 127.0.0.1 for the tests, and a fixture that points Django's default storage at it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from django.core.files.storage import storages


@pytest.fixture(scope="session")
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


class S3Bucket:
    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name

    def object_keys(self) -> set[str]:
        return {item["Key"] for item in self.client.list_objects_v2(Bucket=self.name).get("Contents", [])}


@pytest.fixture
def s3_storage(settings: Any, s3_endpoint: str) -> Iterator[S3Bucket]:
    """Django's default storage is an S3 bucket of its own for this test."""
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, **credentials)
    bucket = f"papercast-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "file_overwrite": False,
            },
        },
    }
    storages._storages = {}  # the storage handler caches instances built from the old settings
    yield S3Bucket(client, bucket)
    storages._storages = {}
    for key in S3Bucket(client, bucket).object_keys():
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)


@pytest.fixture(params=["filesystem", "s3"])
def media_storage(request: pytest.FixtureRequest) -> str:
    """Run a test once on the local file system and once on S3 (moto)."""
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    return str(request.param)
