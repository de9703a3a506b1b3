"""PNG files: checking that bytes are one sane PNG, and provenance as text chunks added to a PNG without
decoding or re-encoding its pixels.

PNG has no EXIF UserComment the way JPEG has; its place is tEXt/iTXt chunks, which image viewers, exiftool
and the WebUIs' "PNG info" tabs show. Chunks with papercast's keys are replaced; the rest are kept (a
WebUI's own `parameters` chunk, for example).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

from PIL import Image as PILImage

from media_pipeline.backends.errors import PermanentError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_PIXELS = 64_000_000
MAX_IMAGE_BYTES = 64 * 1024 * 1024


class NotPNG(ValueError):
    pass


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(SIGNATURE):
        raise NotPNG("not a PNG file (bad signature)")
    chunks, pos = [], len(SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise NotPNG("truncated chunk header")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise NotPNG(f"truncated {kind!r} chunk")
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos = end
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise NotPNG("missing IHDR or IEND")
    return chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _text_key(kind: bytes, payload: bytes) -> str | None:
    if kind in (b"tEXt", b"iTXt", b"zTXt"):
        return payload.split(b"\0", 1)[0].decode("latin-1")
    return None


def with_text(data: bytes, items: dict[str, str]) -> bytes:
    """The same PNG with `items` as iTXt chunks (UTF-8) right after IHDR, replacing chunks of those keys."""
    chunks = _chunks(data)
    out = [SIGNATURE, _chunk(*chunks[0])]
    for key, value in items.items():
        # iTXt: keyword, 0, compression flag 0, method 0, empty language tag, 0, empty translated keyword, 0, text
        payload = key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")
        out.append(_chunk(b"iTXt", payload))
    for kind, payload in chunks[1:]:
        if _text_key(kind, payload) in items:
            continue
        out.append(_chunk(kind, payload))
    return b"".join(out)


def verify_png(data: bytes) -> tuple[int, int]:
    """Check that bytes are one sane PNG image; returns its size. Raises PermanentError otherwise."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PermanentError(f"The image backend returned {len(data)} bytes, more than papercast accepts.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                if probe.format != "PNG":
                    raise PermanentError(f"The image backend returned {probe.format}, not PNG.")
                width, height = probe.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise PermanentError(f"The image is {width}x{height}, larger than papercast accepts.")
                probe.verify()
            # verify() checks the chunks; decoding checks the pixel data (a truncated IDAT passes verify).
            with PILImage.open(io.BytesIO(data)) as full:
                full.load()
    except PermanentError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        PILImage.DecompressionBombError,
        PILImage.DecompressionBombWarning,
    ) as exc:
        raise PermanentError(f"The image backend returned bytes that are not a valid image: {exc}") from exc
    return width, height
