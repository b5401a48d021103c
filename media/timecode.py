"""A machine-readable capture time painted into video frames.

The code is a strip of ``CELLS`` black or white cells across the top of the frame: 32 bits of
the capture time in milliseconds (modulo 2**32, most significant first) followed by an 8-bit
checksum (the sum of those four bytes). Cells are large (1/20 of the width, 1/12 of the height)
so the code survives VP8 at 20 kbit/s and 160x120. The browser page decodes the same layout from
a canvas to measure per-frame delay (see ``signaling/web/timecode.js``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BITS = 32
CELLS = BITS + 8
ROWS = 2
PER_ROW = CELLS // ROWS
HEIGHT_FRACTION = 12

Image = npt.NDArray[np.uint8]


def _bits(ms: int) -> list[int]:
    value = ms % (1 << BITS)
    checksum = sum(value.to_bytes(4, "big")) & 0xFF
    word = (value << 8) | checksum
    return [(word >> (CELLS - 1 - i)) & 1 for i in range(CELLS)]


def paint(image: Image, ms: int) -> None:
    """Paint the code for ``ms`` into the top rows of an RGB/BGR ``image`` in place."""
    height, width = image.shape[:2]
    cell_w = width / PER_ROW
    cell_h = max(1, height // HEIGHT_FRACTION)
    for i, bit in enumerate(_bits(ms)):
        row, col = divmod(i, PER_ROW)
        x0, x1 = round(col * cell_w), round((col + 1) * cell_w)
        image[row * cell_h : (row + 1) * cell_h, x0:x1] = 255 if bit else 0


def read(image: Image) -> int | None:
    """Decode the code from an image (any channel count); None when it does not check out."""
    gray = image if image.ndim == 2 else image.mean(axis=2)
    height, width = gray.shape[:2]
    cell_w = width / PER_ROW
    cell_h = max(1, height // HEIGHT_FRACTION)
    word = 0
    for i in range(CELLS):
        row, col = divmod(i, PER_ROW)
        # Sample the middle half of each cell: edges bleed under compression.
        y0 = row * cell_h + cell_h // 4
        y1 = row * cell_h + max(cell_h // 4 + 1, 3 * cell_h // 4)
        x0 = round(col * cell_w + cell_w / 4)
        x1 = max(x0 + 1, round(col * cell_w + 3 * cell_w / 4))
        word = (word << 1) | int(float(gray[y0:y1, x0:x1].mean()) > 127)
    value, checksum = word >> 8, word & 0xFF
    if sum(value.to_bytes(4, "big")) & 0xFF != checksum:
        return None
    return value
