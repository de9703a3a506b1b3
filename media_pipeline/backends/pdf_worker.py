"""Reads one PDF in a child process of its own (see media_pipeline.backends.pdf), under limits set by the parent.

A hostile PDF (a stream that inflates to gigabytes, a reference loop, a parser trap) can only exhaust this
process: the parent sets its memory, CPU time and file size limits and kills it at a wall-clock timeout.
It imports no Django. Usage: python -m media_pipeline.backends.pdf_worker IN.pdf OUTDIR MAX_PAGES MEMORY_MB CPU_S
to read, or ... render IN.pdf OUTDIR REQUESTS.json MEMORY_MB CPU_S to cut regions out of pages as PNGs.

It writes OUTDIR/result.json: {"ok": true, "pages": [...], "info": {...}, "warnings": [...]} with each page's
text lines (text, box, font size, bold) grouped in the boxes pdfminer's layout analysis found, and the page's
images (saved as PNG files in OUTDIR with their boxes), and what was left out (an image that declares more
pixels than MAX_IMAGE_PIXELS: a decompression bomb fails that image, never the paper); or
{"ok": false, "kind": ..., "message": ...}.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

MIN_IMAGE_SIDE = 96  # smaller images are logos, icons and bullets, not figures
MAX_IMAGES = 80
MAX_IMAGE_PIXELS = 40_000_000  # an image that declares more is left out, undecoded, with a warning
MAX_WARNINGS = 20
RENDER_SCALE = 200 / 72  # figures cut out at 200 dpi
RENDER_MAX_SIDE = 2400  # pixels, however large the figure
MAX_GRAPHICS = 4000  # drawn objects kept per page (table rules, plot marks); more says nothing new


def _fail(out: Path, kind: str, message: str) -> int:
    (out / "result.json").write_text(json.dumps({"ok": False, "kind": kind, "message": message}))
    return 0


def _decode_text(value: Any) -> str:
    from pdfminer.psparser import PSLiteral
    from pdfminer.utils import decode_text

    if isinstance(value, bytes):
        return decode_text(value)
    if isinstance(value, PSLiteral):
        return str(value.name)
    return str(value) if isinstance(value, str | int | float) else ""


def _info(document: Any) -> dict[str, str]:
    from pdfminer.pdftypes import resolve1

    info: dict[str, str] = {}
    for raw in document.info or []:
        entry = resolve1(raw)
        if not isinstance(entry, dict):
            continue
        for key in ("Title", "Author", "Subject", "Keywords"):
            if key in entry and key.lower() not in info:
                info[key.lower()] = _decode_text(resolve1(entry[key])).strip()
    return info


MARK = "\u2063"  # stands where a superscript was dropped (see media_pipeline.stages.pdftext.MARK)
_BOLD = re.compile(
    r"bold|black|heavy|semibold|demi|medi(?:um)?\b|[-_,]bd|bd$|cmbx|cmb\d|sfbx|cmssbx|libertinetb|biolinumtb|\.b$"
)


def font_is_bold(fontname: str) -> bool:
    """Bold by the font's PostScript name: Times "-Bold", Nimbus "-Medi", TeX "CMBX10", Libertine "TB"..."""
    name = fontname.split("+", 1)[-1].lower()
    return bool(_BOLD.search(name))


def _line(line: Any) -> dict[str, Any] | None:
    """One text line: its text without superscripts (footnote and affiliation marks), box, size and weight.

    None for a line set sideways (a rotated arXiv stamp in the margin, a rotated table): a listener never
    hears those, and their glyphs would pass for the largest text on the page.
    """
    from pdfminer.layout import LTChar

    chars = [c for c in line if isinstance(c, LTChar)]
    visible = [c for c in chars if c.get_text().strip()]
    if not visible:
        return None
    if sum(1 for c in visible if not c.upright) * 2 > len(visible):
        return None
    size = statistics.median(round(c.size, 1) for c in visible)
    baseline = statistics.median(round(c.y0, 1) for c in visible if c.size >= size * 0.9)
    parts: list[str] = []
    dropped = 0
    for item in line:
        text = item.get_text()
        if isinstance(item, LTChar) and text.strip() and item.size < size * 0.8 and item.y0 > baseline + size * 0.2:
            dropped += 1
            if parts[-1:] != [MARK]:
                parts.append(MARK)
            continue  # a superscript: a footnote or affiliation mark, an exponent
        parts.append(text)
    text = "".join(parts).rstrip("\n")
    if not text.strip():
        return None
    bold = sum(1 for c in visible if font_is_bold(c.fontname))
    fonts = statistics.mode(c.fontname.split("+", 1)[-1] for c in visible)
    return {
        "text": text,
        "box": [round(v, 1) for v in line.bbox],
        "size": size,
        "bold": bold / len(visible) > 0.6,
        "font": fonts,
        "marks": dropped,
    }


