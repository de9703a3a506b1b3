"""The illustrate stage: candidates, selection, provenance, storage (file system and S3) and failures.

Scenes are made directly (make_scenes) so no model runs; images come from a server speaking the
Stable Diffusion WebUI's API, or from the built-in title cards.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from PIL import Image as PILImage

from media_pipeline import pipeline
from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.models import Chunk, Image, RunStatus, Stage, StageRun
from media_pipeline.stages import illustrate, no_progress, render
from projects.models import Paper, Project
from tests.conftest import make_scenes, make_text_paper
from tests.fakes.image_servers import FakeA1111, running

PROMPTS = ["A bee scout inspecting a hollow tree", "Bees dancing on the comb", "A swarm in flight at dusk"]


@pytest.fixture
def webui(settings: Any) -> Iterator[FakeA1111]:
    with running(FakeA1111()) as fake:
        assert isinstance(fake, FakeA1111)
        settings.PAPERCAST_IMAGE_BACKEND = "a1111"
        settings.PAPERCAST_IMAGE_URL = fake.url
        settings.PAPERCAST_IMAGE_MODEL = ""
        settings.PAPERCAST_IMAGE_AUTH = None
        settings.PAPERCAST_IMAGE_READ_TIMEOUT = 5.0
        settings.PAPERCAST_IMAGE_RETRIES = 1
        settings.PAPERCAST_IMAGE_BACKOFF = 0.0
        yield fake


@pytest.fixture
def paper(project: Project) -> Paper:
    paper = make_text_paper(project, "Bees choose a home.")
    make_scenes(paper, PROMPTS)
    return paper


def _selected(paper: Paper) -> list[Image]:
    return list(Image.objects.filter(chunk__paper=paper, selected=True).order_by("chunk__index"))


def _png_text(image: Image) -> dict[str, str]:
    with default_storage.open(image.file.name, "rb") as handle, PILImage.open(io.BytesIO(handle.read())) as png:
        return dict(png.text)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_each_scene_gets_one_selected_image_with_its_provenance_and_a_rerun_asks_for_nothing(
    webui: FakeA1111, paper: Paper, media_storage: str
) -> None:
    result = illustrate.run(paper, force=False, progress=no_progress)
    assert result.metrics["calls"] == 3 and len(webui.generations()) == 3
    selected = _selected(paper)
    assert [img.prompt for img in selected] == PROMPTS
    for chunk_index, image in enumerate(selected):
        assert image.seed == illustrate.scene_seed(paper, chunk_index)  # the server used the seed it was sent
        assert image.backend == "a1111" and image.model == "v1-5-pruned-emaonly"
        assert image.params["sampler_name"] == "DPM++ 2M" and image.params["scheduler"] == "Karras"
        assert image.file.name.startswith(f"projects/{paper.project_id}/papers/{paper.pk}/scenes/{chunk_index:04d}/")
        text = _png_text(image)
        assert text["prompt"] == image.prompt and text["negative_prompt"] == "text, watermark"
        assert text["seed"] == str(image.seed) and text["backend"] == "a1111"
        assert "Sampler: DPM++ 2M" in text["parameters"] or '"sampler_name": "DPM++ 2M"' in text["parameters"]
        assert (image.width, image.height) == (640, 360)

    fingerprint, current = illustrate.status(paper)
    assert current
    again = illustrate.run(paper, force=False, progress=no_progress)
    assert again.reused and again.fingerprint == fingerprint and len(webui.generations()) == 3


@pytest.mark.django_db(transaction=True)
def test_candidates_regeneration_and_a_persons_choice(webui: FakeA1111, paper: Paper, media_storage: str) -> None:
    project = paper.project
    project.image_candidates = 2
    project.save()
    illustrate.run(paper, force=False, progress=no_progress)
    first_scene = Chunk.objects.get(paper=paper, index=0)
    candidates = list(first_scene.images.order_by("id"))
    assert len(candidates) == 2 and Image.objects.filter(chunk__paper=paper).count() == 6
    assert candidates[0].selected and not candidates[1].selected
    assert candidates[0].seed != candidates[1].seed

    # A person picks the second candidate of scene 1.
    Image.objects.filter(chunk=first_scene).update(selected=False)
    Image.objects.filter(pk=candidates[1].pk).update(selected=True, selected_by_human=True)

    # Regenerating scenes 1 and 2 adds new candidates with new seeds and keeps the old ones.
    run = pipeline.regenerate_images(paper, [0, 1], count=1)  # tests run queued work at once
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.until_stage == Stage.ILLUSTRATE
    assert Image.objects.filter(chunk__paper=paper).count() == 8 and len(webui.generations()) == 8
    assert _selected(paper)[0].pk == candidates[1].pk  # the person's choice stands
    second_scene = Chunk.objects.get(paper=paper, index=1)
    newest = second_scene.images.order_by("-id").first()
    assert newest is not None and newest.selected  # no person chose there: the new image is shown
    assert newest.seed not in {img.seed for img in second_scene.images.exclude(pk=newest.pk)}

    # A normal re-run changes nothing: the regenerated image was made from the current prompt.
    assert illustrate.status(paper)[1]
    illustrate.run(paper, force=False, progress=no_progress)
    assert len(webui.generations()) == 8 and _selected(paper)[1].pk == newest.pk

    # Editing a prompt makes fresh candidates for that scene only; the person's pick elsewhere stays.
    from media_pipeline.models import Summary

    Summary.objects.filter(chunk__paper=paper, chunk__index=2).update(image_prompt="A new hive", edited_by_human=True)
    illustrate.run(paper, force=False, progress=no_progress)
    assert len(webui.generations()) == 10
    assert _selected(paper)[2].prompt == "A new hive" and _selected(paper)[0].pk == candidates[1].pk


@pytest.mark.django_db(transaction=True)
def test_identical_images_are_stored_once(paper: Paper, media_storage: str, settings: Any) -> None:
    settings.PAPERCAST_IMAGE_BACKEND = "titlecard"
    illustrate.run(paper, force=False, progress=no_progress)
    # Title cards ignore the sampling steps, so new steps mean new candidates with the very same bytes.
    Project.objects.filter(pk=paper.project_id).update(image_steps=40)
    paper.refresh_from_db()
    result = illustrate.run(paper, force=False, progress=no_progress)
    assert result.metrics["calls"] == 3
    rows = list(Image.objects.filter(chunk__paper=paper).order_by("chunk__index", "id"))
    assert len(rows) == 6
    for old, new in zip(rows[::2], rows[1::2], strict=True):
        assert old.sha256 == new.sha256 and old.file.name == new.file.name and new.selected
    assert all(default_storage.exists(row.file.name) for row in rows)
    assert len({row.file.name for row in rows}) == 3


@pytest.mark.django_db(transaction=True)
def test_a_failed_scene_is_listed_the_others_are_kept_and_render_refuses(
    webui: FakeA1111, paper: Paper, media_storage: str, settings: Any
) -> None:
    webui.script = ["ok", "garbage", "bomb"]
    with pytest.raises(PermanentError) as failure:
        illustrate.run(paper, force=False, progress=no_progress)
    message = str(failure.value)
    assert "2 of 3 scenes have no image (2, 3)" in message and "not a valid image" in message
    assert len(_selected(paper)) == 1 and Image.objects.filter(chunk__paper=paper).count() == 1
    errors = dict(Chunk.objects.filter(paper=paper).values_list("index", "image_error"))
    assert errors[0] == "" and "not a valid image" in errors[1] and errors[2]
    if media_storage == "filesystem":
        stored = list((Path(settings.MEDIA_ROOT) / f"projects/{paper.project_id}").rglob("*.png"))
        assert len(stored) == 1  # nothing stored for the refused bytes

    with pytest.raises(PermanentError, match=r"Scenes 2, 3 have no selected image.*scene 2: .*not a valid image"):
        render._inputs(paper)

    illustrate.run(paper, force=False, progress=no_progress)  # the server behaves again: only 2 and 3 are asked
    assert len(webui.generations()) == 5 and len(_selected(paper)) == 3
    assert set(Chunk.objects.filter(paper=paper).values_list("image_error", flat=True)) == {""}


@pytest.mark.django_db(transaction=True)
def test_a_server_that_stays_down_stops_the_stage_for_a_retry_keeping_finished_scenes(
    webui: FakeA1111, paper: Paper
) -> None:
    webui.script = ["ok", "503", "503"]
    with pytest.raises(TransientError, match="did not answer after 2 attempts"):
        illustrate.run(paper, force=False, progress=no_progress)
    assert len(_selected(paper)) == 1


@pytest.mark.django_db(transaction=True)
def test_one_generation_at_a_time_per_server_across_workers(webui: FakeA1111, project: Project, settings: Any) -> None:
    settings.PAPERCAST_IMAGE_CONCURRENCY = 1
    webui.delay = 0.2
    papers = []
    for n in range(3):
        paper = make_text_paper(project, f"Paper {n}.")
        make_scenes(paper, PROMPTS[:2])
        papers.append(paper)
    errors: list[BaseException] = []

    def worker(paper: Paper) -> None:
        try:
            illustrate.run(paper, force=False, progress=no_progress)
        except BaseException as exc:  # re-raised below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in papers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(webui.generations()) == 6 and webui.max_active == 1


@pytest.mark.django_db(transaction=True)
def test_regenerate_refuses_scenes_that_do_not_exist_and_runs_only_illustrate(paper: Paper) -> None:
    with pytest.raises(pipeline.PipelineError, match="no scene 7"):
        pipeline.regenerate_images(paper, [6])
    with pytest.raises(pipeline.PipelineError, match="1 to 8"):
        pipeline.regenerate_images(paper, [0], count=20)
    run = pipeline.regenerate_images(paper, [2], count=2)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.metrics["calls"] == 2
    assert not StageRun.objects.filter(paper=paper, stage=Stage.RENDER).exists()
    assert Image.objects.filter(chunk__paper=paper, chunk__index=2).count() == 2


@pytest.mark.django_db
def test_editors_regenerate_scene_images_from_the_admin_and_viewers_and_outsiders_cannot(
    paper: Paper, users: dict[str, Any], settings: Any
) -> None:
    from django.test import Client

    settings.PAPERCAST_QUEUE_SYNC = False  # leave the run pending, as a worker would find it
    chunk = Chunk.objects.get(paper=paper, index=1)
    form = {"action": "regenerate_images", "_selected_action": [chunk.pk]}
    for name in ("carol", "mallory"):
        client = Client()
        client.force_login(users[name])
        client.post("/admin/media_pipeline/chunk/", form)
        assert not StageRun.objects.filter(paper=paper).exists()
    client = Client()
    client.force_login(users["bob"])
    assert client.post("/admin/media_pipeline/chunk/", form).status_code == 302
    run = StageRun.objects.get(paper=paper)
    assert (run.stage, run.status, run.requested_by) == (Stage.ILLUSTRATE, "pending", users["bob"])
    assert run.options == {"regenerate": [1], "count": 1} and run.until_stage == Stage.ILLUSTRATE


def _with_table(paper: Paper, scene: int, colour: tuple[int, int, int]) -> None:
    """The paper's Table 1 (a flat colour), and scene `scene`'s narration naming it."""
    from django.core.files.base import ContentFile

    from media_pipeline.models import Figure, FigureKind, PaperDocument

    buffer = io.BytesIO()
    PILImage.new("RGB", (900, 500), colour).save(buffer, format="PNG")
    document = PaperDocument.objects.create(paper=paper, input_fingerprint="test", title=paper.title)
    name = default_storage.save(f"projects/{paper.project_id}/figures/table1.png", ContentFile(buffer.getvalue()))
    Figure.objects.create(
        document=document, number=1, kind=FigureKind.TABLE, label="Table 1", caption="Table 1: Hive sites.",
        page=2, file=name, width=900, height=500, sha256="t" * 64,
    )  # fmt: skip
    Chunk.objects.filter(paper=paper, index=scene).update(text="Table 1 lists every site the scouts visited.")


def _pixels(image: Image) -> PILImage.Image:
    with default_storage.open(image.file.name, "rb") as handle:
        return PILImage.open(io.BytesIO(handle.read())).convert("RGB")


@pytest.mark.django_db(transaction=True)
def test_a_generated_picture_sits_beside_the_key_points_and_a_table_scene_shows_the_table(
    webui: FakeA1111, paper: Paper, media_storage: str
) -> None:
    from media_pipeline.models import Summary
    from tests.fakes.image_servers import picture

    _with_table(paper, 1, (30, 200, 30))
    Summary.objects.filter(chunk__paper=paper, chunk__index=2).update(key_phrases=["Scouts dance for sites"])
    illustrate.run(paper, force=False, progress=no_progress)

    # The server is asked for square pictures, for the title and the points scenes only.
    asked = [g["body"] for g in webui.generations()]
    assert [g["prompt"] for g in asked] == [PROMPTS[0], PROMPTS[2]]
    assert {(g["width"], g["height"]) for g in asked} == {(360, 360)}
    title, table, points = _selected(paper)
    assert (title.backend, title.params["shows"], title.params["layout"]) == (
        "a1111", "title slide with a generated image", "beside",
    )  # fmt: skip
    assert (points.backend, points.params["shows"]) == ("a1111", "slide with a generated image")
    assert (table.backend, table.params["shows"]) == ("slides", "Table 1")
    assert (points.width, points.height) == (640, 360) and _png_text(points)["prompt"] == PROMPTS[2]

    # The picture fills the right half; the left half holds the text on the theme's background.
    frame = _pixels(points)
    expected = PILImage.open(io.BytesIO(picture(PROMPTS[2], points.seed, 360, 360))).convert("RGB")
    colour = expected.getpixel((300, 300))  # the fake's picture: one colour with a corner of another
    assert frame.getpixel((480, 200)) == colour
    left = frame.crop((40, 40, 300, 300)).getcolors(1 << 16) or []
    assert colour not in {c for _, c in left} and len(left) > 2
    green = sum(n for n, (r, g, b) in (_pixels(table).getcolors(1 << 16) or []) if g > 180 and r < 60)
    assert green > 0.2 * 640 * 360  # the table fills its slide

    # Nothing changed: nothing asked again. A person's new key phrases redraw that slide only.
    again = illustrate.run(paper, force=False, progress=no_progress)
    assert again.reused and len(webui.generations()) == 2
    Summary.objects.filter(chunk__paper=paper, chunk__index=2).update(
        key_phrases=["Quorum reached"], edited_by_human=True
    )
    illustrate.run(paper, force=False, progress=no_progress)
    assert len(webui.generations()) == 3 and _selected(paper)[2].pk != points.pk


@pytest.mark.django_db(transaction=True)
def test_a_project_can_give_generated_pictures_the_whole_frame(
    webui: FakeA1111, paper: Paper, media_storage: str
) -> None:
    Project.objects.filter(pk=paper.project_id).update(image_layout="full")
    paper.refresh_from_db()
    _with_table(paper, 1, (30, 200, 30))
    illustrate.run(paper, force=False, progress=no_progress)
    assert {(g["body"]["width"], g["body"]["height"]) for g in webui.generations()} == {(640, 360)}
    assert len(webui.generations()) == 3
    assert {img.params["shows"] for img in _selected(paper)} == {"generated image"}


def test_figures_go_to_the_scenes_about_their_pages_and_near_them_when_none_is_on_them() -> None:
    from types import SimpleNamespace

    from media_pipeline.selectors import SceneSource

    chunks: list[Any] = [SimpleNamespace(index=i, text="") for i in range(8)]
    figure = SimpleNamespace(pk=1, kind="raster", number=1, page=4)
    table = SimpleNamespace(pk=2, kind="table", number=1, page=9)
    pages = {1: [1], 2: [1], 3: [2], 4: [4], 5: [4], 6: [7], 7: [7]}
    sources = {i: SceneSource(pages=p) for i, p in pages.items()}
    assigned = illustrate._assign_visuals(chunks, sources, [figure, table])  # type: ignore[arg-type]
    assert assigned == {4: figure}  # its own page; the table's page 9 is never said: no scene shows it
    # A narration that skips the figure's page (the overview, then the discussion): the scene nearest to it.
    sources = {i: SceneSource(pages=p) for i, p in {**pages, 4: [2], 5: [2]}.items()}
    assigned = illustrate._assign_visuals(chunks, sources, [figure, table])  # type: ignore[arg-type]
    assert assigned == {3: figure, 6: table}  # the first scene two pages from each, never side by side
    far = {i: SceneSource(pages=[1]) for i in range(1, 8)}
    assert illustrate._assign_visuals(chunks, far, [table]) == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("caption", "short"),
    [
        ("Figure 3: Citation contexts per paper. Each dot is a field.", "Citation contexts per paper"),
        (
            "Figure 1: papermage's document creation and representation. (A) Recipes are turn-key methods. "
            "(B) They compose models.",
            "papermage's document creation and representation",
        ),
        ("Table 2. Results on SciDocs (higher is better)", "Results on SciDocs (higher is better)"),
    ],
)
def test_a_figure_slide_shows_the_caption_s_first_sentence(caption: str, short: str) -> None:
    assert illustrate._short_caption(caption) == short


@pytest.mark.django_db(transaction=True)
def test_a_slide_never_shows_the_authors_a_scene_starts_with(paper: Paper, media_storage: str) -> None:
    """A scene can begin with the tail of the opening sentence ("… by Viren Jain and H. Sebastian Seung."):
    the names are the title slide's, not a key point (NIPS 2008 once showed "Sebastian Seung" as one)."""
    from media_pipeline.models import PaperDocument

    PaperDocument.objects.create(
        paper=paper, input_fingerprint="test", title=paper.title, authors=["Viren Jain", "H. Sebastian Seung"]
    )
    Chunk.objects.filter(paper=paper, index=1).update(
        text="Sebastian Seung. We present an approach to low-level vision with convolutional networks."
    )
    illustrate.run(paper, force=False, progress=no_progress)
    shown = _selected(paper)[1].params["text"]
    assert shown and not any("seung" in p.lower() for p in shown), shown
    assert any("vision" in p.lower() or "convolutional" in p.lower() for p in shown), shown
