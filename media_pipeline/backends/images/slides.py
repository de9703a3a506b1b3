"""Slides, the built-in visuals: what a good talk shows, drawn offline in milliseconds.

Three kinds, for 16:9 and 9:16 alike, in one theme per project (background, accent and type):
- a title slide: the paper's title, its authors and where it appeared (venue or arXiv id);
- a points slide: the section's name as a header and one to three key phrases, large, with room around them;
- a figure slide: the paper's figure or table filling the slide, with its label ("Figure 3") and a short
  caption, credited to the paper.
A title or points slide can carry an image server's picture: the text on one half (the top in 9:16), the
picture on the other.
Every text is measured before it is drawn: wrapped, then shrunk down to a floor, then ellipsised on its
last line, never cut at the frame's edge. Fonts cover the paper's script: Latin with accents, Greek and
Cyrillic (Noto Sans or DejaVu Sans), and Chinese, Japanese and Korean (Noto Sans CJK) when a text has them.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.base import ImageRequest, ImageResult, LocalRenderer, SlideSpec

VERSION = "slides-1"
FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont
_LATIN = {
    False: (
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ),
    True: (
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
}
_CJK = {
    False: ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",),
    True: (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ),
}
_CJK_CHARS = re.compile("[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Theme:
    background: tuple[int, int, int]
    accent: tuple[int, int, int]
    text: tuple[int, int, int]
    muted: tuple[int, int, int]


def theme_key(project_id: int | None) -> str:
    """The key of a project's theme: its slides and its thumbnail share their colours."""
    return f"project:{project_id}"


def theme_for(key: str) -> Theme:
    """A calm dark theme whose accent hue comes from the key (a project keeps its colours)."""
    hue = hashlib.sha256(key.encode("utf-8")).digest()[0] / 255.0

    def rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return round(r * 255), round(g * 255), round(b * 255)

    return Theme(
        background=rgb(hue, 0.45, 0.16),
        accent=rgb(hue + 0.08, 0.55, 0.95),
        text=(246, 246, 242),
        muted=rgb(hue, 0.12, 0.78),
    )


def _symbols(text: str) -> bool:
    """Math and other symbols ("≈", "∑", "→") that Noto Sans lacks and DejaVu Sans has."""
    return any(ord(c) > 0x2000 and unicodedata.category(c) in ("Sm", "So") for c in text)


@functools.lru_cache(maxsize=64)
def font(
    size: int, *, bold: bool = False, cjk: bool = False, symbols: bool = False, path: str | None = None
) -> FontType:
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError as exc:
            raise PermanentError(f"The font {path!r} (PAPERCAST_FONT) could not be loaded: {exc}") from exc
    latin = tuple(reversed(_LATIN[bold])) if symbols else _LATIN[bold]
    for candidate in (_CJK[bold] if cjk else ()) + latin:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


@dataclass
class Fitted:
    lines: list[str]
    font: FontType
    size: int
    line_height: int
    cut: bool = False  # ellipsised: the whole text did not fit even at the smallest size

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


def _wrapped(draw: ImageDraw.ImageDraw, text: str, face: FontType, width: int) -> tuple[list[str], bool]:
    """Lines no wider than `width`, and whether a word (not CJK text, which has no spaces) had to be broken
    inside to fit."""
    broke = False
    lines: list[str] = []
    current = ""
    tokens = re.findall(r"[\u2e80-\u9fff\uac00-\ud7af]|\S+", text) if _CJK_CHARS.search(text) else text.split()
    for token in tokens:
        joiner = "" if _CJK_CHARS.match(token) or (current and _CJK_CHARS.match(current[-1])) else " "
        trial = f"{current}{joiner}{token}" if current else token
        if draw.textlength(trial, font=face) <= width:
            current = trial
            continue
        if current:
            lines.append(current)
        rest = token
        while draw.textlength(rest, font=face) > width and len(rest) > 1:  # a very long word
            broke = broke or not _CJK_CHARS.match(rest)
            cut = len(rest)
            while cut > 1 and draw.textlength(rest[:cut], font=face) > width:
                cut -= 1
            lines.append(rest[:cut])
            rest = rest[cut:]
        current = rest
    if current:
        lines.append(current)
    return lines, broke


