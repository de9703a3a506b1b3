"""Slides, the built-in visuals: text that always fits (never past the margins, shrunk or ellipsised, never
cut), fonts for the paper's script, both orientations, the figure slide, and the thumbnail's limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw

from media_pipeline.backends.images.base import ImageRequest, SlideSpec
from media_pipeline.backends.images.slides import (
    SlideRenderer,
    draw_slide,
    fit_text,
    render_thumbnail,
    short_title,
    theme_for,
)

SIZES = [(1920, 1080), (1080, 1920)]
LONG_TITLE = (
    "PaperMage: A Unified Toolkit for Processing, Representing, and Manipulating Visually-Rich Scientific "
    "Documents with Very Long Titles That Go On and On Past Any Reasonable Length for a Slide"
)


def _margins_clean(image: Image.Image, theme_key: str) -> bool:
    """Nothing but the background in the side margins (the accent rule runs along the very top)."""
    background = theme_for(theme_key).background
    width, height = image.size
    margin = round(min(width, height) * 0.08) - 2
    top = round(min(width, height) * 0.02)
    for box in ((0, top, margin, height), (width - margin, top, width, height)):
        strip = image.crop(box)
        flat = Image.new("RGB", strip.size, background)
        if ImageChops.difference(strip, flat).getbbox() is not None:
            return False
    return True


@pytest.mark.parametrize("size", SIZES, ids=["16x9", "9x16"])
@pytest.mark.parametrize(
    "spec",
    [
        SlideSpec("title", title="S2ORC", authors="Kyle Lo", theme="t"),
        SlideSpec("title", title=LONG_TITLE, authors=", ".join(f"Author Number{i}" for i in range(30)), theme="t"),
        SlideSpec(
            "points", title=LONG_TITLE, header="Methods", phrases=("81.1 million papers",), theme="t", counter="12/40"
        ),
        SlideSpec(
            "points",
            title="T",
            header="A very long section heading that keeps going well beyond one line of the slide header",
            phrases=tuple("An extremely long key phrase that a careless model wrote as a sentence " * 4 for _ in "abc"),
            theme="t",
        ),
    ],
    ids=["short-title", "long-title", "short-phrase", "long-phrases"],
)
def test_text_never_crosses_the_margins(spec: SlideSpec, size: tuple[int, int]) -> None:
    image, _ = draw_slide(spec, *size)
    assert image.size == size
    assert _margins_clean(image, "t")


def test_text_that_fits_is_whole_and_text_that_cannot_is_ellipsised_not_cut() -> None:
    _, shortened = draw_slide(SlideSpec("points", header="Results", phrases=("81.1 million papers",)), 1920, 1080)
    assert shortened == []
    words = "An extremely long key phrase that a careless model wrote as a sentence " * 6
    _, shortened = draw_slide(SlideSpec("points", header="Results", phrases=(words,)), 1920, 1080)
    assert shortened == [words]
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    fitted = fit_text(draw, words, width=600, height=120, size=40, min_size=30, max_lines=2)
    assert fitted.cut and len(fitted.lines) == 2 and fitted.lines[-1].endswith("…")
    assert all(draw.textlength(line, font=fitted.font) <= 600 for line in fitted.lines)


def test_the_footer_keeps_the_scene_counter_whatever_the_title() -> None:
    """A long title once ran over the counter ("...Visually-Rich Scien" and no "3/24")."""
    short, _ = draw_slide(SlideSpec("points", title="S2ORC", phrases=("x y",), counter="3/24", theme="t"), 1920, 1080)
    long, _ = draw_slide(SlideSpec("points", title=LONG_TITLE, phrases=("x y",), counter="3/24", theme="t"), 1920, 1080)
    margin = round(1080 * 0.08)
    corner = (1920 - margin - 60, 1080 - 80, 1920, 1080)  # the counter, and a little room before it
    assert ImageChops.difference(short.crop(corner), long.crop(corner)).getbbox() is None


@pytest.mark.parametrize(
    ("first", "second"),
    [("中文字体测试", "日本語のテキ"), ("Ωμέγα αλφα", "Γράμματα βη"), ("Müller über Ästhetik", "Ørsted à Ñandú çé")],
    ids=["cjk", "greek", "accents"],
)
def test_the_paper_s_script_is_drawn_with_real_glyphs(first: str, second: str) -> None:
    """Two different strings in a font without their glyphs draw the same row of boxes; with one, they differ."""

    def phrase(text: str) -> Image.Image:
        image, _ = draw_slide(SlideSpec("points", phrases=(text,), theme="t"), 1280, 720)
        return image

    assert ImageChops.difference(phrase(first), phrase(second)).getbbox() is not None
    boxes = "\u25a1" * len(first)  # what a font without the glyphs would show, roughly: make sure we are not that
    assert ImageChops.difference(phrase(first), phrase(boxes)).getbbox() is not None


def _colours(image: Image.Image) -> list[tuple[int, tuple[int, int, int]]]:
    return image.convert("RGB").getcolors(maxcolors=1 << 24) or []


def _far(pixel: object, background: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return sum(abs(int(a) - b) for a, b in zip(pixel, background, strict=True)) > 200


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("size", SIZES, ids=["16x9", "9x16"])
def test_a_figure_slide_shows_the_figure_large_with_its_label(size: tuple[int, int]) -> None:
    figure = _png(2400, 1300, (200, 30, 30))
    spec = SlideSpec(
        "figure", figure_label="Figure 3", figure_caption="Distribution of papers by field.", figure=figure, theme="t"
    )
    result = SlideRenderer().generate(ImageRequest("p", "", size[0], size[1], seed=1, slide=spec))
    assert result.params["shows"] == "Figure 3"
    image = Image.open(io.BytesIO(result.png)).convert("RGB")
    red = sum(n for n, (r, g, b) in _colours(image) if r > 180 and g < 60 and b < 60)
    assert red > 0.25 * size[0] * size[1] if size[0] > size[1] else red > 0.15 * size[0] * size[1]


def test_a_broken_figure_is_a_clear_error() -> None:
    from media_pipeline.backends.errors import PermanentError

    spec = SlideSpec("figure", figure_label="Figure 2", figure=b"not an image")
    with pytest.raises(PermanentError, match="Figure 2 could not be read"):
        draw_slide(spec, 1280, 720)


def test_a_project_keeps_its_theme() -> None:
    assert theme_for("project:1") == theme_for("project:1")
    assert theme_for("project:1") != theme_for("project:2")


def test_the_thumbnail_is_the_short_title_beside_the_figure_within_youtube_s_limits() -> None:
    assert short_title("S2ORC: The Semantic Scholar Open Research Corpus") == "S2ORC"
    assert short_title("Natural Image Denoising with Convolutional Networks") == (
        "Natural Image Denoising with Convolutional Networks"
    )
    figure = _png(800, 800, (30, 30, 200))
    image = render_thumbnail("S2ORC: The Semantic Scholar Open Research Corpus", "t", figure)
    assert image.size == (1280, 720)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    assert buffer.tell() < 2 * 1024 * 1024
    # The figure sits in the right half; the title's text in the left half never reaches it.
    left, right = image.crop((0, 0, 620, 720)), image.crop((660, 0, 1280, 720))
    assert any(b > 150 and r < 60 for _, (r, g, b) in _colours(right))
    assert not any(b > 150 and r < 60 for _, (r, g, b) in _colours(left))
    # Readable at 320x180: the title's letters are still tall there (at least 16 px).
    small = image.resize((320, 180))
    background = theme_for("t").background
    rows = [y for y in range(180) if any(_far(small.getpixel((x, y)), background) for x in range(10, 150))]
    assert rows and max(rows) - min(rows) >= 16


def test_offline_key_phrases_name_what_a_scene_is_about_without_repeating_its_sentences() -> None:
    from media_pipeline.backends.llm.extractive import key_phrases

    scene = (
        "We introduce S2ORC, a large corpus of 81.1 million English-language academic papers spanning many "
        "academic disciplines. The corpus consists of rich metadata, paper abstracts, resolved bibliographic "
        "references, as well as structured full text for 8.1 million open access papers."
    )
    phrases = key_phrases(scene)
    assert 1 <= len(phrases) <= 3
    assert "S2ORC" in phrases  # the name, without the verb that introduced it
    assert any("million" in p for p in phrases)  # a number with what it counts
    assert all(2 <= len(p.split()) <= 5 or p.isupper() for p in phrases)
    assert all(p.lower() not in {s.lower().rstrip(".") for s in scene.split(". ")} for p in phrases)
    # Verbs and prepositions end a phrase, wherever they fall ("BERT learn powerful …", "towards token").
    phrases = key_phrases(
        "Recent Transformer language models like BERT learn powerful textual representations, but these models "
        "are targeted towards token and sentence-level training objectives. NLP systems rely on them."
    )
    assert "Powerful textual representations" in phrases
    assert not any(w in p.lower().split() for p in phrases for w in ("learn", "towards", "rely"))


def test_key_phrases_skip_every_sentence_papercast_adds_to_the_narration() -> None:
    """The bridges and the opening are written in backends/llm/script.py; key phrases must know them all."""
    from media_pipeline.backends.llm.extractive import _PAPERCAST_SAYS
    from media_pipeline.backends.llm.script import _ROLES, ScriptSource, opening, transition
    from media_pipeline.backends.tts.pace import assumed

    said = [words for _, words in _ROLES] + [transition(words.split()[0], 0) for _, words in _ROLES]
    said += [transition("Processing PDFs", 1), transition("Processing PDFs", 0), transition("RQ1: Does it work?", 1)]
    source = ScriptSource("T", ("A B",), "", (), 60.0, assumed(150.0, 0.3, 0.7, "x"))
    said.append(opening(source).text)
    assert all(_PAPERCAST_SAYS.match(sentence) for sentence in said), [s for s in said if not _PAPERCAST_SAYS.match(s)]


@pytest.mark.parametrize("size", SIZES, ids=["16x9", "9x16"])
@pytest.mark.parametrize("kind", ["title", "points"])
def test_a_generated_picture_sits_beside_the_text_never_under_it(size: tuple[int, int], kind: str) -> None:
    width, height = size
    spec = SlideSpec(
        kind, title=LONG_TITLE, authors="Kyle Lo", header="Methods", phrases=("81.1 million papers",) * 3,
        theme="t", counter="2/9", picture=_png(512, 512, (200, 30, 30)),
    )  # fmt: skip
    image, _ = draw_slide(spec, width, height)
    assert _margins_clean(image, "t")
    red = image.point(lambda v: 255 if v > 150 else 0).split()[0]  # where the picture is: red high...
    box = ImageChops.multiply(red, image.split()[1].point(lambda v: 255 if v < 60 else 0)).getbbox()
    assert box is not None
    x0, y0, x1, y1 = box
    assert (x1 - x0) * (y1 - y0) > 0.2 * width * height  # large
    text = ImageChops.difference(image, Image.new("RGB", size, theme_for("t").background))
    if width > height:
        assert x0 > width // 2 - 60  # the right half; the text on the left of it
        assert text.crop((0, 90, x0 - 1, height - 110)).getbbox() is not None
    else:
        assert y0 > height * 0.4  # the lower part; the text above it
        assert text.crop((0, 90, width, y0 - 1)).getbbox() is not None
    # the text is drawn where the picture is not: nothing of the text inside the picture's box
    inside = image.crop((x0 + 8, y0 + 8, x1 - 8, y1 - 8)).getcolors(1 << 16) or []
    assert len(inside) == 1
