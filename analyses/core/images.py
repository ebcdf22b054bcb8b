"""Small images inside self-contained HTML pages: an RGB array as a PNG file (written with
zlib, no imaging library) and as an ``<img>`` tag holding it as a data URI."""

from __future__ import annotations

import base64
import html
import struct
import zlib

import numpy as np
from jaxtyping import UInt8


def png(image: UInt8[np.ndarray, "h w 3"]) -> bytes:
    """``image`` as a PNG file (8-bit RGB, no compression tricks)."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def img_tag(image: UInt8[np.ndarray, "h w 3"], title: str, width: int | None = None) -> str:
    """An ``<img>`` showing ``image`` (``width`` CSS pixels wide, drawn without smoothing)."""
    data = base64.b64encode(png(np.ascontiguousarray(image))).decode()
    size = f' width="{width}" style="image-rendering: pixelated"' if width else ""
    return f'<img src="data:image/png;base64,{data}" title="{html.escape(title)}"{size}>'
