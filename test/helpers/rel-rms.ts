/** √(Σ(a−b)²/Σb²): the error of `a` relative to the reference `b` (for matrices, the relative Frobenius error). */
export function relRms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
