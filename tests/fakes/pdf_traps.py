"""Small PDFs with the traps real papers set for a PDF reader (issue 14), one generator per trap.

Each PDF looks like a paper: US letter, a Times-like body at 10-11 pt in two columns, a title at 15 pt, authors,
an abstract, numbered sections of several sentences per paragraph and a page number at the bottom of each page.
Like most LaTeX output it has no title or author in its metadata, so a reader has only the page to go by. Each
generator writes its PDF to the given path and returns an Expected: what a right reading of it yields.

Inline markup in the texts below: `^{1}` is a raised small superscript (an affiliation or footnote mark),
`<A|c>` draws the spacing accent A (U+00B4, U+00A8) as a glyph of its own over the letter c, the way LaTeX
does, `[-]` ends the line with a hyphen that splits a word, and `[]` ends the line right there (after a
compound's own hyphen).
`plain()` gives the text a reader should produce from it.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

PAGE_W, PAGE_H = 612.0, 792.0  # US letter
MARGIN = 54.0
GUTTER = 18.0
COLUMN = (PAGE_W - 2 * MARGIN - GUTTER) / 2
TOP, BOTTOM = PAGE_H - 72.0, 72.0
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, origin bottom-left

AUTHORS = ["Hannah Okafor", "Peter Lindqvist"]
AFFILIATIONS = ["School of Informatics, University of Edinburgh", "{h.okafor, p.lindqvist}@ed.ac.uk"]
ABSTRACT = (
    "We study how the layout of scientific papers affects the extraction of their text. Using a sample of papers "
    "from several fields, we measure which layout features cause errors and show that a reader aware of columns, "
    "captions and footnotes avoids most of them."
)
PROSE = [
    "Scientific papers are read by people, but they are increasingly processed by machines as well. Search "
    "engines index their text, recommendation systems follow their citations, and summarization models condense "
    "them into a few sentences. All of these systems depend on a faithful reading of the paper as it was printed.",
    "Most papers are distributed only as PDF files. A PDF describes where each glyph is drawn on the page, not "
    "which words form a sentence or which sentences form a paragraph. Recovering that structure is the first step "
    "of any pipeline that works with the complete text of a paper.",
    "We describe a collection of papers drawn from many fields of research, together with the tools that convert "
    "each paper into structured text. Every paper keeps its title, its authors, its abstract and the sections of "
    "its body, each with the paragraphs that belong to it.",
    "The collection was assembled over several months from open access repositories and from publishers that "
    "allow text mining. Duplicate records were merged by comparing titles and author lists, and papers without a "
    "usable file were set aside.",
    "Parsing errors are rarely random. They cluster around the same layout features: headers and footers, "
    "footnotes, tables, mathematical notation and figures drawn as vector graphics. We report how often each of "
    "these appears in a sample of one thousand papers.",
    "Our evaluation compares the structured text against a manually annotated sample. Annotators marked the "
    "boundaries of every paragraph and every section heading, and recorded the reading order of the columns on "
    "each page.",
    "The results show that careful handling of layout matters more than the choice of extraction library. A "
    "reader that understands columns and captions recovers most paragraphs intact, while a naive reader breaks "
    "one paragraph in five.",
    "We release the corpus, the annotations and the code under an open license. We hope they will serve as a "
    "common benchmark for the extraction of text from scholarly documents.",
]
BACKGROUND = [
    "Earlier collections of scientific text were either small or limited to a single field. Some offered only "
    "abstracts, which are easy to obtain from bibliographic databases but leave out most of what a paper says "
    "about its methods and findings.",
    "Other collections offered the complete text of papers but kept it as a flat sequence of lines, without "
    "sections, captions or the links between a citation and the paper it refers to. Such text is hard to use for "
    "tasks that need to know where a sentence came from.",
    "A third line of work studies the layout of pages directly. Models trained on annotated pages learn to label "
    "each region as a heading, a paragraph, a caption or a table, and reach high accuracy on the kinds of "
    "documents they were trained on.",
    "Our work combines these directions. We keep the structure that the layout reveals, and we evaluate the "
    "result by how well a person could follow the paper from the extracted text alone.",
]
REFERENCES = [
    "Patrice Lopez. 2009. GROBID: Combining automatic bibliographic data recognition and term extraction for "
    "scholarship publications. In Research and Advanced Technology for Digital Libraries, pages 473-474.",
    "Waleed Ammar, Dirk Groeneveld, Chandra Bhagavatula, et al. 2018. Construction of the literature graph in "
    "Semantic Scholar. In Proceedings of NAACL-HLT, pages 84-91.",
]


@dataclass
class Expected:
    """What a right reading of a trap PDF yields; `absent` must not be in the prose, `phrases` must be."""

    path: Path
    title: str
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    sections: list[tuple[str, str, int, str]] = field(default_factory=list)  # number, title, level, kind
    phrases: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    caption: str = ""
    boxes: dict[str, Box] = field(default_factory=dict)
    pages: int = 1


_MARK = re.compile(r"\^\{([^}]*)\}|<(.)\|(.)>")
_COMBINING = {"\u00b4": "\u0301", "\u00a8": "\u0308", "`": "\u0300"}
_BREAK = re.compile(r"\[(-?)\]")


def plain(text: str) -> str:
    """The text a reader should produce from marked-up text: marks gone, accents on their letters, hyphenation
    breaks undone (and a compound's own hyphen kept)."""
    text = _MARK.sub(
        lambda m: "" if m.group(1) is not None else unicodedata.normalize("NFC", m.group(3) + _COMBINING[m.group(2)]),
        text,
    )
    return " ".join(_BREAK.sub("", text).split())


def _ttf(name: str, file: str) -> str:
    """A DejaVu TrueType font registered under `name`, which is also the PostScript name the PDF carries."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if name not in pdfmetrics.getRegisteredFontNames():
        font = TTFont(name, str(DEJAVU / file))
        font.face.name = name.encode()  # BaseFont "ABCDEF+<name>", as LaTeX's fonts have
        pdfmetrics.registerFont(font)
    return name


def _width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return float(stringWidth(text, font, size))


def _font_for(text: str, font: str) -> str:
    """Standard Type 1 fonts only have Latin-1-ish glyphs; Greek marks come from a TrueType font, as from a
    math font in LaTeX."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        from reportlab.pdfbase.pdfmetrics import standardFonts

        if font in standardFonts:
            return _ttf("DejaVuSerif", "DejaVuSerif.ttf")
    return font


@dataclass
class _Word:
    runs: list[tuple[str, str, float, float, float, float]]  # text, font, size, dx, rise, advance
    width: float
    breaks_after: bool = False


def _word(token: str, font: str, size: float) -> _Word:
    runs = []
    position = 0

    def text_run(text: str) -> None:
        if text:
            runs.append((text, font, size, 0.0, 0.0, _width(text, font, size)))

    for match in _MARK.finditer(token):
        text_run(token[position : match.start()])
        if match.group(1) is not None:
            mark, small = match.group(1), size * 0.7
            mark_font = _font_for(mark, font)
            runs.append((mark, mark_font, small, 0.0, size * 0.4, _width(mark, mark_font, small)))
        else:
            accent, letter = match.group(2), match.group(3)
            letter_width = _width(letter, font, size)
            centre = (letter_width - _width(accent, font, size)) / 2
            runs.append((accent, font, size, centre, 0.0, 0.0))  # drawn first, over the letter, no advance
            runs.append((letter, font, size, 0.0, 0.0, letter_width))
        position = match.end()
    text_run(token[position:])
    return _Word(runs, sum(run[5] for run in runs))


def _words(text: str, font: str, size: float) -> list[_Word]:
    words = []
    for token in text.split():
        rest = token
        while rest:
            match = _BREAK.search(rest)
            if match is None:
                words.append(_word(rest, font, size))
                break
            head = _word(rest[: match.start()] + match.group(1), font, size)
            head.breaks_after = True
            words.append(head)
            rest = rest[match.end() :]
    return words


class _Paper:
    """A two-column paper drawn on a reportlab canvas, column by column and page by page."""

    def __init__(
        self,
        path: Path,
        *,
        body: str = "Times-Roman",
        bold: str = "Times-Bold",
        size: float = 10.0,
        leading: float = 12.0,
        heading_size: float = 12.0,
        forms: bool = False,
    ) -> None:
        from reportlab.pdfgen.canvas import Canvas

        self.canvas = Canvas(str(path), pagesize=(PAGE_W, PAGE_H), pageCompression=1, invariant=1)
        self.canvas.setTitle("")
        self.canvas.setAuthor("")
        self.body, self.bold, self.size, self.leading, self.heading_size = body, bold, size, leading, heading_size
        self.forms = forms
        self.page = 0
        self._start_page()

    def _start_page(self) -> None:
        self.page += 1
        if self.forms:
            self.canvas.beginForm(f"page{self.page}")
        self.column = 0
        self.column_top = self.y = TOP
        self.bottoms = [BOTTOM, BOTTOM]

    def end_page(self) -> None:
        self.canvas.setFont(self.body, self.size)
        self.canvas.drawCentredString(PAGE_W / 2, 40, str(self.page))
        if self.forms:  # everything on the page was drawn inside a form XObject, shown once
            self.canvas.endForm()
            self.canvas.doForm(f"page{self.page}")
        self.canvas.showPage()

    def new_page(self) -> None:
        self.end_page()
        self._start_page()

    def save(self) -> None:
        self.end_page()
        self.canvas.save()

    @property
    def x(self) -> float:
        return MARGIN + self.column * (COLUMN + GUTTER)

    def next_column(self) -> None:
        if self.column == 0:
            self.column = 1
            self.y = self.column_top
        else:
            self.new_page()

    def _room(self, height: float) -> None:
        if self.y - height < self.bottoms[self.column]:
            self.next_column()

    def draw_word(self, word: _Word, x: float, y: float) -> None:
        for text, font, size, dx, rise, advance in word.runs:
            self.canvas.setFont(font, size)
            self.canvas.drawString(x + dx, y + rise, text)
            x += advance

    def centred(self, groups: list[str], y: float, *, font: str, size: float, gap: float = 14.0) -> None:
        """One centred line of groups of words (author names, each with its marks) set `gap` apart."""
        space = _width(" ", font, size)
        laid = [_words(group, font, size) for group in groups]
        widths = [sum(w.width for w in words) + space * (len(words) - 1) for words in laid]
        x = (PAGE_W - sum(widths) - gap * (len(groups) - 1)) / 2
        for words, width in zip(laid, widths, strict=True):
            cursor = x
            for word in words:
                self.draw_word(word, cursor, y)
                cursor += word.width + space
            x += width + gap

    def front(
        self,
        title: str,
        authors: list[str],
        affiliations: list[str],
        *,
        title_font: str = "Times-Bold",
        title_size: float = 15.0,
    ) -> None:
        """Title (lines split at newlines), authors on one line, affiliation lines, all centred above the columns."""
        y = TOP - 8
        for line in title.split("\n"):
            self.centred([line], y, font=title_font, size=title_size)
            y -= title_size * 1.25
        y -= 10
        self.centred(authors, y, font=self.body, size=11.0, gap=18.0)
        y -= 14
        for line in affiliations:
            self.centred([line], y, font=self.body, size=10.0)
            y -= 12
        self.column_top = self.y = y - 16

    def heading(self, text: str, *, centred: bool = False, size: float | None = None) -> None:
        """A bold heading; a leading section number is set a quad apart from the title, as LaTeX does."""
        size = size or self.heading_size
        self._room(size + 3 * self.leading)
        self.y -= size + (8 if self.y < self.column_top - 1 else 0)
        number, _, title = text.partition(" ")
        if not re.fullmatch(r"\d+(?:\.\d+)*", number):
            number, title = "", text
        x = self.x
        if centred:
            x += (COLUMN - _width(text, self.bold, size)) / 2
        self.canvas.setFont(self.bold, size)
        if number:
            self.canvas.drawString(x, self.y, number)
            x += _width(number, self.bold, size) + size
        self.canvas.drawString(x, self.y, title)
        self.y -= 4

    def paragraph(self, text: str, *, indent: float = 12.0, size: float | None = None, wide: bool = False) -> list[Box]:
        """A justified paragraph flowing down the columns (or across both, `wide`, at the top of a page); the
        boxes of its lines."""
        size = size or self.size
        leading = self.leading * size / self.size
        width = PAGE_W - 2 * MARGIN if wide else COLUMN
        space = _width(" ", self.body, size)
        lines: list[tuple[list[_Word], bool]] = []  # words, ends the paragraph or a forced break
        current: list[_Word] = []
        used = 0.0
        for word in _words(text, self.body, size):
            room = width - (indent if not lines else 0)
            needed = word.width if not current else used + space + word.width
            if current and needed > room:
                lines.append((current, False))
                current, used = [word], word.width
            else:
                current.append(word)
                used = needed
            if word.breaks_after:
                lines.append((current, False))
                current, used = [], 0.0
        if current:
            lines.append((current, True))
        boxes = []
        for number, (words, last) in enumerate(lines):
            if not wide:
                self._room(leading)
            self.y -= leading
            x = (MARGIN if wide else self.x) + (indent if number == 0 else 0)
            room = width - (indent if number == 0 else 0)
            natural = sum(w.width for w in words) + space * (len(words) - 1)
            gap = space
            stretch = (room - natural) / max(len(words) - 1, 1)
            if not last and len(words) > 1 and stretch <= 1.5 * space:  # TeX's stretch, short of a loose line
                gap += stretch
            cursor = x
            for word in words:
                self.draw_word(word, cursor, self.y)
                cursor += word.width + gap
            boxes.append((x, self.y - size * 0.25, cursor - gap, self.y + size * 0.75))
        self.y -= 4
        if wide:
            self.column_top = self.y
        return boxes

    def block(self, height: float) -> Box:
        """Room for a figure or table of `height` points in the current column."""
        self._room(height + 6)
        self.y -= 6
        top = self.y
        self.y -= height
        box = (self.x, self.y, self.x + COLUMN, top)
        self.y -= 6
        return box

    def wide_block(self, height: float) -> Box:
        """Room across both columns at the top of the page, before any column text."""
        box = (MARGIN, self.column_top - height, PAGE_W - MARGIN, self.column_top)
        self.column_top = self.y = self.column_top - height
        return box

    def abstract(self, text: str) -> None:
        self.heading("Abstract", centred=True)
        self.paragraph(text, indent=0)


def _standard(paper: _Paper, title: str, *, abstract: str = ABSTRACT) -> None:
    paper.front(title, AUTHORS, AFFILIATIONS)
    paper.abstract(abstract)


def _background(paper: _Paper, number: int = 2) -> None:
    paper.heading(f"{number} Background")
    for text in BACKGROUND:
        paper.paragraph(text)


def _photo(width: int = 320, height: int = 400) -> io.BytesIO:
    """A photograph-like picture (a page lying on a desk, shaded), made with Pillow."""
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    assert pixels is not None
    for y in range(height):
        for x in range(width):
            pixels[x, y] = (90 + (x * 7 + y * 3) % 60, 70 + (x * 5 + y * 11) % 50, 50 + (x * y) % 40)
    draw = ImageDraw.Draw(image)
    draw.polygon([(40, 30), (280, 50), (270, 370), (30, 350)], fill=(236, 232, 220))
    for row in range(70, 330, 14):
        draw.line([(60, row), (250, row + 4)], fill=(120, 120, 120), width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def form_xobject(path: Path) -> Expected:
    """Every page's text drawn inside a form XObject (as some PDF printers and arXiv's stamping do)."""
    title = "Parsing Scholarly PDFs at Scale"
    paper = _Paper(path, forms=True)
    _standard(paper, title)
    paper.heading("1 Introduction")
    for text in PROSE[:4]:
        paper.paragraph(text)
    _background(paper)
    paper.new_page()
    paper.heading("3 Method")
    for text in PROSE[4:]:
        paper.paragraph(text)
    paper.save()
    return Expected(path, title, AUTHORS, ABSTRACT, phrases=[PROSE[0].split(".")[0], PROSE[7].split(".")[0]], pages=2)


STAMP = "arXiv:1708.05894v1 [stat.ML] 18 Aug 2017"


def rotated_stamp(path: Path) -> Expected:
    """arXiv's stamp up the left margin of page 1, rotated 90 degrees, in a larger font than the title."""
    title = "Citation Graphs of\nOpen Access Research"
    paper = _Paper(path)
    _standard(paper, title)
    paper.heading("1 Introduction")
    for text in PROSE[:5]:
        paper.paragraph(text)
    _background(paper)
    canvas = paper.canvas
    canvas.saveState()
    canvas.setFillGray(0.5)
    canvas.setFont("Times-Roman", 20)
    canvas.translate(38, 220)
    canvas.rotate(90)
    canvas.drawString(0, 0, STAMP)
    canvas.restoreState()
    paper.save()
    return Expected(path, " ".join(title.split()), AUTHORS, ABSTRACT, absent=["arXiv:1708", "stat.ML"])


def bold_numbered_headings(path: Path) -> Expected:
    """Numbered headings at 12 pt in a bold font named NimbusRomNo9L-Medi ("Medium", no "Bold" in the name),
    as pdfTeX's Times makes them; the body at 11 pt in NimbusRomNo9L-Regu."""
    regular = _ttf("NimbusRomNo9L-Regu", "DejaVuSerifCondensed.ttf")
    medium = _ttf("NimbusRomNo9L-Medi", "DejaVuSerifCondensed-Bold.ttf")
    title = "A Corpus of Full-Text Papers\nfor Citation Analysis"
    paper = _Paper(path, body=regular, bold=medium, size=11.0, leading=13.0, heading_size=12.0)
    paper.front(title, AUTHORS, AFFILIATIONS, title_font=medium, title_size=15.0)
    paper.heading("Abstract", centred=True)
    paper.paragraph(ABSTRACT, indent=0, size=10.0)
    layout = [
        ("1 Introduction", PROSE[0:2]),
        ("2 Constructing the corpus", PROSE[2:3]),
        ("2.1 Sources", PROSE[3:4]),
        ("2.2 Parsing", PROSE[4:5]),
        ("3 Results", PROSE[5:7]),
    ]
    for heading, paragraphs in layout:
        paper.heading(heading)
        for text in paragraphs:
            paper.paragraph(text)
    paper.heading("References")
    for text in REFERENCES:
        paper.paragraph(text, indent=0, size=10.0)
    paper.save()
    sections = [
        ("1", "Introduction", 1, "body"),
        ("2", "Constructing the corpus", 1, "body"),
        ("2.1", "Sources", 2, "body"),
        ("2.2", "Parsing", 2, "body"),
        ("3", "Results", 1, "body"),
        ("", "References", 1, "references"),
    ]
    return Expected(path, " ".join(title.split()), AUTHORS, ABSTRACT, sections=sections)


S2ORC_ABSTRACT = (
    "We introduce a large corpus of English-language academic papers spanning many academic disciplines. The "
    "corpus consists of rich metadata, paper abstracts, resolved bibliographic references, as well as structured "
    "full text for millions of open access papers. Full text is annotated with automatically detected inline "
    "mentions of citations, figures, and tables, each linked to their corresponding paper objects."
)


def author_block(path: Path) -> Expected:
    """Authors on one line, each with a raised affiliation mark, then affiliation and e-mail lines, then the
    abstract under its own heading."""
    title = "S2ORC: The Semantic Scholar Open Research Corpus"
    names = ["Kyle Lo^{α}", "Lucy Lu Wang^{β}", "Mark Neumann^{α}", "Daniel S. Weld^{α,β}"]
    affiliations = ["^{α}Allen Institute for AI", "^{β}University of Washington", "{kylel, lucyw, markn}@allenai.org"]
    paper = _Paper(path)
    paper.front(title, names, affiliations)
    paper.abstract(S2ORC_ABSTRACT)
    paper.heading("1 Introduction")
    for text in PROSE[:4]:
        paper.paragraph(text)
    _background(paper)
    paper.save()
    return Expected(path, title, [plain(name) for name in names], S2ORC_ABSTRACT)


FOOTNOTED = (
    "We introduce S2ORC,^{1} a large corpus of academic papers with their complete text and citations. Its text is "
    "extracted with GROBID^{2} and aligned with the metadata of each paper, so that every citation in a "
    "paragraph points to the paper it cites."
)
FOOTNOTES = ["https://github.com/allenai/s2orc", "https://github.com/kermitt2/grobid"]


def footnotes(path: Path) -> Expected:
    """Superscript footnote marks right after words in the body, and the footnotes at the bottom of the column
    in a small font under a short rule."""
    title = "Linking Citations to the\nFull Text of Scientific Papers"
    paper = _Paper(path)
    paper.bottoms[0] = 112.0  # room for the footnotes in the left column
    _standard(paper, title)
    paper.heading("1 Introduction")
    paper.paragraph(FOOTNOTED)
    for text in PROSE[:4]:
        paper.paragraph(text)
    _background(paper)
    canvas = paper.canvas
    canvas.setLineWidth(0.4)
    canvas.line(MARGIN, 104, MARGIN + 72, 104)
    for number, (note, y) in enumerate(zip(FOOTNOTES, (94.0, 83.0), strict=True), start=1):
        paper.draw_word(_word(f"^{{{number}}}", "Times-Roman", 9.0), MARGIN + 8, y)
        canvas.setFont("Times-Roman", 9.0)
        canvas.drawString(MARGIN + 14, y, note)
    paper.save()
    return Expected(
        path,
        " ".join(title.split()),
        phrases=["We introduce S2ORC, a large corpus", "extracted with GROBID and aligned"],
        absent=["S2ORC1", "S2ORC,1", "S2ORC, 1", "GROBID2", "GROBID 2 ", "github.com", "allenai/s2orc"],
    )


LIGATURED = (
    "Our text classiﬁcation workﬂow follows the one described by Mitrovi<´|c> and M<¨|u>ller, who ﬁrst applied it "
    "to the abstracts of clinical trials. Each abstract is split into sentences, and each sentence is assigned to "
    "one of ﬁve rhetorical roles before the roles are counted per paper."
)


def ligatures_accents(path: Path) -> Expected:
    """Ligature glyphs (U+FB01, U+FB02) and LaTeX's accents: a spacing accent glyph drawn over its letter."""
    body = _ttf("DejaVuSerifCondensed", "DejaVuSerifCondensed.ttf")
    title = "Workflows for Reproducible\nText Mining of Abstracts"
    paper = _Paper(path, body=body, bold=_ttf("DejaVuSerifCondensed-Bold", "DejaVuSerifCondensed-Bold.ttf"))
    paper.front(title, AUTHORS, AFFILIATIONS, title_font="DejaVuSerifCondensed-Bold")
    paper.abstract(ABSTRACT)
    paper.heading("1 Introduction")
    paper.paragraph(PROSE[0])
    paper.paragraph(LIGATURED)
    for text in PROSE[1:4]:
        paper.paragraph(text)
    _background(paper)
    paper.save()
    return Expected(
        path,
        " ".join(title.split()),
        phrases=["text classification workflow", "Mitrović and Müller", "who first applied", "one of five"],
        absent=["ﬁ", "ﬂ", "\u00b4", "\u00a8", "Mitrovic", "Muller"],
    )


HYPHENATED = (
    "For this study, the papers were collected from publicly-[]available repositories of preprints and from the "
    "archives of journals that allow text mining. For each paper, the subject of the journal was used as the label "
    "for a simple classi[-]fication of the papers by field, which we use to balance the samples."
)


def hyphenation(path: Path) -> Expected:
    """Words split across lines with a hyphen ("classi-" / "fication") beside a compound whose own hyphen ends
    a line ("publicly-" / "available"); the compound also appears unbroken, and its parts as words of their own."""
    title = "Open Corpora for\nScientific Text Mining"
    paper = _Paper(path)
    _standard(paper, title)
    paper.heading("1 Introduction")
    paper.paragraph(
        "Most of these papers come from publicly-available sources, and all of them can be redistributed for "
        "research. Where a paper exists in several versions, we keep the latest one that was published."
    )
    paper.paragraph(HYPHENATED)
    paper.paragraph(
        "The code is publicly released, and the annotations are available on request. " + PROSE[5], indent=12.0
    )
    for text in PROSE[6:]:
        paper.paragraph(text)
    _background(paper)
    paper.save()
    return Expected(
        path,
        " ".join(title.split()),
        phrases=["collected from publicly-available repositories", "simple classification of the papers"],
        absent=["publiclyavailable", "publicly- available", "classi-", "classi fication"],
    )


TABLE_ROWS = [
    ["", "S2ORC", "PMC"],
    ["Papers", "81.1M", "2.6M"],
    ["Papers w/ PDF", "8.1M", "2.3M"],
    ["Paragraphs", "380.5M", "105.4M"],
    ["Citations", "1.2B", "35.7M"],
]


def table_grid(path: Path) -> Expected:
    """A table ruled as a grid of lines, its caption above it, at the top of the right column."""
    title = "Statistics of an\nOpen Research Corpus"
    paper = _Paper(path)
    _standard(paper, title)
    paper.heading("1 Introduction")
    for text in PROSE[:3]:
        paper.paragraph(text)
    paper.next_column()
    caption = "Table 1: Corpus statistics."
    paper.paragraph(caption, indent=0)
    row_height, widths = 15.0, [101.0, 71.0, 71.0]
    grid = paper.block(row_height * len(TABLE_ROWS))
    canvas = paper.canvas
    canvas.setLineWidth(0.5)
    x0, y0, x1, y1 = grid
    for row in range(len(TABLE_ROWS) + 1):
        canvas.line(x0, y1 - row * row_height, x1, y1 - row * row_height)
    x = x0
    for width in [0.0, *widths]:
        x += width
        canvas.line(x, y0, x, y1)
    for row, cells in enumerate(TABLE_ROWS):
        x = x0
        for column, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            font = "Times-Bold" if row == 0 else "Times-Roman"
            canvas.setFont(font, 9.0)
            baseline = y1 - (row + 1) * row_height + 4.5
            if column == 0:
                canvas.drawString(x + 4, baseline, cell)
            else:
                canvas.drawRightString(x + width - 6, baseline, cell)
            x += width
    paper.paragraph(
        "Table 1 lists the size of the corpus. Most papers come with a PDF file of their own, and most of those "
        "files could be parsed into paragraphs with their citations."
    )
    for text in PROSE[3:6]:
        paper.paragraph(text)
    paper.save()
    return Expected(
        path,
        " ".join(title.split()),
        caption=caption,
        absent=["Papers w/ PDF", "81.1M", "8.1M", "2.6M", "380.5M", "105.4M", "1.2B", "35.7M", "Corpus statistics"],
        boxes={"grid": grid},
    )


def vector_figure(path: Path) -> Expected:
    """A bar chart drawn with lines, curves and rectangles (no raster image), its caption below it."""
    title = "How Full Text Improves\nCitation Recommendation"
    paper = _Paper(path)
    _standard(paper, title)
    paper.heading("1 Introduction")
    for text in PROSE[:3]:
        paper.paragraph(text)
    paper.next_column()
    drawing = paper.block(150.0)
    x0, y0, x1, y1 = drawing
    canvas = paper.canvas
    ox, oy, top = x0 + 20, y0 + 14, y1 - 4
    canvas.setLineWidth(0.8)
    canvas.line(ox, oy, ox, top)
    canvas.line(ox, oy, x1 - 2, oy)
    canvas.setFont("Helvetica", 7.0)
    for value, label in ((0.0, "0.0"), (0.5, "0.5"), (1.0, "1.0")):
        y = oy + value * (top - oy - 20)
        canvas.line(ox - 3, y, ox, y)
        canvas.drawRightString(ox - 5, y - 2.5, label)
    heights = [(0.55, 0.40), (0.63, 0.44), (0.71, 0.47), (0.80, 0.52)]
    step = (x1 - ox - 8) / len(heights)
    for index, (full, abstract) in enumerate(heights):
        left = ox + 8 + index * step
        for offset, value, colour in ((0, full, (0.2, 0.4, 0.7)), (14, abstract, (0.9, 0.6, 0.2))):
            canvas.setFillColorRGB(*colour)
            canvas.rect(left + offset, oy, 12, value * (top - oy - 20), stroke=0, fill=1)
        canvas.setFillGray(0)
        canvas.drawCentredString(left + 13, y0 + 3, str(2015 + index))
    path_object = canvas.beginPath()
    path_object.moveTo(ox + 14, oy + 0.58 * (top - oy - 20))
    path_object.curveTo(ox + 80, oy + 0.70 * (top - oy - 20), ox + 140, oy + 0.75 * (top - oy - 20), x1 - 30, top - 16)
    canvas.setStrokeColorRGB(0.3, 0.3, 0.3)
    canvas.setDash(2, 2)
    canvas.drawPath(path_object, stroke=1, fill=0)
    canvas.setDash()
    canvas.setStrokeGray(0)
    for index, (label, colour) in enumerate((("full text", (0.2, 0.4, 0.7)), ("abstract only", (0.9, 0.6, 0.2)))):
        y = top - 8 - index * 10
        canvas.setFillColorRGB(*colour)
        canvas.rect(ox + 12, y, 7, 7, stroke=0, fill=1)
        canvas.setFillGray(0)
        canvas.drawString(ox + 23, y + 1, label)
    caption = "Figure 1: Accuracy by year."
    paper.paragraph(caption, indent=0)
    paper.paragraph(
        "Figure 1 shows that the gap between the two kinds of input grows every year, as more papers become "
        "available in a form that can be parsed."
    )
    for text in PROSE[3:6]:
        paper.paragraph(text)
    paper.save()
    return Expected(
        path,
        " ".join(title.split()),
        caption=caption,
        absent=["full text", "abstract only", "0.5", "1.0", "2016", "Accuracy by year"],
        boxes={"drawing": drawing},
    )


def photo_in_drawing(path: Path) -> Expected:
    """Figure 3, on page 2 across both columns: a raster photo inside a larger drawn diagram (boxes, arrows,
    labels), its caption below."""
    from reportlab.lib.utils import ImageReader

    title = "From PDF Pages\nto Structured Text"
    paper = _Paper(path)
    _standard(paper, title)
    paper.heading("1 Introduction")
    for text in PROSE[:6]:
        paper.paragraph(text)
    paper.new_page()
    diagram = paper.wide_block(170.0)
    x0, y0, x1, y1 = diagram
    canvas = paper.canvas
    photo = (x0 + 120, y0 + 25, x0 + 216, y0 + 145)
    canvas.drawImage(ImageReader(_photo()), photo[0], photo[1], width=96, height=120)
    canvas.setLineWidth(0.8)

    def labelled_box(left: float, bottom: float, width: float, height: float, label: str) -> None:
        canvas.roundRect(left, bottom, width, height, 6, stroke=1, fill=0)
        canvas.setFont("Helvetica", 8.0)
        canvas.drawCentredString(left + width / 2, bottom + height / 2 - 3, label)

    def arrow(start: tuple[float, float], end: tuple[float, float], label: str) -> None:
        (xa, ya), (xb, yb) = start, end
        length = ((xb - xa) ** 2 + (yb - ya) ** 2) ** 0.5
        ux, uy = (xb - xa) / length, (yb - ya) / length
        canvas.line(xa, ya, xb - 6 * ux, yb - 6 * uy)
        tip = canvas.beginPath()
        tip.moveTo(xb, yb)
        tip.lineTo(xb - 7 * ux - 3.5 * uy, yb - 7 * uy + 3.5 * ux)
        tip.lineTo(xb - 7 * ux + 3.5 * uy, yb - 7 * uy - 3.5 * ux)
        tip.close()
        canvas.drawPath(tip, stroke=0, fill=1)
        canvas.setFont("Helvetica-Oblique", 7.0)
        if ya == yb:
            canvas.drawCentredString((xa + xb) / 2, ya + 5, label)
        else:
            canvas.drawString(xa + 5, (ya + yb) / 2 - 2, label)

    middle = (y0 + y1) / 2
    labelled_box(x0, middle - 18, 72, 36, "arXiv, PMC")
    arrow((x0 + 74, middle), (photo[0] - 4, middle), "download")
    canvas.setFont("Helvetica", 8.0)
    canvas.drawCentredString((photo[0] + photo[2]) / 2, photo[1] - 14, "PDF page")
    arrow((photo[2] + 4, middle), (x0 + 271, middle), "parse")
    canvas.setDash(3, 2)
    canvas.roundRect(x0 + 262, y0, 110, y1 - y0, 8, stroke=1, fill=0)  # the stage this paper adds
    canvas.setDash()
    canvas.setFont("Helvetica", 7.0)
    canvas.drawCentredString(x0 + 317, y1 - 14, "extraction")
    labelled_box(x0 + 273, middle - 18, 88, 36, "GROBID")
    labelled_box(x0 + 273, y0 + 12, 88, 36, "Layout model")
    arrow((x0 + 317, y0 + 49), (x0 + 317, middle - 19), "regions")
    arrow((x0 + 363, middle), (x1 - 84, middle), "link")
    labelled_box(x1 - 80, middle - 18, 80, 36, "S2ORC JSON")
    caption = (
        "Figure 3: The extraction pipeline. A page of each PDF (left, a photograph of a printed page here) is "
        "parsed and its paragraphs are linked to the papers they cite."
    )
    paper.paragraph(caption, indent=0, wide=True)
    for text in PROSE[6:]:
        paper.paragraph(text)
    _background(paper, 3)
    paper.save()
    return Expected(
        path,
        " ".join(title.split()),
        caption=caption,
        absent=["Layout model", "S2ORC JSON", "download", "regions"],
        boxes={"diagram": diagram, "photo": photo},
        pages=2,
    )


def bomb_jpeg(width: int, height: int) -> bytes:
    """A real 200x200 JPEG of a few kilobytes whose frame header (SOF0) is edited to declare width x height:
    the classic decompression bomb, which promises gigapixels to any decoder that believes it."""
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (150, 110, 70)).save(buffer, format="JPEG", quality=70)
    data = bytearray(buffer.getvalue())
    at = 2  # after SOI: marker segments, each FF xx and a two-byte length that counts itself
    while data[at : at + 2] != b"\xff\xc0":
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    data[at + 5 : at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")  # after length and precision
    return bytes(data)


def image_bomb(path: Path, *, jpeg: tuple[int, int], declared: tuple[int, int] | None = None) -> Expected:
    """A two-page paper whose page 1 shows a JPEG that declares `jpeg` pixels in its own header but holds 200x200.

    The PDF's image dictionary gives `declared` (reportlab writes the JPEG's own size; a smaller one here means
    only the JPEG's header shows the bomb, as a hostile PDF would have it).
    """
    from reportlab.pdfbase.pdfdoc import PDFImageXObject

    title = "Reading Papers with Pictures"
    picture = path.with_suffix(".jpg")
    picture.write_bytes(bomb_jpeg(*jpeg))
    paper = _Paper(path)
    _standard(paper, title)
    paper.heading("1 Introduction")
    for text in PROSE[:3]:
        paper.paragraph(text)
    x0, y0, _, _ = paper.block(120.0)
    paper.canvas.drawImage(str(picture), x0 + 20, y0, width=120, height=120)  # the JPEG's bytes, as they are
    if declared is not None:
        for embedded in paper.canvas._doc.idToObject.values():
            if isinstance(embedded, PDFImageXObject):
                embedded.width, embedded.height = declared
    paper.new_page()
    paper.heading("2 Method")
    for text in PROSE[3:6]:
        paper.paragraph(text)
    paper.save()
    return Expected(path, title, AUTHORS, ABSTRACT, phrases=[PROSE[0].split(".")[0], PROSE[5].split(".")[0]], pages=2)


TRAPS: dict[str, Any] = {
    "form_xobject": form_xobject,
    "rotated_stamp": rotated_stamp,
    "bold_numbered_headings": bold_numbered_headings,
    "author_block": author_block,
    "footnotes": footnotes,
    "ligatures_accents": ligatures_accents,
    "hyphenation": hyphenation,
    "table_grid": table_grid,
    "vector_figure": vector_figure,
    "photo_in_drawing": photo_in_drawing,
}