def _ellipsised(draw: ImageDraw.ImageDraw, line: str, face: FontType, width: int) -> str:
    text = line.rstrip()
    while text and draw.textlength(text + ELLIPSIS, font=face) > width:
        text = text[:-1].rstrip()
    return text.rstrip(",;:") + ELLIPSIS


def fit_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    *,
    width: int,
    height: int,
    size: int,
    min_size: int,
    bold: bool = False,
    max_lines: int = 0,
    spacing: float = 1.22,
    font_path: str | None = None,
) -> Fitted:
    """The text wrapped to `width`, in the largest size from `size` down to `min_size` at which it fits in
    `height` (and `max_lines`); at the floor, the lines that fit, the last one ellipsised."""
    cjk, symbols = bool(_CJK_CHARS.search(text)), _symbols(text)
    current = size
    while True:
        face = font(current, bold=bold, cjk=cjk, symbols=symbols, path=font_path)
        lines, broke = _wrapped(draw, text, face, width)
        line_height = round(current * spacing)
        room = max(height // line_height, 1)
        if max_lines:
            room = min(room, max_lines)
        if len(lines) <= room and (not broke or current <= min_size):  # a smaller size before a broken word
            return Fitted(lines, face, current, line_height)
        if current <= min_size:
            kept = lines[:room]
            kept[-1] = _ellipsised(draw, kept[-1] + " " + lines[room], face, width)
            return Fitted(kept, face, current, line_height, cut=True)
        current = max(min_size, round(current * 0.92))


def _draw_lines(draw: ImageDraw.ImageDraw, fitted: Fitted, x: int, y: int, fill: tuple[int, int, int]) -> int:
    for line in fitted.lines:
        draw.text((x, y), line, font=fitted.font, fill=fill)
        y += fitted.line_height
    return y


class SlideRenderer(LocalRenderer):
    name = "slides"
    version = VERSION

    def generate(self, request: ImageRequest) -> ImageResult:
        spec = request.slide or SlideSpec(
            kind="points", header="", phrases=(request.headline or request.prompt,), title=request.caption
        )
        png, shortened = slide_png(spec, request.width, request.height, font_path=self.font_path)
        shows = spec.figure_label or ("title slide" if spec.kind == "title" else "slide")
        params: dict[str, object] = {
            "shows": shows,
            "text": [spec.header, *spec.phrases] if spec.kind == "points" else [],
        }
        if shortened:
            params["shortened"] = shortened
        return ImageResult(png=png, seed=request.seed, model=VERSION, params=params)


def slide_png(spec: SlideSpec, width: int, height: int, *, font_path: str | None = None) -> tuple[bytes, list[str]]:
    """The slide as PNG bytes, and the texts on it that had to be ellipsised."""
    image, shortened = draw_slide(spec, width, height, font_path=font_path)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), shortened


@dataclass
class _Canvas:
    image: Image.Image
    draw: ImageDraw.ImageDraw
    theme: Theme
    font_path: str | None
    shortened: list[str] = field(default_factory=list)  # texts that had to be ellipsised

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def unit(self) -> int:
        return min(self.image.width, self.image.height)

    @property
    def portrait(self) -> bool:
        return self.image.height > self.image.width

    def fit(self, text: str, *, width: int, height: int, size: float, min_size: float, **kw: Any) -> Fitted:
        fitted = fit_text(
            self.draw, text, width=width, height=height, size=round(self.unit * size),
            min_size=round(self.unit * min_size), font_path=self.font_path, **kw,
        )  # fmt: skip
        if fitted.cut:
            self.shortened.append(text)
        return fitted


