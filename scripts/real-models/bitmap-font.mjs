/**
 * A 5x7 bitmap font of the letters the text-line fixtures use: each glyph is 7 rows of 5 bits, the
 * high bit leftmost. The fixture generator and the tests render with it, so both draw the same
 * lines.
 */
export const BITMAP_FONT = Object.freeze({
  A: [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  N: [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  ' ': [0, 0, 0, 0, 0, 0, 0],
});

/**
 * Calls `plot(y, x)` for every pixel of `text` in the bitmap font, each font pixel a `scale`-px
 * square, the first glyph's top-left at (y, x), glyphs 6 font pixels apart; returns the x after the
 * last glyph. A character the font lacks is an error, not a blank.
 * @param {string} text
 * @param {number} y
 * @param {number} x
 * @param {number} scale
 * @param {(y: number, x: number) => void} plot
 * @returns {number}
 */
export function drawBitmapText(text, y, x, scale, plot) {
  for (const ch of text) {
    const glyph = BITMAP_FONT[ch];
    if (!glyph) throw new Error(`no glyph for '${ch}' in the bitmap font`);
    for (let r = 0; r < 7; r++) {
      for (let c = 0; c < 5; c++) {
        if (!(glyph[r] & (0x10 >> c))) continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) plot(y + r * scale + dy, x + c * scale + dx);
      }
    }
    x += 6 * scale;
  }
  return x;
}
