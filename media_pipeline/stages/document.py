"""A paper's structure from the text lines, images and drawings of its PDF pages: title, authors, abstract,
sections (numbered, with levels and kinds) with their paragraphs (each with the pages it is printed on),
figures and tables with their captions and regions, and the text that is not prose kept aside.

Pure functions over what media_pipeline.backends.pdf read. The reading is heuristic, the way a person skims
a paper: the body text is the most common font size; a short line that is numbered, bold (by the font's
name too: Times "Medi", TeX "CMBX") or larger, and does not end like a sentence, is a heading; "Abstract"
opens the abstract, else the first long paragraph on page 1 is it; "Figure 3: ..." is a caption, and what is
drawn between it and the prose is the figure; lines repeated at the top or bottom of most pages are running
heads. Text that is not prose (table cells, text inside figures, equations, code, footnotes) never reaches
a paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from media_pipeline.stages.layout import Block, body_style, read_blocks
from media_pipeline.stages.pdftext import MARK, join_lines, vocabulary
from media_pipeline.stages.regions import Caption, Region, find_regions

_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.?|FIGURE|FIG\.?)\s*(\d+)\s*[.:|—–-]\s*(.*)$", re.DOTALL)
_TABLE_CAPTION = re.compile(r"^\s*(?:Table|TABLE)\s*(\d+|[IVX]+)\s*[.:|—–-]?\s*(.*)$", re.DOTALL)
_NUMBER = re.compile(
    r"^(?:(\d{1,2}(?:\.\d{1,2}){0,3})\.?|([IVX]{1,5})\.|([A-H](?:\.\d{1,2}){1,2}\.?|[A-H](?=\s)))\s+(?=[A-Z])"
)
_ABSTRACT = re.compile(r"^\s*abstract\b[\s.:—–-]*", re.IGNORECASE)
_KNOWN = (
    r"abstract|introduction|background|related work|previous work|prior work|methods?|methodology|approach|"
    r"experiments?|experimental setup|results?|evaluation|analysis|discussion|conclusions?|limitations|"
    r"future work|references|bibliography|acknowledge?ments?|appendix.*|appendices|materials and methods|"
    r"summary|ethics statement|ethical considerations|broader impacts?"
)
_KNOWN_HEADINGS = re.compile(rf"^({_KNOWN})\s*$", re.IGNORECASE)
_KINDS = (
    ("references", re.compile(r"^(references|bibliography|literature cited)\b", re.IGNORECASE)),
    ("acknowledgements", re.compile(r"^acknowledge?ments?\b", re.IGNORECASE)),
    ("appendix", re.compile(r"^(appendix|appendices|supplementary)", re.IGNORECASE)),
    ("ethics", re.compile(r"^(ethics|ethical|broader impact)", re.IGNORECASE)),
    ("front", re.compile(r"^(ccs concepts|keywords|index terms|acm reference format|author keywords)", re.IGNORECASE)),
)
# Kept so the script stage can tell narrated sections from the rest in documents read before kinds existed.
SKIPPED_SECTIONS = re.compile(
    r"^(?:\d+\.?\s*)?(references|bibliography|acknowledge?ments?|appendix|ethics|ethical|broader impact)",
    re.IGNORECASE,
)
_NOT_TITLE = re.compile(
    r"^(arxiv|proceedings|published|accepted|preprint|copyright|©|under review|to appear|workshop|journal|vol\.|"
    r"in proceedings|conference|https?://|doi|issn|isbn|technical report)",
    re.IGNORECASE,
)
_AFFILIATION = re.compile(
    r"universit|institut|department|dept\.|school|college|laborator|\blab\b|research|center|centre|inc\.|"
    r"corporation|google|microsoft|facebook|meta ai|allen|@|https?://|\{|street|road|usa\b|china|germany|"
    r"france|canada|japan|korea|india|israel|\bai2\b|faculty|hospital|academy|foundation",
    re.IGNORECASE,
)
_MONO = re.compile(r"mono|courier|inconsolata|cmtt|consola|menlo|typewriter", re.IGNORECASE)
_MATH = re.compile(r"[=∑∫∏√≤≥≈∈∀∃→←⇒∂∇±×·αβγδθλμσφψω]")
_FUNCTION_WORDS = frozenset("the of and to in is are we a that for with this on by as be from which our".split())


@dataclass
class Paragraph:
    text: str
    pages: list[int]


@dataclass
class Section:
    title: str
    level: int
    paragraphs: list[Paragraph] = field(default_factory=list)
    number: str = ""
    kind: str = "body"  # body | references | acknowledgements | appendix | ethics | front (keywords, CCS)

    @property
    def pages(self) -> list[int]:
        return sorted({page for paragraph in self.paragraphs for page in paragraph.pages})


@dataclass
class FigureInfo:
    """A figure or table: its caption, page and region, cut out of the page as a PNG in the reader's folder."""

    number: int
    caption: str
    page: int
    file: str
    width: int
    height: int
    kind: str = "raster"  # raster | drawn | table
    box: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{'Table' if self.kind == 'table' else 'Figure'} {self.number}"


