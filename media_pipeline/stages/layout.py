"""The text of a paper's pages as blocks a reader takes in order: lines cleaned (ligatures, accents, glyph
codes, small caps), pieces of one printed line joined, a section number joined to its title, a heading split
from the text under it, running heads and page numbers left out, columns read left then right.

Pure functions over what media_pipeline.backends.pdf read; document.py builds the paper's structure on them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from media_pipeline.stages.pdftext import MARK, cid_letters, clean_line, join_lines, join_small_caps

_BARE_NUMBER = re.compile(r"(\d{1,2}(\.\d{1,2})*|[A-H](\.\d{1,2})*|[IVX]{1,5})\.?")


@dataclass
class Line:
    text: str
    size: float
    bold: bool
    page: int
    box: list[float]
    font: str = ""


@dataclass
class Block:
    lines: list[Line]
    page: int
    box: list[float]
    in_figure: bool = False
    words: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return join_lines([line.text for line in self.lines], self.words)

    @property
    def size(self) -> float:
        return max(line.size for line in self.lines)

    @property
    def bold(self) -> bool:
        return all(line.bold for line in self.lines)


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _running_lines(pages: list[dict[str, Any]]) -> set[str]:
    """Lines printed near the top or bottom of most pages: running heads, footers, page numbers."""
    if len(pages) < 3:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        height = page["size"][1] or 792.0
        shapes = set()
        for box in page["boxes"]:
            for line in box["lines"]:
                y = line["box"][1] - page.get("origin", [0, 0])[1]
                if y < height * 0.1 or y > height * 0.88:
                    shapes.add(_shape(line["text"]))
        seen.update(shapes)
    return {shape for shape, count in seen.items() if count >= max(2, len(pages) // 2)}


def _rows(lines: list[Line]) -> list[Line]:
    """A box's lines top to bottom, pieces of one printed line (split at a wide justified gap) joined left to
    right; a bare section number and its title stay apart for _merge_numbers."""
    ordered = sorted(lines, key=lambda line: (-line.box[1], line.box[0]))
    rows: list[Line] = []
    for line in ordered:
        last = rows[-1] if rows else None
        if last is not None and abs(last.box[1] - line.box[1]) < 1.5 and not _BARE_NUMBER.fullmatch(last.text):
            left, right = (last, line) if last.box[0] <= line.box[0] else (line, last)
            box = [left.box[0], min(left.box[1], right.box[1]), right.box[2], max(left.box[3], right.box[3])]
            rows[-1] = Line(f"{left.text} {right.text}", max(left.size, right.size), left.bold and right.bold,
                             left.page, box, left.font)  # fmt: skip
            continue
        rows.append(line)
    return rows


def _number_before(previous: Line | None, line: Line) -> bool:
    return (
        previous is not None
        and bool(_BARE_NUMBER.fullmatch(previous.text))
        and abs(previous.box[1] - line.box[1]) < 2
        and 0 < line.box[0] - previous.box[2] < 40
    )


def _merge_numbers(lines: list[Line]) -> list[Line]:
    """A section number set apart from its title on the same baseline ("1" ... "Introduction") as one line."""
    merged: list[Line] = []
    for line in lines:
        previous = merged[-1] if merged else None
        if previous is not None and _number_before(previous, line):
            merged[-1] = Line(f"{previous.text} {line.text}", max(previous.size, line.size), line.bold, line.page,
                               [previous.box[0], line.box[1], line.box[2], line.box[3]], line.font)  # fmt: skip
            continue
        merged.append(line)
    return merged


def _split_by_style(block: Block) -> list[Block]:
    """A box whose first line is set apart (a bold or larger heading, "Abstract") split from the text below."""
    lines = block.lines
    if len(lines) < 2:
        return [block]
    first, rest = lines[0], lines[1:]
    body_size = max(line.size for line in rest)
    # A bold lead-in that fills the line ("Partial annotation has a high correlation to ...") is no heading.
    short = (first.box[2] - first.box[0]) < 0.8 * max(line.box[2] - line.box[0] for line in rest)
    apart = (first.bold and short and not all(line.bold for line in rest)) or first.size > body_size * 1.1
    if apart and len(first.text) <= 90 and not first.text.endswith((".", ",")):
        head = Block([first], block.page, first.box, block.in_figure, block.words)
        return [head, Block(rest, block.page, block.box, block.in_figure, block.words)]
    return [block]


def _reading_order(boxes: list[dict[str, Any]], width: float, x0: float) -> list[dict[str, Any]]:
    """The page's boxes as a reader takes them: what spans the page cuts it into bands; within a band, the
    left column top to bottom, then the right one."""
    middle = x0 + width / 2

    def side(box: list[float]) -> int:
        if box[2] <= middle + 10:
            return 0
        if box[0] >= middle - 10:
            return 1
        return -1  # spans both columns

    if not any(side(b["box"]) == 1 for b in boxes) or not any(side(b["box"]) == 0 for b in boxes):
        return sorted(boxes, key=lambda b: (-b["box"][3], b["box"][0]))  # one column
    spanning = sorted((b for b in boxes if side(b["box"]) == -1), key=lambda b: -b["box"][3])
    columns = [b for b in boxes if side(b["box"]) != -1]
    ordered: list[dict[str, Any]] = []
    placed: set[int] = set()

    def beside(box: list[float], cut: list[float]) -> bool:  # on the same row as a box spanning the page
        shared = min(box[3], cut[3]) - max(box[1], cut[1])
        return shared > 0.5 * min(box[3] - box[1], cut[3] - cut[1])

    ceiling = float("inf")
    for cut in [*spanning, None]:
        floor = cut["box"][3] if cut is not None else float("-inf")
        band = [
            b for b in columns
            if id(b) not in placed and floor - 2 < (b["box"][1] + b["box"][3]) / 2 <= ceiling
            and not (cut is not None and beside(b["box"], cut["box"]))
        ]  # fmt: skip
        row = [cut, *(b for b in columns if id(b) not in placed and beside(b["box"], cut["box"]))] if cut else []
        for item in [
            *sorted(band, key=lambda b: (side(b["box"]), -b["box"][3])),
            *sorted(row, key=lambda b: b["box"][0]),
        ]:
            if id(item) not in placed:
                ordered.append(item)
                placed.add(id(item))
        if cut is not None:
            ceiling = min(b["box"][1] for b in row)
    return ordered + [b for b in boxes if id(b) not in placed]


def read_blocks(pages: list[dict[str, Any]], words: set[str]) -> tuple[list[Block], list[Block]]:
    """The page's text blocks in reading order, and the ones drawn inside figures (kept apart)."""
    running = _running_lines(pages)
    cids = cid_letters(line["text"] for page in pages for box in page["boxes"] for line in box["lines"])
    blocks: list[Block] = []
    inside: list[Block] = []
    for page in pages:
        height = page["size"][1] or 792.0
        origin_x, origin_y = page.get("origin", [0, 0])
        for box in _reading_order(page["boxes"], float(page["size"][0]), float(origin_x)):
            lines = []
            for raw in box["lines"]:
                text = join_small_caps(clean_line(raw["text"], cids))
                y = raw["box"][1] - origin_y
                margin = y < height * 0.1 or y > height * 0.88
                if not text.replace(MARK, "").strip() or (margin and (_shape(text) in running or text.isdigit())):
                    continue
                lines.append(Line(text, float(raw["size"]), bool(raw["bold"]), int(page["number"]), raw["box"],
                                   str(raw.get("font", ""))))  # fmt: skip
            if not lines:
                continue
            block = Block(
                _merge_numbers(_rows(lines)), int(page["number"]), box["box"], bool(box.get("in_figure")), words
            )
            target = inside if block.in_figure else blocks
            last = target[-1] if target and target[-1].page == block.page and len(target[-1].lines) == 1 else None
            if last is not None and _number_before(last.lines[0], block.lines[0]):
                # "1" and "Introduction" in boxes of their own, side by side.
                block.lines[0] = _merge_numbers([last.lines[0], block.lines[0]])[0]
                block.box = [last.box[0], *block.box[1:]]
                target.pop()
            target.extend(_split_by_style(block))
    return blocks, inside


def body_style(blocks: list[Block]) -> tuple[float, str]:
    sizes: Counter[float] = Counter()
    fonts: Counter[str] = Counter()
    for block in blocks:
        for line in block.lines:
            sizes[round(line.size)] += len(line.text)
            fonts[line.font] += len(line.text)
    size = float(sizes.most_common(1)[0][0]) if sizes else 10.0
    return size, fonts.most_common(1)[0][0] if fonts else ""
