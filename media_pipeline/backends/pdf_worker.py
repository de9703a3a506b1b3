"""Reads one PDF in a child process of its own (see media_pipeline.backends.pdf), under limits set by the parent.

A hostile PDF (a stream that inflates to gigabytes, a reference loop, a parser trap) can only exhaust this
process: the parent sets its memory, CPU time and file size limits and kills it at a wall-clock timeout.
It imports no Django. Usage: python -m media_pipeline.backends.pdf_worker IN.pdf OUTDIR MAX_PAGES MEMORY_MB CPU_S

It writes OUTDIR/result.json: {"ok": true, "pages": [...], "info": {...}} with each page's text lines
(text, box, font size, bold) grouped in the boxes pdfminer's layout analysis found, and the page's images
(saved as PNG files in OUTDIR with their boxes); or {"ok": false, "kind": ..., "message": ...}.
"""

from __future__ import annotations

import json
import statistics
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

MIN_IMAGE_SIDE = 96  # smaller images are logos, icons and bullets, not figures
MAX_IMAGES = 80
MAX_IMAGE_PIXELS = 40_000_000


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


def _lines(box: Any) -> list[dict[str, Any]]:
    from pdfminer.layout import LTChar, LTTextLine

    lines = []
    for line in box:
        if not isinstance(line, LTTextLine):
            continue
        text = line.get_text().rstrip("\n")
        if not text.strip():
            continue
        chars = [c for c in line if isinstance(c, LTChar)]
        sizes = [round(c.size, 1) for c in chars if c.get_text().strip()]
        bold = sum(1 for c in chars if "bold" in c.fontname.lower() or "black" in c.fontname.lower())
        lines.append(
            {
                "text": text,
                "box": [round(v, 1) for v in line.bbox],
                "size": statistics.median(sizes) if sizes else 0.0,
                "bold": bool(chars) and bold / len(chars) > 0.6,
            }
        )
    return lines


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


def _decode(image: Any) -> Any:
    """The image as a Pillow image (JPEG and JPEG 2000 as they are; raw samples by their colour space)."""
    import io

    from pdfminer.pdftypes import LITERALS_DCT_DECODE, LITERALS_JPX_DECODE
    from PIL import Image, ImageChops

    filters = [name for name, _ in image.stream.get_filters()]
    data = image.stream.get_data()
    if filters and (filters[-1] in LITERALS_DCT_DECODE or filters[-1] in LITERALS_JPX_DECODE):
        picture = Image.open(io.BytesIO(data))
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
    """The image as a PNG in OUTDIR, or None when it is too small, too large or cannot be decoded."""
    from pdfminer.pdfexceptions import PDFException
    from pdfminer.psexceptions import PSException
    from PIL import Image

    width, height = (int(v) for v in image.srcsize) if image.srcsize else (0, 0)
    if min(width, height) < MIN_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
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


def _walk_images(item: Any) -> list[Any]:
    from pdfminer.layout import LTContainer, LTImage

    if isinstance(item, LTImage):
        return [item]
    if isinstance(item, LTContainer):
        found: list[Any] = []
        for child in item:
            found.extend(_walk_images(child))
        return found
    return []


def read(pdf: Path, out: Path, max_pages: int) -> int:
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextBox
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    with pdf.open("rb") as handle:
        head = handle.read(1024)
        if b"%PDF-" not in head:
            return _fail(out, "not_pdf", "The file is not a PDF (it does not start with %PDF-).")
        handle.seek(0)
        parser = PDFParser(handle)
        try:
            document = PDFDocument(parser, password="")
        except PDFPasswordIncorrect:
            return _fail(out, "encrypted", "The PDF is protected by a password.")
        except PDFEncryptionError as exc:
            return _fail(out, "encrypted", f"The PDF is encrypted in a way papercast cannot read ({exc}).")
        if not document.is_extractable:
            return _fail(out, "encrypted", "The PDF's permissions forbid extracting its text.")
        info = _info(document)
        manager = PDFResourceManager(caching=True)
        device = PDFPageAggregator(manager, laparams=LAParams(line_margin=0.4, boxes_flow=0.5))
        interpreter = PDFPageInterpreter(manager, device)
        pages: list[dict[str, Any]] = []
        saved_images = 0
        for number, page in enumerate(PDFPage.create_pages(document), start=1):
            if number > max_pages:
                return _fail(out, "too_long", f"The PDF has more than {max_pages} pages.")
            interpreter.process_page(page)
            layout = device.get_result()
            boxes: list[dict[str, Any]] = []
            images: list[dict[str, Any]] = []
            for item in layout:
                if isinstance(item, LTTextBox):
                    lines = _lines(item)
                    if lines:
                        boxes.append({"box": [round(v, 1) for v in item.bbox], "lines": lines})
                for image in _walk_images(item):
                    if saved_images >= MAX_IMAGES:
                        break
                    stored = _save_image(image, out, f"image-{number:04d}-{len(images):03d}")
                    if stored is not None:
                        saved_images += 1
                        name, width, height = stored
                        images.append(
                            {"file": name, "box": [round(v, 1) for v in image.bbox], "width": width, "height": height}
                        )
            pages.append(
                {
                    "number": number,
                    "size": [round(layout.width, 1), round(layout.height, 1)],
                    "boxes": boxes,
                    "images": images,
                }
            )
    (out / "result.json").write_text(json.dumps({"ok": True, "info": info, "pages": pages}))
    return 0


def limit(memory_mb: int, cpu_seconds: int) -> None:
    """Cap this process before it reads anything: address space, CPU time, and the size of files it writes."""
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024 * 1024, 256 * 1024 * 1024))


def main(argv: list[str]) -> int:
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