@dataclass
class TextObject:
    """Text that is not prose, kept aside: a table's cells, text inside a figure, an equation, code, a footnote."""

    kind: str
    page: int
    text: str


@dataclass
class Document:
    title: str
    authors: list[str]
    abstract: str
    page_count: int
    sections: list[Section]
    figures: list[FigureInfo]
    tables: list[FigureInfo] = field(default_factory=list)
    objects: list[TextObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def characters(self) -> int:
        """All text read, prose or not: what tells a scanned PDF (no text layer) from a paper."""
        prose = sum(len(p.text) for s in self.sections for p in s.paragraphs) + len(self.abstract)
        return prose + sum(len(o.text) for o in self.objects) + len(self.title)


def _numbering(text: str) -> tuple[str, str]:
    match = _NUMBER.match(text)
    if not match:
        return "", text
    number = next(g for g in match.groups() if g)
    return number, text[match.end() :].strip()


def _is_heading(block: Block, body: float, body_font: str) -> bool:
    text = block.text
    if len(block.lines) > 2 or not 2 <= len(text) <= 100 or _CAPTION.match(text) or _TABLE_CAPTION.match(text):
        return False
    number, title = _numbering(text)
    if _KNOWN_HEADINGS.match(title) and (block.bold or block.size >= body * 1.05 or title.isupper() or number):
        return True
    if title[-1:] in ".,;:-" or sum(c.isalpha() for c in title) < 3 or len(title.split()) > 14:
        return False
    larger = block.size >= body * 1.12
    other_font = bool(body_font) and all(line.font != body_font for line in block.lines) and title.isupper()
    if number:
        caps = title.isupper() and len(title.split()) <= 8  # "II. SYSTEM PARAMETERS" in small caps
        return (larger or block.bold or other_font or caps) and title[:1].isupper()
    words = title.split()
    if len(words) > 10 or (words[-1][:1].islower() and words[-1].lower() in _FUNCTION_WORDS):
        return False  # a sentence's first words in bold, not a heading
    return (larger or block.bold) and title[:1].isupper() and block.size >= body * 0.95


def _kind(title: str) -> str:
    return next((kind for kind, pattern in _KINDS if pattern.match(title)), "body")


def _level(number: str) -> int:
    return number.count(".") + 1 if number else 1


def _split_authors(text: str) -> list[str]:
    text = text.replace(MARK, ",")
    text = re.sub(r"[\d*†‡§¶∗♠♢♡♣♦♥⋆⋄◇○•∙#$%&]+", ",", text)
    parts = re.split(r",|;|\band\b|\s{3,}", text)
    names = [" ".join(p.split()).strip(" .") for p in parts]
    return [
        n
        for n in names
        if 2 <= len(n.split()) <= 5 and sum(c.isalpha() for c in n) >= 4 and not _AFFILIATION.search(n)
        and all(w[:1].isupper() or w.lower() in ("de", "van", "von", "der", "la", "di", "da") for w in n.split())
    ][:40]  # fmt: skip


def _title(blocks: list[Block], info: dict[str, str], body: float) -> tuple[str, int]:
    """The title from the page-1 title block (index of its last block), or the metadata's when plausible."""
    first = [i for i, b in enumerate(blocks) if b.page == blocks[0].page][:25] if blocks else []
    candidates = [
        i
        for i in first
        if blocks[i].size > body * 1.15
        and sum(c.isalpha() for c in blocks[i].text) >= 8
        and len(blocks[i].text.split()) >= 2
        and not _NOT_TITLE.match(blocks[i].text)
        and not _ABSTRACT.match(blocks[i].text)
    ]
    if candidates:
        top = max(candidates, key=lambda i: (round(blocks[i].size, 0), -i))
        end = top
        # A title set in two boxes (a line each) of the same size continues, right below it.
        while end + 1 in first and _continues_title(blocks[end], blocks[end + 1]):
            end += 1
        # Only the title's own lines: a box can hold the author lines set just below it in a smaller size.
        lines = [line for i in range(top, end + 1) for line in blocks[i].lines if line.size >= blocks[top].size - 0.6]
        rest = [line for i in range(top, end + 1) for line in blocks[i].lines if line.size < blocks[top].size - 0.6]
        if rest:
            blocks.insert(end + 1, Block(rest, blocks[end].page, rest[0].box, False, blocks[end].words))
        text = join_lines([line.text for line in lines], blocks[top].words)
        return " ".join(text.split()), end
    metadata = " ".join(info.get("title", "").split())
    return (metadata if _usable_title(metadata) else ""), -1


def _continues_title(above: Block, below: Block) -> bool:
    gap = above.box[1] - below.box[3]
    return (
        abs(below.size - above.size) < 0.6
        and -2 < gap < 1.2 * above.size
        and not _AFFILIATION.search(below.text)
        and not _ABSTRACT.match(below.text)
    )


def _usable_title(title: str) -> bool:
    lowered = title.lower()
    return (
        len(title.split()) >= 2
        and not lowered.startswith(("microsoft word", "untitled"))
        and not lowered.endswith((".dvi", ".pdf", ".doc", ".docx", ".tex"))
    )


def _is_prose(block: Block) -> bool:
    text = block.text
    words = text.split()
    if len(words) < 6:
        return False
    letters = sum(c.isalpha() for c in text)
    if letters < 0.6 * len(text.replace(" ", "")):
        return False
    if any(_MONO.search(line.font) for line in block.lines) and len({line.font for line in block.lines}) == 1:
        return False
    lowered = [w.lower().strip(".,;:()") for w in words]
    return sum(w in _FUNCTION_WORDS for w in lowered) >= max(1, len(words) // 25)


def _barrier(block: Block, page_width: float) -> bool:
    return len(block.lines) >= 2 and block.box[2] - block.box[0] >= 0.3 * page_width and _is_prose(block)


def _object_kind(block: Block) -> str:
    text = block.text
    if any(_MONO.search(line.font) for line in block.lines):
        return "code"
    if len(_MATH.findall(text)) >= 2:
        return "equation"
    digits = sum(c.isdigit() for c in text)
    return "table" if digits > 0.2 * max(len(text), 1) else "figure_text"


def _footnote(block: Block, body: float, height: float) -> bool:
    """A footnote: small type low on the page, opening with its mark (a digit or symbol, or a raised one)."""
    if block.size > body * 0.92 or block.box[1] > height * 0.35:
        return False
    return bool(re.match(rf"^\s*({MARK}|\d{{1,2}}\s?[A-Za-z(]|[*∗†‡§¶]|https?://)", block.text))


@dataclass
class _Reader:
    blocks: list[Block]
    body: float
    body_font: str
    sections: list[Section] = field(default_factory=list)
    abstract: list[str] = field(default_factory=list)
    objects: list[TextObject] = field(default_factory=list)
    heading_sizes: list[tuple[Section, Block]] = field(default_factory=list)


def _continues_heading(reader: _Reader, block: Block) -> bool:
    if not reader.heading_sizes:
        return False
    previous = reader.heading_sizes[-1][1]
    gap = previous.box[1] - block.box[3]
    return previous.page == block.page and abs(previous.size - block.size) < 0.6 and -2 < gap < 1.5 * block.size


def _unnumbered_levels(reader: _Reader) -> None:
    """In a paper with numbered sections, an unnumbered heading no larger than they are is a subsection
    ("Context" under "4 SYSTEM DESIGN"), unless it is one of the headings papers leave unnumbered."""
    numbered = [block.size for section, block in reader.heading_sizes if section.number and section.level == 1]
    if not numbered:
        return
    top = min(numbered)
    caps_numbered = any(block.text.isupper() for section, block in reader.heading_sizes if section.number)
    for section, block in reader.heading_sizes:
        if section.number or section.kind != "body" or _KNOWN_HEADINGS.match(section.title):
            continue
        set_apart = block.text.isupper() and not caps_numbered  # in capitals where the numbered ones are not
        if block.size <= top + 0.3 and not set_apart:
            section.level = 2


def _front_matter(blocks: list[Block], end: int, body: float, body_font: str) -> tuple[list[str], str, int]:
    """Authors, the abstract (labelled or not) and the index of the first block after them."""
    first_page = blocks[0].page if blocks else 1
    authors: list[str] = []
    index = end + 1
    while index < len(blocks) and blocks[index].page == first_page:
        block = blocks[index]
        number, title = _numbering(block.text)
        if _ABSTRACT.match(block.text) or (
            _is_heading(block, body, body_font) and (number or _KNOWN_HEADINGS.match(title))
        ):
            break
        if (
            _is_prose(block)
            and len(block.text) > 250
            and block.size >= body * 0.9
            and not _AFFILIATION.search(block.text)
        ):
            # No "Abstract" label: the first long paragraph in the abstract's place is the abstract.
            return authors, block.text, index + 1
        if not _AFFILIATION.search(block.text):
            authors.extend(a for a in _split_authors(block.text) if a not in authors)
        index += 1
    label = _ABSTRACT.match(blocks[index].text) if index < len(blocks) else None
    if label is not None:
        parts = [blocks[index].text[label.end() :].strip()]
        index += 1
        while index < len(blocks) and not _is_heading(blocks[index], body, body_font):
            block = blocks[index]
            if _AFFILIATION.search(block.text[:120]) and re.match(r"^\W*\d", block.text):
                pass  # numbered affiliations printed beside the abstract (PLOS's side column)
            elif _is_prose(block) or (parts[-1] and parts[-1][-1:] not in ".!?"):
                parts.append(block.text)
            index += 1
            if block.page != first_page and parts[-1][-1:] in ".!?":
                break
        return authors, join_lines([p for p in parts if p], blocks[0].words), index
    return authors, "", index


def _body_text(reader: _Reader, start: int, height: dict[int, float], regions: list[Region]) -> None:
    current: Section | None = None
    for block in reader.blocks[start:]:
        text = block.text
        if _CAPTION.match(text) or _TABLE_CAPTION.match(text):
            continue
        if (
            current is not None and not current.paragraphs and len(block.lines) == 1 and len(text.split()) <= 6
            and reader.heading_sizes and reader.heading_sizes[-1][0] is current
            and block.bold == reader.heading_sizes[-1][1].bold and _continues_heading(reader, block)
        ):  # fmt: skip
            current.title = f"{current.title} {text}"  # "Convex relaxations and matrix" / "decomposition"
            continue
        if _is_heading(block, reader.body, reader.body_font):
            number, title = _numbering(text)
            if current is not None and not current.paragraphs and not number and _continues_heading(reader, block):
                current.title = f"{current.title} {title}"  # a heading set on two lines, in two boxes
                continue
            current = Section(title=title, level=_level(number), number=number, kind=_kind(title))
            reader.heading_sizes.append((current, block))
            if current.kind == "body" and reader.sections and reader.sections[-1].kind in ("references", "appendix"):
                current.kind = "appendix"  # lettered sections after the references are the appendix
            reader.sections.append(current)
            continue
        holder = next((region for region in regions if region.holds(block.page, block.box)), None)
        if holder is not None or _footnote(block, reader.body, height.get(block.page, 792.0)):
            kind = "footnote" if holder is None else "table" if holder.caption.kind == "table" else "figure_text"
            reader.objects.append(TextObject(kind, block.page, text.replace(MARK, "")))
            continue
        if current is None:
            if reader.sections or len(text) < 40:
                continue  # front matter before the first heading: affiliations, dates, keywords
            current = Section(title="", level=1)
            reader.sections.append(current)
        previous = current.paragraphs[-1] if current.paragraphs else None
        runs_on = previous is not None and previous.text[-1:] not in ".!?:" and text[:1].islower()
        if current.kind == "body" and not runs_on and not _is_prose(block):
            reader.objects.append(TextObject(_object_kind(block), block.page, text))
            continue
        if previous is not None and runs_on:
            # A paragraph that runs on into the next column or page.
            previous.text = join_lines([previous.text, text], block.words)
            if block.page not in previous.pages:
                previous.pages.append(block.page)
            continue
        current.paragraphs.append(Paragraph(text, [block.page]))


def _captions(blocks: list[Block], inside: list[Block]) -> list[Caption]:
    """One caption per figure and table number: "Table 2: ..." (or "Table 2 Overview", as some styles set
    it) rather than a sentence that mentions it ("Table 2 compares ...")."""
    found: dict[tuple[str, int], tuple[int, Caption]] = {}
    for block in blocks + inside:
        figure, table = _CAPTION.match(block.text), _TABLE_CAPTION.match(block.text)
        if figure:
            key = ("figure", int(figure.group(1)))
        elif table:
            raw = table.group(1)
            key = ("table", int(raw) if raw.isdigit() else _roman(raw))
        else:
            continue
        rest = block.text[(figure or table).end(1) :]  # type: ignore[union-attr]
        separated = bool(re.match(r"\s*[.:|—–-]", rest))
        if not 0 < key[1] < 100 or not (separated or not rest.strip() or rest.strip()[:1].isupper()):
            continue
        rank = 0 if separated else 1
        if key not in found or rank < found[key][0]:
            found[key] = (rank, Caption(key[0], key[1], block.text, block.page, list(block.box)))
    return [caption for _, caption in found.values()]


def _roman(text: str) -> int:
    values = {"I": 1, "V": 5, "X": 10}
    total = 0
    for i, char in enumerate(text):
        value = values[char]
        total += -value if i + 1 < len(text) and values[text[i + 1]] > value else value
    return total


def _figure(region: Region) -> FigureInfo:
    caption = region.caption
    width, height = region.size
    return FigureInfo(caption.number, caption.text, caption.page, region.file, width, height, region.kind, region.box)


def _plain(text: str) -> str:
    return " ".join(text.replace(f" {MARK}", " ").replace(MARK, "").split())


def _unmark(sections: list[Section], reader: _Reader) -> None:
    """The dropped marks' places are no longer needed once authors and footnotes are known."""
    for section in sections:
        section.title = _plain(section.title)
        for paragraph in section.paragraphs:
            paragraph.text = _plain(paragraph.text)
    for item in reader.objects:
        item.text = _plain(item.text)


def build_document(raw: dict[str, Any]) -> Document:
    pages: list[dict[str, Any]] = raw["pages"]
    info: dict[str, str] = raw.get("info", {})
    words = vocabulary(line["text"] for page in pages for box in page["boxes"] for line in box["lines"])
    blocks, inside = read_blocks(pages, words)
    body, body_font = body_style(blocks)
    title, end = _title(blocks, info, body)
    authors, abstract, start = _front_matter(blocks, end, body, body_font)
    if not authors and info.get("author"):
        authors = _split_authors(info["author"])
    captions = _captions(blocks, inside)
    # Headings and paragraphs as wide as a column bound a figure; every other text (cells, even wordy ones,
    # labels, equations) may belong to one.
    widths = {int(p["number"]): float(p["size"][0]) for p in pages}
    # The title, authors and affiliations bound a figure too.
    texts = [
        (b.page, b.box, i < start or _is_heading(b, body, body_font) or _barrier(b, widths.get(b.page, 612.0)))
        for i, b in enumerate(blocks)
    ]
    regions = find_regions(pages, captions, texts + [(b.page, b.box, False) for b in inside])
    reader = _Reader(blocks, body, body_font, abstract=[abstract] if abstract else [])
    reader.objects.extend(TextObject("figure_text", b.page, b.text) for b in inside)
    _body_text(reader, start, {int(p["number"]): float(p["size"][1]) for p in pages}, regions)
    _unnumbered_levels(reader)
    sections = [s for s in reader.sections if s.paragraphs or s.level == 1]
    figures = [_figure(r) for r in regions if r.caption.kind == "figure"]
    tables = [_figure(r) for r in regions if r.caption.kind == "table"]
    _unmark(sections, reader)
    warnings = [str(w) for w in raw.get("warnings", [])]  # what the reader left out (e.g. bomb images)
    if not any(s.title for s in sections):
        warnings.append("No section headings were found: the narration follows the text as printed.")
    return Document(
        title=_plain(title),
        authors=authors,
        abstract=_plain(" ".join(reader.abstract)),
        page_count=len(pages),
        sections=sections,
        figures=sorted(figures, key=lambda f: (f.number, f.page)),
        tables=sorted(tables, key=lambda f: (f.number, f.page)),
        objects=reader.objects,
        warnings=warnings,
    )
