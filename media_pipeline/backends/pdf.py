"""Reading a PDF safely: pdfminer.six (MIT) in a child process with a timeout and memory, CPU and file limits.

The child (media_pipeline.backends.pdf_worker) reports the text lines and images of each page; what a PDF
cannot be (encrypted, damaged, too long, too large, a bomb that inflates past the memory limit, too slow)
becomes a PermanentError that says so and what to do. The same file always fails the same way, so none of
these is retried.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from media_pipeline.backends import process
from media_pipeline.backends.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)
_WORKER = "media_pipeline.backends.pdf_worker"
_EXPLAINED = {
    "encrypted": "Remove the password (print it to a new PDF, or `qpdf --decrypt`) and upload it again.",
    "malformed": "Save it again from the program that made it, or print it to a new PDF.",
    "not_pdf": "Upload the paper as a PDF, or as a text or Markdown file.",
    "too_long": "Split it, or raise PAPERCAST_PDF_MAX_PAGES.",
    "memory": "It may be built to exhaust memory (a compressed stream that inflates to gigabytes).",
}


def read_pdf(path: Path, out_dir: Path) -> dict[str, Any]:
    """The pages of the PDF at `path` (text lines, images saved as PNGs in out_dir), its info dictionary, and
    `warnings`: what was left out and why (an image that declares more pixels than the reader decodes)."""
    size = path.stat().st_size
    limit = settings.PAPERCAST_PDF_MAX_MB * 1024 * 1024
    if size > limit:
        raise PermanentError(
            f"The PDF is {size / 1e6:.0f} MB; papercast reads PDFs of up to {settings.PAPERCAST_PDF_MAX_MB} MB "
            "(PAPERCAST_PDF_MAX_MB). Compress its images or split it."
        )
    if size == 0:
        raise PermanentError("The PDF file is empty.")
    timeout = float(settings.PAPERCAST_PDF_TIMEOUT)
    args = [
        sys.executable,
        "-m",
        _WORKER,
        str(path),
        str(out_dir),
        str(settings.PAPERCAST_PDF_MAX_PAGES),
        str(settings.PAPERCAST_PDF_MEMORY_MB),
        str(int(timeout) + 5),
    ]
    try:
        done = process.run(args, timeout=timeout)
    except TransientError:
        raise PermanentError(
            f"Reading the PDF took longer than {timeout:.0f} s (PAPERCAST_PDF_TIMEOUT) and was stopped. "
            "It may be built to stall readers; print it to a new PDF and upload that."
        ) from None
    result_file = out_dir / "result.json"
    if not result_file.is_file():
        raise PermanentError(_died(done.returncode, done.stderr))
    result: dict[str, Any] = json.loads(result_file.read_text())
    if not result.get("ok"):
        kind = str(result.get("kind", "malformed"))
        raise PermanentError(f"{result.get('message', 'The PDF cannot be read.')} {_EXPLAINED.get(kind, '')}".strip())
    result["warnings"] = [str(w) for w in result.get("warnings", [])]
    for warning in result["warnings"]:
        logger.warning("%s: %s", path.name, warning)
    return result


def cut_regions(path: Path, out_dir: Path, requests: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Render page regions (figures, tables) to PNG files in out_dir, in the same sandboxed child; returns
    each written file's pixel size. A region that cannot be rendered is left out, never the paper."""
    if not requests:
        return {}
    spec = out_dir / "regions-request.json"
    spec.write_text(json.dumps(requests))
    timeout = float(settings.PAPERCAST_PDF_TIMEOUT)
    args = [sys.executable, "-m", _WORKER, "render", str(path), str(out_dir), str(spec),
            str(settings.PAPERCAST_PDF_MEMORY_MB), str(int(timeout) + 5)]  # fmt: skip
    try:
        process.run(args, timeout=timeout)
    except TransientError:
        logger.warning("Cutting figures out of %s took longer than %.0f s; they are left out.", path.name, timeout)
        return {}
    result_file = out_dir / "regions.json"
    if not result_file.is_file():
        logger.warning("Cutting figures out of %s failed; they are left out.", path.name)
        return {}
    sizes: dict[str, list[int]] = json.loads(result_file.read_text()).get("sizes", {})
    return sizes


def _died(returncode: int, stderr: bytes) -> str:
    memory = settings.PAPERCAST_PDF_MEMORY_MB
    tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    if returncode in (-9, -24, 137, 152) or "MemoryError" in tail[0]:
        return (
            f"Reading the PDF needed more than {memory} MB of memory or its CPU time limit, and was stopped "
            "(PAPERCAST_PDF_MEMORY_MB). It may be built to exhaust memory (a stream that inflates to gigabytes); "
            "print it to a new PDF and upload that."
        )
    return f"The PDF reader stopped unexpectedly (exit status {returncode}): {tail[0][:300]}"
