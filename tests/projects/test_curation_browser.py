"""Curation in a real browser: Debian's Chromium driven by Playwright against a live server.

bob (editor) edits a scene's prompt, regenerates its image, picks a candidate, re-renders and approves;
the rendered video plays and seeks to the right scene in the browser; carol (viewer) sees no control that
changes anything; mallory (outsider) gets 404. Screenshots of the key pages are kept as test artifacts in
$PAPERCAST_TEST_ARTIFACTS (default: <PAPERCAST_DATA_DIR>/artifacts/screenshots).

Chromium comes from Debian (`make test` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test.testcases import LiveServerThread
from django.test.utils import override_settings

from media_pipeline.models import Chunk, Image, Video
from projects.models import CurationStatus, Paper, Project
from tests.media_pipeline.test_render import COLOURS, make_video_paper

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are synchronous and
# never overlap with it, so Django's async-safety guard is switched off for this module's process.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PAPERCAST_CHROMIUM", "/usr/bin/chromium")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _artifacts() -> Path:
    default = Path(django_settings.DATA_DIR) / "artifacts" / "screenshots"
    path = Path(os.environ.get("PAPERCAST_TEST_ARTIFACTS", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `make test` (it installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def server(transactional_db: None) -> Iterator[Any]:
    """A live server whose media requests reach papercast's own view (membership check, byte ranges).

    Django's test server would otherwise answer MEDIA_URL itself, straight from the disk, without either.
    """
    with override_settings(MEDIA_URL="/media-not-served-by-the-test-server/"):
        thread = LiveServerThread("localhost", StaticFilesHandler)
        thread.daemon = True
        thread.start()
        thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield SimpleNamespace(url=f"http://localhost:{thread.port}")
    thread.terminate()


def _login(chromium: Any, server: Any, name: str) -> Any:
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", f"pw-{name}")
    _submit(page, "input[type=submit]")
    return page


def _submit(page: Any, selector: str) -> None:
    """Press a button that posts a form, and wait for the page it leads to."""
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def _messages(page: Any) -> str:
    return str(page.locator("ul.messagelist").inner_text()) if page.locator("ul.messagelist").count() else ""


def _centre_colour(page: Any, at: float) -> list[int]:
    """Seek the page's video player to `at` seconds and read the colour at the centre of the shown frame."""
    return list(
        page.evaluate(
            """async (at) => {
                const video = document.getElementById("paper-video");
                if (video.readyState < 1) {
                    await new Promise(r => video.addEventListener("loadedmetadata", r, {once: true}));
                }
                video.scrollIntoView();
                // 'seeked' can fire before the new frame is presented; wait for the frame itself too (with a
                // time limit, for players that present nothing new when the frame did not change).
                const presented = new Promise(r => {
                    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => r());
                    setTimeout(r, 1500);
                });
                await new Promise(r => { video.addEventListener("seeked", r, {once: true}); video.currentTime = at; });
                await presented;
                const canvas = document.createElement("canvas");
                canvas.width = video.videoWidth; canvas.height = video.videoHeight;
                const context = canvas.getContext("2d");
                context.drawImage(video, 0, 0);
                return Array.from(context.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data.slice(0, 3));
            }""",
            at,
        )
    )


