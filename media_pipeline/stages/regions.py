"""Where each captioned figure and table sits on its page, so it can be cut out as a picture.

A figure is what is drawn (lines, curves, embedded images and plots, the text inside them) between its
caption and the nearest prose of the same column: above the caption for figures, below it for tables (and
the other way round when nothing is there). The region covers everything drawn there, so a photo inside a
larger drawn figure is never taken for the whole figure. Pure functions over the reader's page data; boxes
are PDF points, origin bottom-left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Box = list[float]
PAD = 4.0
MIN_SIDE = 24.0


@dataclass(frozen=True)
class Caption:
    kind: str  # figure | table
    number: int
    text: str
    page: int
    box: Box


@dataclass
class Region:
    caption: Caption
    box: Box
    kind: str  # raster | drawn | table
    file: str
    size: tuple[int, int] = (0, 0)  # known when the file is the embedded picture itself; else set once cut

    def holds(self, page: int, box: Box) -> bool:
        if page != self.caption.page:
            return False
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return self.box[0] <= x <= self.box[2] and self.box[1] <= y <= self.box[3]


def _column(caption: Box, width: float, x0: float) -> tuple[float, float]:
    """The horizontal band a caption's figure lives in: the whole page for a wide or centred caption, else
    the caption's column."""
    middle = x0 + width / 2
    if caption[2] - caption[0] > width * 0.55 or caption[0] < middle - 20 < middle + 20 < caption[2]:
        return x0, x0 + width
    return (x0, middle) if (caption[0] + caption[2]) / 2 < middle else (middle, x0 + width)


def _overlaps(box: Box, left: float, right: float) -> bool:
    return min(box[2], right) - max(box[0], left) > 0.3 * min(box[2] - box[0], right - left) or (
        left <= (box[0] + box[2]) / 2 <= right
    )


def _band(
    caption: Caption, barriers: list[Box], span: tuple[float, float], top: float, up: bool
) -> tuple[float, float]:
    """The vertical band between the caption and the nearest barrier (prose, another caption) that way."""
    left, right = span
    if up:
        limits = [b[1] for b in barriers if b[1] >= caption.box[3] - 1 and _overlaps(b, left, right)]
        return caption.box[3], min(limits, default=top)
    limits = [b[3] for b in barriers if b[3] <= caption.box[1] + 1 and _overlaps(b, left, right)]
    return max(limits, default=0.0), caption.box[1]


def _region(
    caption: Caption, page: dict[str, Any], texts: list[tuple[Box, bool]], captions: list[Caption], up: bool
) -> Box | None:
    width, height = float(page["size"][0]), float(page["size"][1])
    x0, y0 = (float(v) for v in page.get("origin", [0.0, 0.0]))
    left, right = _column(caption.box, width, x0)
    barriers = [box for box, prose in texts if prose] + [c.box for c in captions if c is not caption]
    low, high = _band(caption, barriers, (left, right), y0 + height, up)
    drawn = [*page.get("graphics", []), *[i["box"] for i in page.get("images", [])]]
    drawn += [box for box, prose in texts if not prose]
    inside = [
        b
        for b in drawn
        if _overlaps(b, left, right) and low - 2 <= (b[1] + b[3]) / 2 <= high + 2 and b[3] - b[1] < height * 0.9
    ]
    if not inside:
        return None
    box = [min(b[0] for b in inside), min(b[1] for b in inside), max(b[2] for b in inside), max(b[3] for b in inside)]
    box = [max(box[0] - PAD, x0), max(box[1] - PAD, y0), min(box[2] + PAD, x0 + width), min(box[3] + PAD, y0 + height)]
    # Never past the caption or the barrier: a picture placed larger than it shows (clipped in the PDF) would
    # otherwise bring its caption and the next paragraph into the cut.
    box[1], box[3] = max(box[1], low), min(box[3], high)
    if box[2] - box[0] < MIN_SIDE or box[3] - box[1] < MIN_SIDE:
        return None
    return [round(v, 1) for v in box]


