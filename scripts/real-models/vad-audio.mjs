/**
 * Four chunks of `n` samples at 16 kHz for the silero VAD, each meant to be run from a zero state:
 * digital silence, faint white noise (a seeded LCG), a 440 Hz tone, and a vowel-like buzz (120 Hz
 * harmonics shaped by formants at 700 and 1200 Hz). The verification script and the real-model
 * test both feed it, so their figures are about the same audio.
 * @param {number} [n]
 * @returns {Float32Array} [4, n], row-major
 */
export function synthesizedVadAudio(n = 1536) {
  const audio = new Float32Array(4 * n);
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < n; i++) {
    const t = i / 16000;
    audio[n + i] = 0.003 * rand();
    audio[2 * n + i] = 0.3 * Math.sin(2 * Math.PI * 440 * t);
    let v = 0;
    for (let h = 1; h <= 30; h++) {
      const f = 120 * h;
      const formants = Math.exp(-(((f - 700) / 150) ** 2)) + 0.6 * Math.exp(-(((f - 1200) / 200) ** 2)) + 0.05;
      v += (formants / h) * Math.sin(2 * Math.PI * f * t);
    }
    audio[3 * n + i] = 0.3 * v;
  }
  return audio;
}
