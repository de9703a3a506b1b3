"""A paper's structure from the text lines and images of its PDF pages: title, authors, abstract, sections
with their paragraphs (each with the pages it is printed on) and figures with their captions.

Pure functions over what media_pipeline.backends.pdf read. The reading is heuristic, the way a person skims
a paper: the body text is the most common font size; a short line in a larger or bold font that does not
end like a sentence is a heading; "Abstract" opens the abstract; "Figure 3: ..." under an image is its
caption; lines repeated at the top or bottom of most pages are running heads and page numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.?|FIGURE|FIG\.?)\s*(\d+)\s*[.:|—–-]?\s*(.*)$", re.DOTALL)
_TABLE_CAPTION = re.compile(r"^\s*(?:Table|TABLE)\s*\d+\s*[.:|]")
_NUMBERED = re.compile(r"^(?:(\d+(?:\.\d+)*)\.?|([IVX]+)\.|([A-H])(?:\.\d+)*\.?)\s+(?=\S)")
_ABSTRACT = re.compile(r"^\s*abstract\b[\s.:—–-]*", re.IGNORECASE)
_KNOWN_HEADINGS = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?\s+)?(abstract|introduction|background|related work|method(?:s|ology)?|approach|"
    r"experiments?|results?|evaluation|discussion|conclusions?|limitations|future work|references|"
    r"bibliography|acknowledge?ments?|appendix.*|materials and methods|summary)\s*$",
    re.IGNORECASE,
)
SKIPPED_SECTIONS = re.compile(r"^(?:\d+\.?\s*)?(references|bibliography|acknowledge?ments?|appendix)", re.IGNORECASE)


@dataclass
class Paragraph:
    text: str
    pages: list[int]


@dataclass
class Section:
    title: str
    level: int
    paragraphs: list[Paragraph] = field(default_factory=list)


@dataclass
class FigureInfo:
    number: int
    caption: str
    page: int
    file: str
    width: int
    height: int

    @property
    def label(self) -> str:
        return f"Figure {self.number}"


@dataclass
class Document:
    title: str
    authors: list[str]
    abstract: str
    page_count: int
    sections: list[Section]
    figures: list[FigureInfo]

    @property
    def characters(self) -> int:
        return sum(len(p.text) for s in self.sections for p in s.paragraphs) + len(self.abstract)


@dataclass
class _Line:
    text: str
    size: float
    bold: bool
    page: int
    box: list[float]


@dataclass
class _Block:
    lines: list[_Line]
    page: int
    box: list[float]

    @property
    def text(self) -> str:
        return join_lines([line.text for line in self.lines])


def join_lines(lines: list[str]) -> str:
    """Lines of a paragraph as one text: hyphenated words at line ends put back together."""
    text = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return " ".join(text.split())


def _body_size(lines: list[_Line]) -> float:
    weights: Counter[float] = Counter()
    for line in lines:
        weights[round(line.size)] += len(line.text)
    return float(weights.most_common(1)[0][0]) if weights else 10.0


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
                y = line["box"][1]
                if y < height * 0.08 or y > height * 0.92:
                    shapes.add(_shape(line["text"]))
        seen.update(shapes)
    return {shape for shape, count in seen.items() if count >= max(2, len(pages) // 2)}


def _blocks(pages: list[dict[str, Any]]) -> list[_Block]:
    running = _running_lines(pages)
    blocks = []
    for page in pages:
        height = page["size"][1] or 792.0
        for box in page["boxes"]:
            lines = []
            for raw in box["lines"]:
                text = raw["text"].strip()
                y = raw["box"][1]
                margin = y < height * 0.08 or y > height * 0.92
                if margin and (_shape(text) in running or text.isdigit()):
                    continue
                lines.append(_Line(text, float(raw["size"]), bool(raw["bold"]), int(page["number"]), raw["box"]))
            if lines:
                blocks.append(_Block(lines, int(page["number"]), box["box"]))
    return blocks


def _is_heading(block: _Block, body: float) -> bool:
    text = block.text
    if len(block.lines) > 2 or not 2 <= len(text) <= 90 or _CAPTION.match(text) or _TABLE_CAPTION.match(text):
        return False
    if _KNOWN_HEADINGS.match(text):
        return True
    if text[-1] in ".,;:" or sum(c.isalpha() for c in text) < 3:
        return False
    size = max(line.size for line in block.lines)
    larger = size >= body * 1.12
    bold = all(line.bold for line in block.lines)
    numbered = bool(_NUMBERED.match(text)) and text[: text.find(" ")].rstrip(".").replace(".", "").isalnum()
    return (larger or bold) and (numbered or text[0].isupper()) and len(text.split()) <= 12


def _level(title: str) -> int:
    match = _NUMBERED.match(title)
    if match and match.group(1):
        return match.group(1).count(".") + 1
    return 1


def _split_authors(text: str) -> list[str]:
    text = re.sub(r"[\d*†‡§¶∗,]+(?=\s|$|,)", ",", text)
    parts = re.split(r",|;|\band\b|&", text)
    names = [" ".join(p.split()) for p in parts]
    return [n for n in names if 1 <= len(n.split()) <= 5 and sum(c.isalpha() for c in n) >= 3][:30]


def _title_and_authors(blocks: list[_Block], info: dict[str, str], body: float) -> tuple[str, list[str], int]:
    """Title, authors, and how many of the first blocks they took."""
    first_page = [b for b in blocks if b.page == blocks[0].page] if blocks else []
    title_text = info.get("title", "").strip()
    used = 0
    if first_page:
        top = max(first_page[:8], key=lambda b: max(line.size for line in b.lines))
        used = blocks.index(top) + 1
        if not _usable_title(title_text):
            title_text = top.text
    authors = _split_authors(info["author"]) if info.get("author") else []
    if not authors and used and used < len(blocks):
        candidate = blocks[used]
        looks_like_names = not _ABSTRACT.match(candidate.text) and not _is_heading(candidate, body)
        if candidate.page == blocks[0].page and looks_like_names and len(candidate.text) < 300:
            authors = _split_authors(candidate.text)
            used += 1
    return " ".join(title_text.split()), authors, used


def _usable_title(title: str) -> bool:
    lowered = title.lower()
    return (
        len(title.split()) >= 2
        and not lowered.startswith(("microsoft word", "untitled"))
        and not lowered.endswith((".dvi", ".pdf", ".doc", ".docx", ".tex"))
    )


def _captions(blocks: list[_Block]) -> dict[int, list[tuple[int, str, _Block]]]:
    found: dict[int, list[tuple[int, str, _Block]]] = {}
    for block in blocks:
        match = _CAPTION.match(block.text)
        if match:
            found.setdefault(block.page, []).append((int(match.group(1)), block.text, block))
    return found


def _figures(pages: list[dict[str, Any]], blocks: list[_Block]) -> list[FigureInfo]:
    """Each captioned image: the caption is the nearest 'Figure N' block below it (else above it)."""
    captions = _captions(blocks)
    figures: list[FigureInfo] = []
    taken: set[int] = set()
    for page in pages:
        candidates = captions.get(int(page["number"]), [])
        for image in page["images"]:
            x0, y0, x1, y1 = image["box"]
            best: tuple[float, int, str] | None = None
            for number, text, block in candidates:
                if number in taken:
                    continue
                bx0, by0, bx1, by1 = block.box
                overlap = min(x1, bx1) - max(x0, bx0)
                if overlap < 0.3 * min(x1 - x0, bx1 - bx0):
                    continue
                distance = y0 - by1 if by1 <= y0 + 4 else (by0 - y1) * 3 if by0 >= y1 - 4 else 1e9
                if best is None or distance < best[0]:
                    best = (distance, number, text)
            if best is None or best[0] > 250:
                continue
            taken.add(best[1])
            figures.append(
                FigureInfo(
                    best[1], best[2], int(page["number"]), image["file"], int(image["width"]), int(image["height"])
                )
            )
    return sorted(figures, key=lambda f: (f.number, f.page))


def build_document(raw: dict[str, Any]) -> Document:
    pages: list[dict[str, Any]] = raw["pages"]
    info: dict[str, str] = raw.get("info", {})
    blocks = _blocks(pages)
    body = _body_size([line for block in blocks for line in block.lines])
    title, authors, used = _title_and_authors(blocks, info, body)
    sections: list[Section] = []
    abstract: list[str] = []
    current: Section | None = None
    in_abstract = False
    for block in blocks[used:]:
        text = block.text
        if _CAPTION.match(text) or _TABLE_CAPTION.match(text):
            continue
        abstract_start = _ABSTRACT.match(text)
        if abstract_start and not sections and not abstract:
            in_abstract = True
            rest = text[abstract_start.end() :].strip()
            if rest:
                abstract.append(rest)
            continue
        if _is_heading(block, body):
            in_abstract = False
            current = Section(title=text, level=_level(text))
            sections.append(current)
            continue
        if in_abstract:
            abstract.append(text)
            continue
        if current is None:
            if sections or len(text) < 40:
                continue  # front matter before the first heading: affiliations, dates, keywords
            current = Section(title="", level=1)
            sections.append(current)
        previous = current.paragraphs[-1] if current.paragraphs else None
        if previous is not None and previous.text[-1:] not in ".!?:" and text[:1].islower():
            # A paragraph that runs on into the next column or page.
            previous.text = join_lines([previous.text, text])
            if block.page not in previous.pages:
                previous.pages.append(block.page)
            continue
        current.paragraphs.append(Paragraph(text, [block.page]))
    sections = [s for s in sections if s.paragraphs or s.level == 1]
    return Document(
        title=title,
        authors=authors,
        abstract=" ".join(abstract),
        page_count=len(pages),
        sections=sections,
        figures=_figures(pages, blocks),
    )
