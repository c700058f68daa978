"""A machine-readable capture time in the simulator's live picture: one layout, its renderer, two decoders.

With ``SimConfig.timecode`` every frame of a live camera stream carries the wall-clock time it was
produced by the GStreamer pipeline (Unix epoch, milliseconds, ``time.time() * 1000``) as a strip of
black and white blocks along the top edge. A consumer that decodes a frame reads it back with
`decode` (Python) or `JS_DECODER` (a browser page, on a canvas's ``ImageData`` in
``requestVideoFrameCallback``); comparing it with its own clock gives the glass-to-glass delay.

`LAYOUT` is the one description of the strip; the renderer (`strip_bgra`, used by
``gst_rtsp_server.py``) and both decoders read it:

- the frame's width is cut into ``columns`` equal blocks; a block is that wide and as high
  (``640 px / 40`` = 16 px on a main stream, 8 px on a 320 px sub stream), so the strip scales
  with the picture and a decoder needs no size of its own;
- ``rows`` rows of blocks from the top-left corner; each row is ``guard``, then ``bits`` data
  blocks (most significant first; row 0 holds the high bits), then one even-parity block of that
  row's data, then ``end``. White is 1, black 0;
- a decoder reads the mean luma of each block's inner half (away from the codec's ringing at its
  edges), takes the midpoint between the guard and end blocks' white and black as the threshold,
  and answers ``None`` unless the white/black contrast reaches ``min_contrast``, every guard and end
  block reads as laid out, and every row's parity holds.

This file is imported by the venv (``simulator.timecode``) and by the system Python 3.11 that runs
``gst_rtsp_server.py`` (as ``timecode``, from that script's directory): standard library only, and
syntax that Python 3.11 reads.
"""

from __future__ import annotations

import json
from typing import Any

LAYOUT: dict[str, Any] = {
    "columns": 40,  # blocks across the frame's full width: block side = width / columns
    "rows": 2,
    "guard": [1, 0, 1, 0],  # first blocks of every row
    "bits": 24,  # data blocks per row: rows * bits = 48 bits, Unix epoch milliseconds
    "end": [0, 1],  # last blocks of every row, after the parity block
    "min_contrast": 64,  # white minus black mean luma (0-255) below which nothing is read
}

WHITE_BGRA = b"\xff\xff\xff\xff"
BLACK_BGRA = b"\x00\x00\x00\xff"


def cells_per_row(layout: dict[str, Any] = LAYOUT) -> int:
    """Blocks in one row: guard, data, parity, end."""
    return len(layout["guard"]) + int(layout["bits"]) + 1 + len(layout["end"])


def value_bits(layout: dict[str, Any] = LAYOUT) -> int:
    """How many bits the strip carries (48 by default)."""
    return int(layout["rows"]) * int(layout["bits"])


def cells(value: int, layout: dict[str, Any] = LAYOUT) -> list[list[int]]:
    """The strip's blocks (1 white, 0 black), one list per row."""
    bits, rows = int(layout["bits"]), int(layout["rows"])
    if not 0 <= value < 1 << (bits * rows):
        raise ValueError(f"{value} does not fit in {bits * rows} bits")
    grid = []
    for row in range(rows):
        word = (value >> (bits * (rows - 1 - row))) & ((1 << bits) - 1)
        data = [(word >> (bits - 1 - i)) & 1 for i in range(bits)]
        grid.append([*layout["guard"], *data, sum(data) % 2, *layout["end"]])
    return grid


def _edges(count: int, side: float) -> list[int]:
    """Pixel edges of `count` blocks of `side` pixels (rounded as the decoders round)."""
    return [int(i * side + 0.5) for i in range(count + 1)]


def strip_size(width: int, layout: dict[str, Any] = LAYOUT) -> tuple[int, int]:
    """Width and height in pixels of the strip on a frame `width` pixels wide."""
    side = width / int(layout["columns"])
    return _edges(cells_per_row(layout), side)[-1], _edges(int(layout["rows"]), side)[-1]


def strip_bgra(value: int, width: int, layout: dict[str, Any] = LAYOUT) -> tuple[bytes, int, int]:
    """The strip of `value` for a frame `width` pixels wide: BGRA pixels, strip width, height."""
    side = width / int(layout["columns"])
    xs = _edges(cells_per_row(layout), side)
    ys = _edges(int(layout["rows"]), side)
    out = []
    for row, blocks in enumerate(cells(value, layout)):
        line = b"".join(
            (WHITE_BGRA if block else BLACK_BGRA) * (xs[i + 1] - xs[i])
            for i, block in enumerate(blocks)
        )
        out.append(line * (ys[row + 1] - ys[row]))
    return b"".join(out), xs[-1], ys[-1]