def _rules(caption: Caption, page: dict[str, Any], captions: list[Caption], up: bool) -> list[Box] | None:
    """The run of horizontal rules (booktabs, grids) that starts at a table's caption, going up or down."""
    width = float(page["size"][0])
    x0 = float(page.get("origin", [0.0, 0.0])[0])
    left, right = _column(caption.box, width, x0)
    rules = [
        g for g in page.get("graphics", []) if g[3] - g[1] <= 3 and g[2] - g[0] >= 40 and _overlaps(g, left, right)
    ]
    stops = [c.box for c in captions if c is not caption]
    if up:
        rules = sorted((r for r in rules if r[1] >= caption.box[3] - 2), key=lambda r: r[1])
        edge = caption.box[3]
    else:
        rules = sorted((r for r in rules if r[3] <= caption.box[1] + 2), key=lambda r: -r[3])
        edge = caption.box[1]
    run: list[Box] = []
    for rule in rules:
        gap = abs((rule[1] if up else rule[3]) - (run[-1][1] if run else edge))
        crossed = any(min(rule[1], edge) < s[1] < max(rule[3], edge) for s in stops)
        if gap > (40 if not run else 320) or crossed:
            break
        run.append(rule)
    if len(run) < 2:
        return None
    return run


def _ruled_box(run: list[Box], texts: list[tuple[Box, bool]], span: tuple[float, float]) -> Box | None:
    left, right = span
    low, high = min(r[1] for r in run), max(r[3] for r in run)
    box = [min(r[0] for r in run), low, max(r[2] for r in run), high]
    for text, _ in texts:
        if low - 1 <= (text[1] + text[3]) / 2 <= high + 1 and _overlaps(text, left, right):
            box = [min(box[0], text[0]), box[1], max(box[2], text[2]), box[3]]
    box = [box[0] - PAD, box[1] - PAD, box[2] + PAD, box[3] + PAD]
    return [round(v, 1) for v in box] if box[3] - box[1] >= MIN_SIDE else None


def _ruled(
    caption: Caption, page: dict[str, Any], texts: list[tuple[Box, bool]], captions: list[Caption]
) -> Box | None:
    """A table set between horizontal rules: the run that starts closest to its caption (above or below),
    with the text between the rules, even where the cells hold whole sentences."""
    runs = [run for up in (False, True) if (run := _rules(caption, page, captions, up))]
    if not runs:
        return None

    def distance(run: list[Box]) -> float:
        return min(abs(run[0][1] - caption.box[3]), abs(caption.box[1] - run[0][3]))

    width, x0 = float(page["size"][0]), float(page.get("origin", [0.0, 0.0])[0])
    return _ruled_box(min(runs, key=distance), texts, _column(caption.box, width, x0))


def _raster(box: Box, page: dict[str, Any]) -> dict[str, Any] | None:
    """The embedded picture that is the whole figure, if one is (then its own pixels are used, unresampled)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    for image in page.get("images", []):
        b = image["box"]
        shared = max(0.0, min(b[2], box[2]) - max(b[0], box[0])) * max(0.0, min(b[3], box[3]) - max(b[1], box[1]))
        # The picture's own pixels only when they are the figure: not a picture placed much larger than the
        # region (clipped in the PDF), whose hidden parts would show.
        if shared >= 0.8 * area and (b[2] - b[0]) * (b[3] - b[1]) <= 1.25 * area:
            return dict(image)
    return None


def find_regions(
    pages: list[dict[str, Any]], captions: list[Caption], texts: list[tuple[int, Box, bool]]
) -> list[Region]:
    """One region per caption that has something drawn beside it; captions without one are left out."""
    by_number = {int(p["number"]): p for p in pages}
    regions: list[Region] = []
    for caption in captions:
        page = by_number.get(caption.page)
        if page is None:
            continue
        on_page = [(box, prose) for number, box, prose in texts if number == caption.page and box != caption.box]
        same_page = [c for c in captions if c.page == caption.page]
        first_up = caption.kind == "figure"
        box = None
        if caption.kind == "table":
            box = _ruled(caption, page, on_page, same_page)
        box = (
            box
            or _region(caption, page, on_page, same_page, first_up)
            or _region(caption, page, on_page, same_page, not first_up)
        )
        if box is None:
            continue
        picture = _raster(box, page) if caption.kind == "figure" else None
        kind = "table" if caption.kind == "table" else "raster" if picture else "drawn"
        region = Region(caption, box, kind, f"{caption.kind}-{caption.number:03d}.png")
        if picture and picture.get("file"):
            region.file, region.size = str(picture["file"]), (int(picture["width"]), int(picture["height"]))
        regions.append(region)
    return regions
