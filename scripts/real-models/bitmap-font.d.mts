/** The 5x7 bitmap font of the text-line fixtures: 7 rows of 5 bits a glyph, the high bit leftmost. */
export const BITMAP_FONT: Readonly<Record<string, readonly number[]>>;
/** Calls plot(y, x) for every pixel of text in the bitmap font (scale-px squares, from (y, x)); returns the x after it. */
export function drawBitmapText(text: string, y: number, x: number, scale: number, plot: (y: number, x: number) => void): number;
