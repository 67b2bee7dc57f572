import { createRng } from '../core/random.js';

/**
 * Seeded activation-like sample data for trying a calibration without a file: `batches` × `width`
 * values, mostly N(0, 1) (Box–Muller) with one value in 200 a heavy outlier (×6), so the range
 * choice of each observer shows. Same seed, same data.
 */
export function sampleActivations(batches: number, width: number, seed = 7): { data: Float32Array; shape: [number, number] } {
  const rng = createRng(seed);
  const data = new Float32Array(batches * width);
  for (let i = 0; i < data.length; i++) {
    const u = 1 - rng();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
    data[i] = rng() < 0.005 ? z * 6 : z;
  }
  return { data, shape: [batches, width] };
}