def _lines(box: Any) -> list[dict[str, Any]]:
    from pdfminer.layout import LTTextLine

    return [found for item in box if isinstance(item, LTTextLine) and (found := _line(item)) is not None]


_SPACES = {
    "DeviceRGB": ("RGB", 3), "RGB": ("RGB", 3), "CalRGB": ("RGB", 3),
    "DeviceGray": ("L", 1), "G": ("L", 1), "CalGray": ("L", 1),
    "DeviceCMYK": ("CMYK", 4), "CMYK": ("CMYK", 4),
}  # fmt: skip
_BY_COMPONENTS = {1: ("L", 1), 3: ("RGB", 3), 4: ("CMYK", 4)}


def _components(colorspace: Any) -> tuple[str, int] | None:
    """(mode, components) of an image's colour space: RGB 3, gray 1, CMYK 4; None for what is not handled
    (indexed palettes, separations, patterns)."""
    from pdfminer.pdftypes import resolve1
    from pdfminer.psparser import PSLiteral

    for entry in colorspace if isinstance(colorspace, list) else [colorspace]:
        value = resolve1(entry)
        if isinstance(value, PSLiteral):
            return _SPACES.get(str(value.name))
        if isinstance(value, list) and value:
            head = resolve1(value[0])
            if isinstance(head, PSLiteral) and head.name == "ICCBased" and len(value) > 1:
                return _BY_COMPONENTS.get(int(resolve1(resolve1(value[1]).get("N", 3))))
            return _components(value)
    return None


class _TooManyPixels(Exception):
    """An image declares more pixels than papercast decodes: a decompression bomb (a few kilobytes whose header
    promises gigapixels), or a scan too large to be any use. `size` is the declared (width, height) when known."""

    def __init__(self, size: tuple[int, int] | None) -> None:
        super().__init__(f"{size[0]}x{size[1]}" if size else "too many")
        self.size = size


def _decode(image: Any) -> Any:
    """The image as a Pillow image (JPEG and JPEG 2000 as they are; raw samples by their colour space).

    Raises _TooManyPixels before decoding an encoded image whose own header declares more than MAX_IMAGE_PIXELS,
    whatever size the PDF's image dictionary gave it.
    """
    import io

    from pdfminer.pdftypes import LITERALS_DCT_DECODE, LITERALS_JPX_DECODE
    from PIL import Image, ImageChops

    filters = [name for name, _ in image.stream.get_filters()]
    data = image.stream.get_data()
    if filters and (filters[-1] in LITERALS_DCT_DECODE or filters[-1] in LITERALS_JPX_DECODE):
        try:
            picture = Image.open(io.BytesIO(data))  # reads the header only; load() decodes
        except Image.DecompressionBombError:
            raise _TooManyPixels(None) from None  # over twice MAX_IMAGE_PIXELS: Pillow does not even open it
        # Between the limit and twice it, Pillow only warns (and main() ignores warnings): check here.
        if picture.width * picture.height > MAX_IMAGE_PIXELS:
            raise _TooManyPixels(picture.size)
        picture.load()
        return ImageChops.invert(picture) if picture.mode == "CMYK" else picture
    width, height = (int(v) for v in image.srcsize)
    shape = _components(image.colorspace)
    if shape is None:
        return None
    mode, components = shape
    if image.bits == 1 and components == 1:
        needed = (width + 7) // 8 * height
        return Image.frombytes("1", (width, height), data[:needed]) if len(data) >= needed else None
    if image.bits != 8:
        return None
    needed = width * height * components
    return Image.frombytes(mode, (width, height), data[:needed]) if len(data) >= needed else None


def _save_image(image: Any, out: Path, name: str) -> tuple[str, int, int] | None:
    """The image as a PNG in OUTDIR, or None when it is too small or cannot be decoded.

    Raises _TooManyPixels, before anything is decoded, for an image that declares more than MAX_IMAGE_PIXELS
    (in the PDF's image dictionary or in its own JPEG header): the caller leaves it out and says so.
    """
    from pdfminer.pdfexceptions import PDFException
    from pdfminer.psexceptions import PSException
    from PIL import Image

    width, height = (int(v) for v in image.srcsize) if image.srcsize else (0, 0)
    if width * height > MAX_IMAGE_PIXELS:
        raise _TooManyPixels((width, height))
    if min(width, height) < MIN_IMAGE_SIDE:
        return None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        picture = _decode(image)
        if picture is None:
            return None
        converted = picture.convert("RGBA" if "A" in picture.mode else "RGB")
        converted.save(out / f"{name}.png", format="PNG")
    except (OSError, ValueError, SyntaxError, TypeError, KeyError, zlib.error, PDFException, PSException):
        return None  # an undecodable image is left out; the text still counts
    return f"{name}.png", converted.size[0], converted.size[1]