def decode(
    pixels: Any, width: int, height: int, channels: int = 3, layout: dict[str, Any] = LAYOUT
) -> int | None:
    """The time code of one decoded frame (Unix epoch milliseconds), or None if it has none.

    `pixels`: the frame's packed pixels, rows top to bottom without padding, `channels` bytes a
    pixel in R, G, B order (3: RGB24, 4: RGBA as in a canvas's ImageData); bytes, bytearray,
    memoryview or a C-ordered numpy array.
    """
    data = pixels if isinstance(pixels, (bytes, bytearray)) else bytes(pixels)
    side = width / int(layout["columns"])
    per_row, rows, bits = cells_per_row(layout), int(layout["rows"]), int(layout["bits"])
    if side < 2 or rows * side > height or len(data) < width * height * channels:
        return None

    def luma(row: int, col: int) -> float:
        x0, x1 = int(col * side + side / 4 + 0.5), int(col * side + side * 3 / 4 + 0.5)
        y0, y1 = int(row * side + side / 4 + 0.5), int(row * side + side * 3 / 4 + 0.5)
        total = 0
        for y in range(y0, y1):
            base = y * width * channels
            for x in range(x0, x1):
                i = base + x * channels
                total += 299 * data[i] + 587 * data[i + 1] + 114 * data[i + 2]
        return total / (1000 * (x1 - x0) * (y1 - y0))

    guard, end = list(layout["guard"]), list(layout["end"])
    known = [(i, v) for i, v in enumerate(guard)]
    known += [(per_row - len(end) + i, v) for i, v in enumerate(end)]
    grid = [[luma(row, col) for col in range(per_row)] for row in range(rows)]
    white = [grid[r][c] for r in range(rows) for c, v in known if v]
    black = [grid[r][c] for r in range(rows) for c, v in known if not v]
    high, low = sum(white) / len(white), sum(black) / len(black)
    if high - low < float(layout["min_contrast"]):
        return None
    threshold = (high + low) / 2
    value = 0
    for row in range(rows):
        read = [1 if level > threshold else 0 for level in grid[row]]
        if any(read[c] != v for c, v in known):
            return None
        data_bits = read[len(guard) : len(guard) + bits]
        if sum(data_bits) % 2 != read[len(guard) + bits]:
            return None
        for bit in data_bits:
            value = value * 2 + bit
    return value


_JS_TEMPLATE = """\
// Ovopark simulator time code: Unix epoch milliseconds from one frame's pixels, or null.
// data: ImageData.data (RGBA, channels 4) or any packed R,G,B(,A) array; width, height in pixels.
function ovoparkTimecode(data, width, height, channels) {
  const L = __LAYOUT__;
  channels = channels || 4;
  const side = width / L.columns;
  const perRow = L.guard.length + L.bits + 1 + L.end.length;
  if (side < 2 || L.rows * side > height || data.length < width * height * channels) return null;
  const round = (v) => Math.floor(v + 0.5);
  const luma = (row, col) => {
    const x0 = round(col * side + side / 4), x1 = round(col * side + side * 3 / 4);
    const y0 = round(row * side + side / 4), y1 = round(row * side + side * 3 / 4);
    let total = 0;
    for (let y = y0; y < y1; y++) {
      const base = y * width * channels;
      for (let x = x0; x < x1; x++) {
        const i = base + x * channels;
        total += 299 * data[i] + 587 * data[i + 1] + 114 * data[i + 2];
      }
    }
    return total / (1000 * (x1 - x0) * (y1 - y0));
  };
  const known = L.guard.map((v, i) => [i, v]).concat(L.end.map((v, i) => [perRow - L.end.length + i, v]));
  const grid = [];
  for (let r = 0; r < L.rows; r++) {
    const levels = [];
    for (let c = 0; c < perRow; c++) levels.push(luma(r, c));
    grid.push(levels);
  }
  let whiteSum = 0, whiteN = 0, blackSum = 0, blackN = 0;
  for (let r = 0; r < L.rows; r++) {
    for (const [c, v] of known) {
      if (v) { whiteSum += grid[r][c]; whiteN++; } else { blackSum += grid[r][c]; blackN++; }
    }
  }
  const high = whiteSum / whiteN, low = blackSum / blackN;
  if (high - low < L.min_contrast) return null;
  const threshold = (high + low) / 2;
  let value = 0;
  for (let r = 0; r < L.rows; r++) {
    const read = grid[r].map((level) => (level > threshold ? 1 : 0));
    for (const [c, v] of known) if (read[c] !== v) return null;
    let ones = 0;
    for (let i = 0; i < L.bits; i++) {
      const bit = read[L.guard.length + i];
      ones += bit;
      value = value * 2 + bit;  // arithmetic, not bit operators: 48 bits exceed 32
    }
    if (ones % 2 !== read[L.guard.length + L.bits]) return null;
  }
  return value;
}
"""

# The decoder for a browser page, `LAYOUT` built in: `ovoparkTimecode(imageData.data, w, h)`.
JS_DECODER = _JS_TEMPLATE.replace("__LAYOUT__", json.dumps(LAYOUT, sort_keys=True))

__all__ = [
    "JS_DECODER",
    "LAYOUT",
    "cells",
    "cells_per_row",
    "decode",
    "strip_bgra",
    "strip_size",
    "value_bits",
]