def draw_slide(
    spec: SlideSpec, width: int, height: int, *, font_path: str | None = None
) -> tuple[Image.Image, list[str]]:
    """The slide, and the texts on it that had to be ellipsised to fit (the footer's title not counted)."""
    theme = theme_for(spec.theme)
    image = Image.new("RGB", (width, height), theme.background)
    canvas = _Canvas(image, ImageDraw.Draw(image), theme, font_path)
    unit = canvas.unit
    margin = round(unit * 0.08)
    # A thin accent rule along the top: the theme's signature, away from any text.
    canvas.draw.rectangle([0, 0, width, max(round(unit * 0.012), 2)], fill=theme.accent)
    footer_top = height - round(margin * 0.95)
    _footer(canvas, spec, margin)
    area = (margin, margin, width - margin, footer_top - round(margin * 0.35))
    if spec.picture and spec.kind in ("title", "points"):
        _beside(canvas, spec, area)
    elif spec.kind == "title":
        _title(canvas, spec, area)
    elif spec.kind == "figure" and spec.figure:
        _figure(canvas, spec, area)
    else:
        _points(canvas, spec, area)
    return image, canvas.shortened


def _footer(canvas: _Canvas, spec: SlideSpec, margin: int) -> None:
    """The short title at the left and the scene counter at the right; the title gives way, never the counter."""
    draw, theme = canvas.draw, canvas.theme
    size = max(round(canvas.unit * 0.028), 10)
    y = canvas.height - round(margin * 0.95) + round(size * 0.3)
    counter_width = 0
    if spec.counter:
        face = font(size, path=canvas.font_path)
        counter_width = round(draw.textlength(spec.counter, font=face))
        draw.text((canvas.width - margin - counter_width, y), spec.counter, font=face, fill=theme.muted)
    if spec.title and spec.kind != "title":
        room = canvas.width - 2 * margin - counter_width - (round(size * 1.5) if counter_width else 0)
        fitted = fit_text(
            draw, spec.title, width=room, height=size * 2, size=size, min_size=size, max_lines=1,
            font_path=canvas.font_path,
        )  # fmt: skip
        _draw_lines(draw, fitted, margin, y, theme.muted)