class _Refused(Exception):
    """The PDF cannot be read at all; `code` and the message go to the parent as they are."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _open(handle: Any) -> Any:
    """The parsed document, or _Refused for a file that is not a PDF, is encrypted or forbids extraction."""
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFParser

    if b"%PDF-" not in handle.read(1024):
        raise _Refused("not_pdf", "The file is not a PDF (it does not start with %PDF-).")
    handle.seek(0)
    try:
        document = PDFDocument(PDFParser(handle), password="")
    except PDFPasswordIncorrect:
        raise _Refused("encrypted", "The PDF is protected by a password.") from None
    except PDFEncryptionError as exc:
        raise _Refused("encrypted", f"The PDF is encrypted in a way papercast cannot read ({exc}).") from None
    if not document.is_extractable:
        raise _Refused("encrypted", "The PDF's permissions forbid extracting its text.")
    return document


def _rounded(bbox: Any) -> list[float]:
    return [round(v, 1) for v in bbox]


def _collect(item: Any, page_area: float, found: dict[str, list[Any]], in_figure: bool = False) -> None:
    """Sort a layout item into text boxes, images and drawn graphics, descending into form XObjects.

    A form XObject that covers most of the page is the page's text put in a form (some publishers' PDFs):
    its text is body text. A smaller one is an embedded figure (a plot included from a PDF): its text is
    figure text, kept apart from the prose, and its box counts as drawn graphics.
    """
    from pdfminer.layout import LTCurve, LTFigure, LTImage, LTTextBox, LTTextLine

    if isinstance(item, LTTextBox):
        found["boxes"].append((item, in_figure))
    elif isinstance(item, LTTextLine):
        found["loose"].append((item, in_figure))
    elif isinstance(item, LTImage):
        found["images"].append(item)
    elif isinstance(item, LTCurve):
        found["graphics"].append(item.bbox)
    elif isinstance(item, LTFigure):
        area = max(item.width, 0) * max(item.height, 0)
        small = area < page_area * 0.5
        if small:
            found["graphics"].append(item.bbox)
        for child in item:
            _collect(child, page_area, found, in_figure or small)


def _left_out(number: int, size: tuple[int, int] | None) -> str:
    declared = f"{size[0]}x{size[1]} pixels" if size else f"over {2 * MAX_IMAGE_PIXELS:,} pixels"
    return (
        f"An image on page {number} was left out: it declares {declared}, and papercast decodes at most "
        f"{MAX_IMAGE_PIXELS:,}. It may be built to exhaust memory (a decompression bomb)."
    )


def _page(layout: Any, number: int, out: Path, budget: int, notes: list[str]) -> dict[str, Any]:
    """One laid-out page: its text boxes with their lines, up to `budget` of its images saved as PNG, and the
    boxes of everything drawn (lines, curves, rectangles, embedded figures), which locate vector figures.

    An image that declares too many pixels is left out (its box stays) and a line saying so goes to `notes`.
    """
    found: dict[str, list[Any]] = {"boxes": [], "loose": [], "images": [], "graphics": []}
    for item in layout:
        _collect(item, layout.width * layout.height, found)
    boxes: list[dict[str, Any]] = []
    for item, in_figure in found["boxes"]:
        lines = _lines(item)
        if lines:
            boxes.append({"box": _rounded(item.bbox), "lines": lines, "in_figure": in_figure})
    for item, in_figure in found["loose"]:
        line = _line(item)
        if line is not None:
            boxes.append({"box": _rounded(item.bbox), "lines": [line], "in_figure": in_figure})
    images: list[dict[str, Any]] = []
    for image in found["images"]:
        entry: dict[str, Any] = {"file": None, "box": _rounded(image.bbox), "width": 0, "height": 0}
        if len([i for i in images if i["file"]]) < budget:
            try:
                stored = _save_image(image, out, f"image-{number:04d}-{len(images):03d}")
            except _TooManyPixels as refused:
                notes.append(_left_out(number, refused.size))
                stored = None
            if stored is not None:
                entry["file"], entry["width"], entry["height"] = stored
        images.append(entry)
    graphics = [_rounded(g) for g in found["graphics"] if g[2] - g[0] < layout.width * 0.98 or g[3] - g[1] < 20]
    return {
        "number": number,
        "size": [round(layout.width, 1), round(layout.height, 1)],
        "origin": [round(layout.x0, 1), round(layout.y0, 1)],
        "boxes": boxes,
        "images": images,
        "graphics": graphics[:MAX_GRAPHICS],
    }


def _outline(document: Any) -> list[dict[str, Any]]:
    """The PDF's bookmarks (hyperref makes them from the sections), as [{level, title}]; empty without."""
    from pdfminer.pdfdocument import PDFNoOutlines

    found: list[dict[str, Any]] = []
    try:
        for level, title, *_ in document.get_outlines():
            text = _decode_text(title).strip()
            if text:
                found.append({"level": int(level), "title": text[:300]})
            if len(found) >= 500:
                break
    except PDFNoOutlines:
        return []
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        return []  # a damaged outline is no reason to refuse the paper
    return found


