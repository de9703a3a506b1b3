"""From a paper to a video, on embedded defaults: `makevideo --pdf FILE` and `makevideo --arxiv ID` (against a
local stand-in for arXiv). Each scene says which pages its narration came from, the scenes that talk about
a figure show the paper's own figure on a slide with its label, and the description credits it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from PIL import Image as PILImage

from media_pipeline.models import Image, Video
from media_pipeline.publishing import video_metadata
from projects.models import Paper
from tests.fakes import pdfs
from tests.fakes.arxiv_server import ArxivPaper, FakeArxiv, running_arxiv
from tests.frames import shown_at

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _makevideo(*args: str) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    call_command("makevideo", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue())


def _check_video_from_paper(report: dict[str, Any], user: User) -> None:
    assert {s["status"] for s in report["stages"].values()} == {"succeeded"}, report["stages"]
    assert list(report["stages"])[:3] == ["extract", "script", "narrate"]
    assert report["source"]["pages"] == 3 and [f["number"] for f in report["source"]["figures"]] == [1, 2]
    scenes = report["scenes"]
    assert all(scene["pages"] for scene in scenes), [s["pages"] for s in scenes]
    assert {p for scene in scenes for p in scene["pages"]} == {1, 2, 3}
    assert [s["pages"] for s in scenes] == sorted([s["pages"] for s in scenes])  # the narration follows the paper
    sentences = report["script"]
    assert sentences[0]["text"].startswith("This is an explainer of the paper") and sentences[0]["start"] == 0.0
    # The narration's words were aligned, not recognised: no verdict on any sentence until someone asks.
    assert report["transcript"]["timing"] == "align"
    assert [s["text"] for s in sentences if s["error_rate"] is not None] == []
    assert all(s["pages"] for s in sentences)
    # A scene that talks about a figure shows it, whole, on a slide with its label.
    showing = [scene for scene in scenes if scene["figures"]]
    assert {n for scene in showing for n in scene["figures"]} == {1, 2}
    paper = Paper.objects.get(pk=report["paper"])
    video_path = Path(report["video"])
    first = scenes[0]
    assert Image.objects.get(chunk__paper=paper, chunk__index=first["index"], selected=True).params["shows"] == (
        "title slide"
    )
    for scene in showing:
        assert scene["image_backend"] == "slides"
        selected = Image.objects.get(chunk__paper=paper, chunk__index=scene["index"], selected=True)
        assert selected.params["shows"] == f"Figure {scene['figures'][0]}"
        middle = (scene["start"] + scene["end"]) / 2
        frame = shown_at(video_path, middle, (64, 36))
        figure = next(f for f in report["source"]["figures"] if f["number"] == scene["figures"][0])
        with PILImage.open(figure["image"]) as image:
            expected = np.asarray(image.convert("RGB")).reshape(-1, 3).mean(axis=0)
        assert np.abs(frame[18, 32] - expected).max() <= 40, (frame[18, 32], expected)  # the figure fills the middle
    video = Video.objects.get(paper=paper)
    video.approved_at, video.approved_by = video.created_at, user
    metadata = video_metadata(video)
    assert metadata["title"] == pdfs.TITLE
    assert metadata["description"].startswith(pdfs.ABSTRACT)
    assert (
        "Figures 1, 2 from “Quorum Sensing in Honeybee Swarms” by Ada Lovelace, Alan Turing" in metadata["description"]
    )


def test_makevideo_turns_a_pdf_into_a_video_whose_scenes_know_their_pages(
    tmp_dir: Path, users: dict[str, User]
) -> None:
    pdf = pdfs.make_paper_pdf(tmp_dir / "quorum-sensing.pdf")
    report = _makevideo("--pdf", str(pdf), "--minutes", "1")
    assert report["source"]["kind"] == "pdf" and report["source"]["arxiv_id"] is None
    assert report["title"] == pdfs.TITLE
    _check_video_from_paper(report, users["bob"])


def test_makevideo_turns_an_arxiv_identifier_into_a_video(tmp_dir: Path, users: dict[str, User], settings: Any) -> None:
    fake = FakeArxiv()
    fake.add(
        ArxivPaper(
            base="2202.08906",
            version=2,
            title=pdfs.TITLE,
            authors=pdfs.AUTHORS,
            abstract=pdfs.ABSTRACT,
            pdf=pdfs.make_paper_pdf(tmp_dir / "arxiv.pdf").read_bytes(),
        )
    )
    with running_arxiv(fake) as arxiv:
        settings.PAPERCAST_ARXIV_URL = arxiv.url
        report = _makevideo("--arxiv", "2202.08906", "--minutes", "1")
    assert report["source"]["kind"] == "arxiv" and report["source"]["arxiv_id"] == "2202.08906v2"
    assert len(arxiv.requests) == 2
    _check_video_from_paper(report, users["bob"])
    video = Video.objects.get(paper_id=report["paper"])
    assert "https://arxiv.org/abs/2202.08906" in video_metadata(video)["description"]