def _close(colour: list[int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 24 for a, b in zip(colour, expected, strict=True))


def test_an_editor_curates_a_paper_end_to_end_and_others_cannot(
    chromium: Any, server: Any, users: dict[str, User], project: Project, tmp_dir: Path
) -> None:
    shots = _artifacts()
    paper = make_video_paper(project, tmp_dir, [0.0, 2.0, 4.0], 6.0)
    scene = Chunk.objects.get(paper=paper, index=1)
    first_image = Image.objects.get(chunk=scene)
    url = f"{server.url}/admin/projects/paper/{paper.pk}/change/"

    bob = _login(chromium, server, "bob")
    bob.goto(url)
    assert bob.locator("tr.pc-scene").count() == 3
    bob.screenshot(path=str(shots / "1-paper-page-editor.png"), full_page=True)

    # Edit scene 2's image prompt.
    bob.fill(f"#prompt-{scene.pk}", "A lighthouse keeper counting photons at dusk")
    _submit(bob, "#scene-2 button:has-text('Save scene 2')")
    assert "saved the image prompt" in _messages(bob)
    assert "edited by bob" in bob.locator("#scene-2").inner_text()

    # Regenerate its image with the title-card backend: a second candidate appears and is shown.
    _submit(bob, "#scene-2 button:has-text('Regenerate')")
    assert "new image(s) requested" in _messages(bob)
    assert bob.locator("#scene-2 .pc-candidate").count() == 2
    new_image = Image.objects.filter(chunk=scene).exclude(pk=first_image.pk).get()
    assert (new_image.backend, new_image.prompt.startswith("A lighthouse keeper")) == ("slides", True)
    bob.screenshot(path=str(shots / "2-regenerated-candidates.png"), full_page=True)

    # Pick the original candidate back.
    _submit(bob, f"#scene-2 .pc-candidate[data-image='{first_image.pk}'] button:has-text('Use this one')")
    assert "chosen by bob" in bob.locator(f"#scene-2 .pc-candidate[data-image='{first_image.pk}']").inner_text()

    # Re-render, then check the player: it plays the new video and seeks to each scene's image.
    _submit(bob, "button:has-text('Render the video')")
    assert "Rendered the video" in _messages(bob), _messages(bob)
    video = Video.objects.filter(paper=paper).latest("created_at")
    assert bob.evaluate("document.getElementById('paper-video').canPlayType('video/mp4; codecs=\"avc1.640028\"')")
    duration = bob.evaluate(
        """async () => { const v = document.getElementById("paper-video");
           if (v.readyState < 1) await new Promise(r => v.addEventListener("loadedmetadata", r, {once: true}));
           return v.duration; }"""
    )
    assert abs(duration - video.duration) < 0.1
    for at, colour in ((4.5, COLOURS[2]), (0.5, COLOURS[0]), (2.5, COLOURS[1])):
        seen = _centre_colour(bob, at)
        assert _close(seen, colour), (at, seen, colour)

    # Approve.
    _submit(bob, "button:has-text('Approve')")
    assert "Approved video" in _messages(bob), _messages(bob)
    assert bob.locator(".pc-curation").inner_text() == "Approved"
    bob.locator("#pipeline").screenshot(path=str(shots / "3-approved.png"))
    paper.refresh_from_db()
    assert paper.curation_status == CurationStatus.APPROVED
    assert Video.objects.get(pk=video.pk).approved_by == users["bob"]

    # carol sees the page, the scenes and the video, and nothing that changes anything.
    carol = _login(chromium, server, "carol")
    carol.goto(url)
    assert carol.locator("tr.pc-scene").count() == 3
    assert carol.locator("#paper-video").count() == 1
    for selector in (
        "#pipeline button",
        "#timeline button",
        "textarea",
        "input[name=_save]",
        "select[name=from_stage]",
    ):
        assert carol.locator(selector).count() == 0, selector
    assert "edited by bob" in carol.locator("#scene-2").inner_text()
    carol.screenshot(path=str(shots / "4-paper-page-viewer.png"), full_page=True)

    # mallory gets the answer a missing paper gets.
    mallory = _login(chromium, server, "mallory")
    missing = mallory.goto(f"{server.url}/admin/projects/paper/{paper.pk + 1000}/change/")
    assert missing is not None and missing.status == 404
    missing_text = mallory.inner_text("body")
    response = mallory.goto(url)
    assert response is not None and response.status == 404
    assert mallory.inner_text("body") == missing_text and "Bees" not in missing_text
    mallory.screenshot(path=str(shots / "5-outsider-404.png"))
    assert mallory.goto(f"{server.url}{video.file.url}").status == 404  # type: ignore[union-attr]
    assert carol.goto(f"{server.url}{video.file.url}").status == 200
    assert Paper.objects.filter(pk=paper.pk).exists()