def read(pdf: Path, out: Path, max_pages: int) -> int:
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    with pdf.open("rb") as handle:
        try:
            document = _open(handle)
        except _Refused as refused:
            return _fail(out, refused.code, str(refused))
        info = _info(document)
        outline = _outline(document)
        manager = PDFResourceManager(caching=True)
        # all_texts: text inside form XObjects is laid out too (some publishers put every page in one).
        params = LAParams(line_margin=0.4, boxes_flow=0.5, all_texts=True)
        device = PDFPageAggregator(manager, laparams=params)
        interpreter = PDFPageInterpreter(manager, device)
        pages: list[dict[str, Any]] = []
        notes: list[str] = []
        saved_images = 0
        for number, page in enumerate(PDFPage.create_pages(document), start=1):
            if number > max_pages:
                return _fail(out, "too_long", f"The PDF has more than {max_pages} pages.")
            interpreter.process_page(page)
            pages.append(_page(device.get_result(), number, out, MAX_IMAGES - saved_images, notes))
            saved_images += len([i for i in pages[-1]["images"] if i["file"]])
    if len(notes) > MAX_WARNINGS:  # a PDF of a thousand bombs needs no thousand lines
        more = len(notes) - MAX_WARNINGS
        notes = [*notes[:MAX_WARNINGS], f"{more} more images were left out for declaring too many pixels."]
    result = {"ok": True, "info": info, "outline": outline, "pages": pages, "warnings": notes}
    (out / "result.json").write_text(json.dumps(result))
    return 0


def limit(memory_mb: int, cpu_seconds: int) -> None:
    """Cap this process before it reads anything: address space, CPU time, and the size of files it writes."""
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024 * 1024, 256 * 1024 * 1024))


def render(pdf: Path, out: Path, requests: list[dict[str, Any]]) -> int:
    """Cut regions out of pages as PNGs (figures and tables, vector drawings included) with pdfium.

    Each request: {"page": n (1-based), "box": [x0, y0, x1, y1] in PDF points from the page's origin,
    "origin": [x, y], "file": name}. Writes OUTDIR/regions.json: {"ok": true, "sizes": {file: [w, h]}}.
    """
    import pypdfium2 as pdfium

    sizes: dict[str, list[int]] = {}
    document = pdfium.PdfDocument(str(pdf))
    try:
        for request in requests:
            page = document[int(request["page"]) - 1]
            width, height = page.get_size()
            x0, y0, x1, y1 = (float(v) for v in request["box"])
            ox, oy = (float(v) for v in request.get("origin", [0.0, 0.0]))
            crop = (max(x0 - ox, 0), max(y0 - oy, 0), max(width - (x1 - ox), 0), max(height - (y1 - oy), 0))
            longest = max(x1 - x0, y1 - y0, 1.0)
            scale = min(RENDER_SCALE, RENDER_MAX_SIDE / longest)
            bitmap = page.render(scale=scale, crop=crop)
            picture = bitmap.to_pil().convert("RGB")
            picture.save(out / str(request["file"]), format="PNG")
            sizes[str(request["file"])] = [picture.width, picture.height]
            page.close()
    finally:
        document.close()
    (out / "regions.json").write_text(json.dumps({"ok": True, "sizes": sizes}))
    return 0


def main(argv: list[str]) -> int:
    if argv[1] == "render":
        pdf, out = Path(argv[2]), Path(argv[3])
        limit(int(argv[5]), int(argv[6]))
        return render(pdf, out, json.loads(Path(argv[4]).read_text()))
    pdf, out, max_pages = Path(argv[1]), Path(argv[2]), int(argv[3])
    limit(int(argv[4]), int(argv[5]))
    warnings.simplefilter("ignore")
    from pdfminer.pdfexceptions import PDFException
    from pdfminer.psexceptions import PSException

    try:
        return read(pdf, out, max_pages)
    except MemoryError:
        return _fail(out, "memory", "Reading the PDF needed more memory than allowed.")
    except (PDFException, PSException) as exc:
        return _fail(
            out, "malformed", f"The PDF is damaged or not a PDF papercast can read ({type(exc).__name__}: {exc})."
        )
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError, AssertionError) as exc:
        return _fail(out, "malformed", f"The PDF is damaged ({type(exc).__name__}: {exc}).")
    except RecursionError:
        return _fail(out, "malformed", "The PDF's structure loops on itself.")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
