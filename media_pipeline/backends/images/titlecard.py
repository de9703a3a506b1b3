"""The built-in renderer: the scene's summary set in large type over a background drawn from the prompt.

Offline, deterministic (same prompt, text and seed -> same bytes) and readable at YouTube sizes, in
landscape (16:9) and portrait (9:16, Shorts) alike.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.base import ImageRequest, ImageResult, LocalRenderer

VERSION = "titlecard-1"
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_font(path: str | None, size: int) -> FontType:
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError as exc:
            raise PermanentError(f"The font {path!r} (PAPERCAST_FONT) could not be loaded: {exc}") from exc
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    # Pillow ships a scalable font of its own (needs FreeType, which its wheels include).
    return ImageFont.load_default(size=size)


def _palette(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    hue = digest[0] / 255.0
    spread = 0.08 + digest[1] / 255.0 * 0.25

    def rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return round(r * 255), round(g * 255), round(b * 255)

    # Dark, saturated enough to tell scenes apart, and always dark enough for white type.
    return rgb(hue, 0.65, 0.42), rgb(hue + spread, 0.75, 0.22), rgb(hue + 0.5, 0.5, 0.85)


def wrap_text(draw: ImageDraw.ImageDraw, text: str, font: FontType, max_width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= max_width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


class TitleCardRenderer(LocalRenderer):
    name = "titlecard"
    version = VERSION

    def generate(self, request: ImageRequest) -> ImageResult:
        width, height = request.width, request.height
        top, bottom, accent = _palette(request.prompt)
        image = Image.new("RGB", (width, height), top)
        draw = ImageDraw.Draw(image)
        for y in range(height):
            t = y / max(height - 1, 1)
            shade = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
            draw.line([(0, y), (width, y)], fill=shade)
        shapes = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        shape_draw = ImageDraw.Draw(shapes)
        rng = random.Random(request.seed)
        unit = min(width, height)
        for _ in range(7):
            radius = rng.uniform(0.08, 0.35) * unit
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            shape_draw.ellipse(
                [cx - radius, cy - radius, cx + radius, cy + radius], fill=(*accent, rng.randint(18, 45))
            )
        image = Image.alpha_composite(image.convert("RGBA"), shapes.filter(ImageFilter.GaussianBlur(unit / 40)))
        draw = ImageDraw.Draw(image)

        margin = round(width * 0.09)
        headline = request.headline.strip() or request.prompt.strip()
        size = round(unit * 0.075)
        font = load_font(self.font_path, size)
        lines = wrap_text(draw, headline, font, width - 2 * margin)
        # Shrink until the text fits in 70 % of the height.
        while size > 14 and len(lines) * size * 1.3 > height * 0.7:
            size = round(size * 0.9)
            font = load_font(self.font_path, size)
            lines = wrap_text(draw, headline, font, width - 2 * margin)
        line_height = round(size * 1.3)
        y = (height - line_height * len(lines)) // 2
        for line in lines:
            text_width = draw.textlength(line, font=font)
            x = (width - text_width) / 2
            draw.text((x + size * 0.04, y + size * 0.05), line, font=font, fill=(0, 0, 0, 140))
            draw.text((x, y), line, font=font, fill=(255, 255, 255, 255))
            y += line_height
        if request.caption:
            small = load_font(self.font_path, max(round(unit * 0.03), 10))
            draw.text((margin, height - margin * 0.6), request.caption, font=small, fill=(235, 235, 235, 220))

        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", optimize=False)
        return ImageResult(
            png=buffer.getvalue(), seed=request.seed, model=VERSION, params={"font": self.font_path or ""}
        )
