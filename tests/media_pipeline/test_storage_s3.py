"""The whole pipeline with S3 storage (moto's S3 server on 127.0.0.1) and a Stable Diffusion WebUI (a fake
speaking its API): every file lands in the bucket, each scene has one selected image with the server's seed,
and a second run asks the image server for nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from media_pipeline.backends import ffmpeg
from media_pipeline.models import Chunk, Image, RunStatus, StageRun, Video
from media_pipeline.report import paper_report
from projects.models import Project
from tests.conftest import make_text_paper, run_inline
from tests.fakes.image_servers import FakeA1111, running
from tests.fakes.s3 import S3Bucket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_pipeline_with_a1111_stores_everything_in_s3(project: Project, s3_storage: S3Bucket, settings: Any) -> None:
    with running(FakeA1111()) as webui:
        assert isinstance(webui, FakeA1111)
        webui.server_seed = 4242  # the server reports the seed it used; papercast must keep that one
        settings.PAPERCAST_IMAGE_BACKEND = "a1111"
        settings.PAPERCAST_IMAGE_URL = webui.url
        paper = make_text_paper(project, "Scouts find a cavity. They dance for it. The swarm decides.")
        run_inline(paper)
        assert set(StageRun.objects.filter(paper=paper).values_list("status", flat=True)) == {RunStatus.SUCCEEDED}

        scenes = Chunk.objects.filter(paper=paper).count()
        selected = list(Image.objects.filter(chunk__paper=paper, selected=True))
        assert len(selected) == scenes == len(webui.generations())
        for image in selected:
            assert image.backend == "a1111" and image.seed == 4242 and image.model == "v1-5-pruned-emaonly"
            with default_storage.open(image.file.name, "rb") as handle, PILImage.open(io.BytesIO(handle.read())) as png:
                assert png.text["seed"] == "4242" and png.text["backend"] == "a1111"
                assert png.text["prompt"] == image.prompt

        keys = s3_storage.object_keys()
        video = Video.objects.get(paper=paper)
        assert {paper.source_file.name, video.file.name, video.srt.name} | {i.file.name for i in selected} <= keys
        assert default_storage.__class__.__name__ == "S3Storage"

        run_inline(paper)  # everything current: no new image request, no new video
        assert len(webui.generations()) == scenes and Video.objects.filter(paper=paper).count() == 1

    report = paper_report(paper)  # downloads from S3 to local paths
    probe = ffmpeg.probe_video(Path(report["video"]))
    assert probe.video_codec == "h264" and abs(probe.duration - report["duration"]) <= 0.1


def test_on_s3_the_web_process_redirects_to_a_signed_link_instead_of_streaming(
    project: Project, s3_storage: S3Bucket, client: Any, users: Any
) -> None:
    """The admin's player and downloads: a member gets a 302 to a short-lived presigned link that serves the
    bytes from the bucket (with the type the web process would have sent); an outsider gets 404."""
    import requests
    from django.core.files.base import ContentFile

    paper = make_text_paper(project, "One sentence.")
    name = default_storage.save(f"projects/{project.pk}/papers/{paper.pk}/video/v.mp4", ContentFile(b"\0" * 4096))
    client.force_login(users["mallory"])
    assert client.get(f"/media/{name}").status_code == 404
    client.force_login(users["carol"])  # a viewer
    response = client.get(f"/media/{name}")
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    link = response["Location"]
    assert "Signature=" in link and "Expires=" in link
    fetched = requests.get(link, timeout=10)
    assert fetched.status_code == 200 and fetched.content == b"\0" * 4096
    assert fetched.headers["Content-Type"] == "video/mp4"


def test_on_s3_a_dead_attempts_unreferenced_files_are_swept_from_the_bucket(
    project: Project, s3_storage: S3Bucket
) -> None:
    """The orphan sweep lists the paper's folders in the bucket (S3 has no directories, only prefixes)."""
    from django.core.files.base import ContentFile

    from media_pipeline import files, orphans, runs
    from media_pipeline.models import Stage

    paper = make_text_paper(project, "One sentence.")
    dead = StageRun.objects.create(paper=paper, stage=Stage.RENDER, status=RunStatus.RUNNING, attempts=1)
    folder = files.paper_folder(project.pk, paper.pk)
    with runs.attempt(dead.pk, 1):
        left = [
            default_storage.save(files.generated_name(f"{folder}/video", ".mp4"), ContentFile(b"\0" * 64)),
            default_storage.save(files.generated_name(f"{folder}/scenes/deep", ".png"), ContentFile(b"\0" * 64)),
        ]
    kept = default_storage.save(f"{folder}/video/notes.txt", ContentFile(b"mine"))
    assert orphans.sweep_paper(paper) == []  # the attempt still holds its run
    StageRun.objects.filter(pk=dead.pk).update(status=RunStatus.FAILED)
    assert sorted(orphans.sweep_paper(paper)) == sorted(left)
    assert not set(left) & s3_storage.object_keys() and kept in s3_storage.object_keys()