def _title(canvas: _Canvas, spec: SlideSpec, area: tuple[int, int, int, int]) -> None:
    draw, theme, unit = canvas.draw, canvas.theme, canvas.unit
    left, top, right, bottom = area
    width, height = right - left, bottom - top
    title = canvas.fit(
        spec.title, width=width, height=round(height * 0.62), size=0.085 if canvas.portrait else 0.1,
        min_size=0.04, bold=True, max_lines=6,
    )  # fmt: skip
    authors = (
        canvas.fit(spec.authors, width=width, height=round(height * 0.2), size=0.04, min_size=0.028, max_lines=3)
        if spec.authors
        else None
    )
    venue = (
        canvas.fit(spec.venue, width=width, height=round(unit * 0.06), size=0.032, min_size=0.024, max_lines=1)
        if spec.venue
        else None
    )
    gap = round(unit * 0.045)
    total = title.height + gap + (authors.height + gap if authors else 0) + (venue.height if venue else 0)
    y = top + max((height - total) // 2, 0)
    y = _draw_lines(draw, title, left, y, theme.text)
    rule = max(round(unit * 0.008), 2)
    draw.rectangle([left, y + gap // 3, left + round(unit * 0.12), y + gap // 3 + rule], fill=theme.accent)
    y += gap
    if authors:
        y = _draw_lines(draw, authors, left, y, theme.muted) + gap // 2
    if venue:
        _draw_lines(draw, venue, left, y, theme.accent)


def _points(canvas: _Canvas, spec: SlideSpec, area: tuple[int, int, int, int]) -> None:
    draw, theme, unit = canvas.draw, canvas.theme, canvas.unit
    left, top, right, bottom = area
    width = right - left
    y = top
    if spec.header and spec.phrases:
        header = canvas.fit(
            spec.header.upper() if len(spec.header) < 40 else spec.header, width=width, height=round(unit * 0.12),
            size=0.04, min_size=0.03, bold=True, max_lines=2,
        )  # fmt: skip
        y = _draw_lines(draw, header, left, y, theme.accent) + round(unit * 0.05)
    phrases = [p for p in spec.phrases if p.strip()][:3]
    if not phrases:
        # The section's name alone, large in the middle (a slide never repeats the footer's title as its point).
        if spec.header:
            alone = canvas.fit(spec.header, width=width, height=bottom - top, size=0.08, min_size=0.04, bold=True,
                               max_lines=3)  # fmt: skip
            _draw_lines(draw, alone, left, top + max((bottom - top - alone.height) // 2, 0), theme.text)
        return
    room = bottom - y
    bullet = round(unit * 0.018)
    indent = bullet * 3
    gap = round(unit * 0.05)
    # One size for every phrase: the largest at which all of them fit (equal weight, clear hierarchy).
    size = 0.075 if canvas.portrait else 0.07
    while True:
        fitted = [
            canvas.fit(p, width=width - indent, height=room, size=size, min_size=size, bold=True, max_lines=3)
            for p in phrases
        ]
        total = sum(f.height for f in fitted) + gap * (len(fitted) - 1)
        if total <= room or size <= 0.035:
            break
        size *= 0.92
    y += max((room - total) // 2, 0)
    for item in fitted:
        if y + item.height > bottom:
            break  # never drawn past the footer
        middle = y + item.line_height // 2
        draw.ellipse([left, middle - bullet // 2, left + bullet, middle + bullet // 2], fill=theme.accent)
        y = _draw_lines(draw, item, left + indent, y, theme.text) + gap


def _figure(canvas: _Canvas, spec: SlideSpec, area: tuple[int, int, int, int]) -> None:
    image, draw, theme, unit = canvas.image, canvas.draw, canvas.theme, canvas.unit
    left, top, right, bottom = area
    width = right - left
    label = canvas.fit(
        spec.figure_label, width=width, height=round(unit * 0.08), size=0.045, min_size=0.03, bold=True, max_lines=1
    )
    y = _draw_lines(draw, label, left, top, theme.accent)
    if spec.figure_caption:
        caption = canvas.fit(
            spec.figure_caption, width=width, height=round(unit * 0.1), size=0.032, min_size=0.026, max_lines=2
        )
        y = _draw_lines(draw, caption, left, y + round(unit * 0.01), theme.muted)
    y += round(unit * 0.03)
    try:
        picture = _picture(spec.figure)
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{spec.figure_label or 'The figure'} could not be read as an image: {exc}") from None
    _card(image, draw, picture, (left, y, right, bottom), pad=round(unit * 0.02))


def _beside(canvas: _Canvas, spec: SlideSpec, area: tuple[int, int, int, int]) -> None:
    """The slide's text on one half and the generated picture on the other: side by side in 16:9, the text
    above the picture in 9:16."""
    left, top, right, bottom = area
    gap = round(canvas.unit * 0.05)
    if canvas.portrait:
        split = top + round((bottom - top) * 0.42)
        text, box = (left, top, right, split - gap // 2), (left, split + gap // 2, right, bottom)
    else:
        split = left + round((right - left) * 0.5)
        text, box = (left, top, split - gap // 2, bottom), (split + gap // 2, top, right, bottom)
    try:
        picture = _picture(spec.picture)
    except (OSError, ValueError) as exc:
        raise PermanentError(f"The generated picture could not be read as an image: {exc}") from None
    picture = _scaled(picture, box[2] - box[0], box[3] - box[1])
    x = box[0] + (box[2] - box[0] - picture.width) // 2
    y = box[1] + (box[3] - box[1] - picture.height) // 2
    mask = Image.new("L", picture.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        [0, 0, picture.width - 1, picture.height - 1], radius=round(canvas.unit * 0.02), fill=255
    )
    canvas.image.paste(picture, (x, y), mask)
    (_title if spec.kind == "title" else _points)(canvas, spec, text)


def _picture(data: bytes) -> Image.Image:
    """The picture upright and in RGB, copied only where it must change (a big figure's copy costs ~10 ms)."""
    source: Image.Image = Image.open(io.BytesIO(data))
    source.load()
    if source.getexif().get(0x0112, 1) != 1:  # an EXIF orientation to apply
        source = ImageOps.exif_transpose(source)
    return source if source.mode == "RGB" else source.convert("RGB")


def _card(
    image: Image.Image, draw: ImageDraw.ImageDraw, picture: Image.Image, box: tuple[int, int, int, int], *, pad: int
) -> None:
    """The picture as large as `box` allows, centred on a white card (figures are drawn for paper)."""
    left, top, right, bottom = box
    if right - left - 2 * pad < 16 or bottom - top - 2 * pad < 16:
        return
    picture = _scaled(picture, right - left - 2 * pad, bottom - top - 2 * pad)
    x = left + (right - left - picture.width - 2 * pad) // 2
    y = top + (bottom - top - picture.height - 2 * pad) // 2
    draw.rounded_rectangle(
        [x, y, x + picture.width + 2 * pad, y + picture.height + 2 * pad], radius=pad, fill=(255, 255, 255)
    )
    image.paste(picture, (x + pad, y + pad))


def _scaled(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The picture as large as fits in width x height; a big one is first reduced by an integer factor
    (fast box filter), then resampled (a 1080p figure slide stays well under 100 ms)."""
    scale = min(width / picture.width, height / picture.height)
    factor = int(1 / scale) if scale < 0.5 else 1
    if factor > 1:
        picture = picture.reduce(factor)
    size = (max(round(picture.width * scale * factor), 1), max(round(picture.height * scale * factor), 1))
    return picture.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def short_title(title: str, max_words: int = 7) -> str:
    """A title as a thumbnail says it: the name before a colon ("S2ORC"), else its first words."""
    found = re.match(r"^(.+?)(:|\?)\s", title + " ")
    if found and 1 <= len(found.group(1).split()) <= max_words:
        return found.group(1).strip() + ("?" if found.group(2) == "?" else "")
    words = title.split()
    return " ".join(words[:max_words]) + (ELLIPSIS if len(words) > max_words else "")


def render_thumbnail(
    title: str,
    theme_key: str,
    figure: bytes = b"",
    *,
    size: tuple[int, int] = (1280, 720),
    font_path: str | None = None,
) -> Image.Image:
    """A thumbnail: the paper's short title large on the theme's background and, when given, the paper's
    figure on a card beside it (never under the text). Readable at 320x180."""
    width, height = size
    theme = theme_for(theme_key)
    image = Image.new("RGB", size, theme.background)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width, round(height * 0.02)], fill=theme.accent)
    margin = round(height * 0.08)
    text_right = width - margin
    if figure:
        try:
            picture = _picture(figure)
        except (OSError, ValueError):
            picture = None  # a figure that cannot be read: the title alone
        if picture is not None:
            box = (round(width * 0.5), margin, width - margin, height - margin)
            _card(image, draw, picture, box, pad=round(height * 0.02))
            text_right = round(width * 0.5) - margin // 2
    words = short_title(title)
    fitted_title = fit_text(
        draw, words, width=text_right - margin, height=height - 2 * margin, size=round(height * 0.16),
        min_size=round(height * 0.075), bold=True, max_lines=4, font_path=font_path,
    )  # fmt: skip
    y = (height - fitted_title.height) // 2
    end = _draw_lines(draw, fitted_title, margin, y, theme.text)
    draw.rectangle([margin, end + round(height * 0.02), margin + round(height * 0.18), end + round(height * 0.035)],
                   fill=theme.accent)  # fmt: skip
    return image
