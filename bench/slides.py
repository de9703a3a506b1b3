"""Slide drawing speed: the slides image backend's three kinds, landscape and portrait.

Usage: python bench/slides.py [--reps 20] [--figure FIGURE.png] [--font FONT.ttf]
       python bench/slides.py --corpus DIR [--reps 3]
Draws a title slide, a points slide and a figure slide with media_pipeline.backends.images.slides.draw_slide
at 1920x1080 and 1080x1920, --reps times each in this one process, and prints the median (and the first,
cold-cache) milliseconds of: the drawing alone; the PNG encoding as SlideRenderer.generate does it (Pillow,
compress_level=1); and the whole SlideRenderer.generate call (drawing, encoding and params). The figure slide
shows FIGURE (any PNG or JPEG), else a generated 2400x1300 chart-like PNG. Django is set up on a fresh
temporary data dir (the backend's modules import the models); nothing is stored.

--corpus DIR reads every PDF in DIR as the extract stage does (read_pdf, build_document, cut_figures) and
times SlideRenderer.generate of a 1920x1080 figure slide for each figure and table it cuts out (the best of
--reps, default 3, so a page-cache miss does not count): the median, 90th percentile and slowest, how many
take 100 ms or more, and the five slowest with their pixel size and bytes.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchsetup import fresh_django

SIZES = ((1920, 1080), (1080, 1920))


def chart_png(width: int = 2400, height: int = 1300) -> bytes:
    """A figure as papers have them: white, axes, bars, a line plot, labels and a legend, with some detail."""
    import math

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    face: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 34)
    except OSError:
        face = ImageFont.load_default(size=34)
    half = width // 2
    for left in (0, half):  # two panels, (a) bars and (b) lines
        x0, y0, x1, y1 = left + 140, 80, left + half - 60, height - 160
        draw.line([x0, y1, x1, y1], fill=(0, 0, 0), width=4)
        draw.line([x0, y0, x0, y1], fill=(0, 0, 0), width=4)
        for k in range(6):
            y = y1 - k * (y1 - y0) // 5
            draw.line([x0 - 12, y, x0, y], fill=(0, 0, 0), width=3)
            draw.text((x0 - 100, y - 20), f"{k * 20}", font=face, fill=(0, 0, 0))
            draw.line([x0, y, x1, y], fill=(225, 225, 225), width=1)
        draw.text((left + half // 2 - 40, height - 90), "(a)" if left == 0 else "(b)", font=face, fill=(0, 0, 0))
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    for i in range(8):  # bars
        for j, colour in enumerate(colours[:3]):
            value = 0.2 + 0.7 * abs(math.sin(i * 1.3 + j))
            x = 180 + i * 125 + j * 36
            draw.rectangle([x, round(height - 160 - value * (height - 240)), x + 32, height - 160], fill=colour)
    for j, colour in enumerate(colours):  # lines
        points = [
            (half + 140 + t * 6, round(height - 160 - (0.15 + 0.6 * (1 - math.exp(-t / (30 + 25 * j)))) * 1000))
            for t in range(0, 171)
        ]
        draw.line(points, fill=colour, width=5)
        draw.rectangle([width - 420, 110 + j * 50, width - 380, 140 + j * 50], fill=colour)
        draw.text((width - 360, 105 + j * 50), f"model {j + 1}", font=face, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def specs(figure: bytes) -> dict[str, Any]:
    from media_pipeline.backends.images.base import SlideSpec

    title = "S2ORC: The Semantic Scholar Open Research Corpus"
    theme = "project:1"
    return {
        "title": SlideSpec(
            kind="title",
            title=title,
            authors="Kyle Lo, Lucy Lu Wang, Mark Neumann, Rodney Kinney, Daniel S. Weld",
            venue="ACL 2020",
            theme=theme,
            counter="1/12",
        ),
        "points": SlideSpec(
            kind="points",
            title=title,
            header="Constructing S2ORC",
            phrases=(
                "81.1M English-language academic papers",
                "full text parsed from 8.1M open-access PDFs",
                "citations linked to their referenced papers",
            ),
            theme=theme,
            counter="4/12",
        ),
        "figure": SlideSpec(
            kind="figure",
            title=title,
            header="Evaluation",
            figure_label="Figure 3",
            figure_caption="Citation contexts per paper, by field of study and by year of publication",
            figure_sha256="bench",
            figure=figure,
            theme=theme,
            counter="7/12",
        ),
    }


def timed(function: Callable[[], Any], reps: int) -> tuple[float, float, Any]:
    """The first call's and the median call's milliseconds, and the last result."""
    times = []
    result = None
    for _ in range(reps):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20, help="repetitions per slide and size (default 20)")
    parser.add_argument("--figure", type=Path, help="the figure slide's picture (default: a generated 2400x1300 PNG)")
    parser.add_argument("--font", help="a TrueType font for every text (as PAPERCAST_FONT); default: the built-ins")
    parser.add_argument("--corpus", type=Path, help="time a figure slide for every figure cut from these PDFs")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.corpus:
        return corpus(args.corpus, args.reps if "--reps" in sys.argv else 3)

    data_dir = fresh_django("papercast-bench-slides-")
    try:
        from media_pipeline.backends.images.base import ImageRequest
        from media_pipeline.backends.images.slides import SlideRenderer, draw_slide

        figure = args.figure.read_bytes() if args.figure else chart_png()
        source = str(args.figure) if args.figure else "generated 2400x1300 PNG"
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; one process")
        print(f"figure: {source}, {len(figure)} bytes; {args.reps} repetitions; font: {args.font or 'built-in'}")
        renderer = SlideRenderer(font_path=args.font)
        print(f"\n{'slide':<8}{'size':>11}{'draw ms':>9}{'(first)':>9}{'PNG ms':>8}{'generate ms':>13}", end="")
        print(f"{'PNG KB':>8}  shortened")
        for kind, spec in specs(figure).items():
            for width, height in SIZES:
                draw_first, draw_ms, (image, shortened) = timed(
                    functools.partial(draw_slide, spec, width, height, font_path=args.font), args.reps
                )

                def encode(picture: Any = image) -> bytes:
                    buffer = io.BytesIO()
                    picture.save(buffer, format="PNG", compress_level=1)  # as SlideRenderer.generate saves it
                    return buffer.getvalue()

                _, encode_ms, png = timed(encode, args.reps)
                request = ImageRequest(prompt="", negative_prompt="", width=width, height=height, seed=0, slide=spec)
                _, generate_ms, _ = timed(functools.partial(renderer.generate, request), args.reps)
                print(
                    f"{kind:<8}{f'{width}x{height}':>11}{draw_ms:>9.1f}{draw_first:>9.1f}{encode_ms:>8.1f}"
                    f"{generate_ms:>13.1f}{len(png) / 1024:>8.0f}  {len(shortened)}"
                )
        print(
            "\ndraw: draw_slide alone; PNG: Image.save(PNG, compress_level=1) of the drawn slide; generate: "
            "SlideRenderer.generate (draw + PNG + params). Medians; (first): the first draw, its font sizes not "
            "yet cached."
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def corpus(folder: Path, reps: int) -> int:
    """Figure slides for the figures and tables of real papers."""
    import tempfile

    data_dir = fresh_django("papercast-bench-slides-")
    try:
        from media_pipeline.backends.images.base import ImageRequest, SlideSpec
        from media_pipeline.backends.images.slides import SlideRenderer
        from media_pipeline.backends.pdf import read_pdf
        from media_pipeline.stages import extract
        from media_pipeline.stages.document import build_document

        renderer = SlideRenderer()
        rows: list[tuple[float, str, str, int, int, int]] = []
        for pdf in sorted(folder.glob("*.pdf")):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp)
                document = build_document(read_pdf(pdf, out))
                extract.cut_figures(pdf, out, document)
                for region in [*document.figures, *document.tables]:
                    data = (out / region.file).read_bytes()
                    spec = SlideSpec(
                        "figure", title="S2ORC", header="Results", figure_label=region.label or "Figure",
                        figure_caption=region.caption[:120], figure=data, theme="project:1", counter="7/12",
                    )  # fmt: skip
                    request = ImageRequest(prompt="", negative_prompt="", width=1920, height=1080, seed=0, slide=spec)
                    _, _, _ = timed(functools.partial(renderer.generate, request), 1)  # warm the fonts
                    best = min(timed(functools.partial(renderer.generate, request), 1)[1] for _ in range(reps))
                    rows.append((best, pdf.stem, region.label, region.width, region.height, len(data)))
        if not rows:
            print(f"no figures or tables cut from the PDFs in {folder}")
            return 1
        times = sorted(r[0] for r in rows)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; one process")
        print(f"{len(rows)} figure slides (1920x1080) from {len({r[1] for r in rows})} papers, best of {reps}")
        print(
            f"median {statistics.median(times):.1f} ms, 90th percentile {times[int(len(times) * 0.9)]:.1f} ms, "
            f"slowest {times[-1]:.1f} ms; {sum(t >= 100 for t in times)} of {len(times)} at 100 ms or more"
        )
        for best, paper, label, width, height, size in sorted(rows, reverse=True)[:5]:
            print(f"  {best:7.1f} ms  {paper}  {label or '(unlabelled)'}  {width}x{height}  {size / 1024:.0f} KB")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
