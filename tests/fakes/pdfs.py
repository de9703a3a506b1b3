"""PDFs the tests make: a small two-column-free paper with sections, pages and captioned figures (reportlab),
and the hostile ones: encrypted, scanned (image only), truncated, and a decompression bomb written by hand."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

TITLE = "Quorum Sensing in Honeybee Swarms"
AUTHORS = ["Ada Lovelace", "Alan Turing"]
ABSTRACT = (
    "Honeybee swarms choose a new home by a distributed vote. We model the scouts' waggle dances as a race "
    "between competing sites. The model predicts that swarms pick the best site in 90% of trials."
)
INTRODUCTION = [
    "When a colony outgrows its hive, about ten thousand bees leave with their queen and cluster on a "
    "branch. A few hundred scouts search the countryside for cavities.",
    "Each scout that finds a promising cavity returns and dances for it. Figure 1 shows the dance of one "
    "scout, recorded over ten minutes.",
]
METHODS = [
    "We recorded 40 swarms, e.g. in orchards and forests, and counted dancing scouts every 5 minutes. The "
    "detection threshold was 3 x10^3 lux.",
    "The vote ends when a quorum of about 20 scouts gathers at one site. As Fig. 2 shows, the quorum is "
    "reached faster when the best site is much better than the others.",
]
RESULTS = [
    "Swarms chose the best site in 36 of 40 trials. Support for poor sites faded within an hour.",
]
REFERENCES = ["[1] T. D. Seeley. Honeybee Democracy. Princeton University Press, 2010."]


def _figure_png(colour: tuple[int, int, int], label: str) -> io.BytesIO:
    image = Image.new("RGB", (480, 300), colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, 480, 40):
        draw.line([(i, 300), (i + 120, 0)], fill=(255, 255, 255), width=4)
    draw.text((20, 20), label, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def make_paper_pdf(path: Path, *, encrypt: str | None = None, title_in_metadata: bool = True) -> Path:
    """A three-page paper: title, authors, abstract, sections, two captioned figures, references."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(
        str(path),
        pagesize=letter,
        title=TITLE if title_in_metadata else "",
        author=", ".join(AUTHORS) if title_in_metadata else "",
        encrypt=encrypt,
    )
    story = [
        Paragraph(TITLE, styles["Title"]),
        Paragraph(" and ".join(AUTHORS), styles["Normal"]),
        Spacer(1, 0.2 * inch),
        Paragraph("Abstract", styles["Heading2"]),
        Paragraph(ABSTRACT, styles["BodyText"]),
        Paragraph("1 Introduction", styles["Heading1"]),
        *[Paragraph(p, styles["BodyText"]) for p in INTRODUCTION],
        RLImage(_figure_png((200, 120, 40), "dance"), width=4 * inch, height=2.5 * inch),
        Paragraph("Figure 1: A scout's waggle dance, traced over ten minutes.", styles["BodyText"]),
        PageBreak(),
        Paragraph("2 Methods", styles["Heading1"]),
        *[Paragraph(p, styles["BodyText"]) for p in METHODS],
        RLImage(_figure_png((40, 120, 200), "quorum"), width=4 * inch, height=2.5 * inch),
        Paragraph("Figure 2: Time to quorum against the quality gap between sites.", styles["BodyText"]),
        PageBreak(),
        Paragraph("3 Results", styles["Heading1"]),
        *[Paragraph(p, styles["BodyText"]) for p in RESULTS],
        Paragraph("References", styles["Heading1"]),
        *[Paragraph(p, styles["BodyText"]) for p in REFERENCES],
    ]
    doc.build(story)
    return path


def make_scanned_pdf(path: Path) -> Path:
    """Pages that are pictures of text, with no text layer: what a scanner makes."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    page = Image.new("RGB", (850, 1100), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    for row in range(60, 1040, 24):
        draw.text((60, row), "Scanned text that only an OCR engine could read.", fill=(0, 0, 0))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    drawing = canvas.Canvas(str(path), pagesize=letter)
    for _ in range(2):
        buffer.seek(0)
        drawing.drawImage(ImageReader(buffer), 0, 0, width=letter[0], height=letter[1])
        drawing.showPage()
    drawing.save()
    return path


def make_truncated_pdf(path: Path, source: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_bomb_pdf(path: Path, inflated_mb: int = 1500) -> Path:
    """A valid one-page PDF whose content stream is a few MB compressed and `inflated_mb` MB inflated."""
    compressor = zlib.compressobj(9)
    block = b" " * (16 * 1024 * 1024)
    parts = [compressor.compress(block) for _ in range(inflated_mb // 16)]
    return _one_page_pdf(path, b"".join(parts) + compressor.flush())


def make_stalling_pdf(path: Path, operators: int = 2_000_000) -> Path:
    """A one-page PDF of about 60 KB whose content stream is millions of drawing operators: slow to read."""
    return _one_page_pdf(path, zlib.compress(b"1 0 0 1 0 0 cm\n" * operators, 9))


def _one_page_pdf(path: Path, stream: bytes) -> Path:
    """A PDF written by hand around one compressed content stream."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    path.write_bytes(out.getvalue())
    return path
