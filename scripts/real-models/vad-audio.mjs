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

/**
 * Calibration audio for the silero VAD, never the evaluation audio: `streams` independent streams of
 * `chunks` consecutive chunks of `n` samples at 16 kHz, each a run of speech-like segments of 40 to
 * 400 ms: voiced ones (a pulse train at a drifting pitch of 80 to 260 Hz through three formant
 * resonators), unvoiced ones (white noise through a high resonator), and pauses (faint noise), at
 * levels from 0.01 to 0.5. Seeded (a different LCG seed from the evaluation audio's); the same seed
 * gives the same audio.
 * @param {{ seed?: number, streams?: number, chunks?: number, n?: number }} [options]
 * @returns {Float32Array[]} one [streams, n] row-major array per chunk, in stream order
 */
export function vadCalibrationAudio({ seed = 20261207, streams = 4, chunks = 96, n = 1536 } = {}) {
  let s = seed >>> 0;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const total = chunks * n;
  const audio = Array.from({ length: streams }, () => new Float32Array(total));
  const resonate = (x, f, bw) => {
    const r = Math.exp((-Math.PI * bw) / 16000);
    const a1 = 2 * r * Math.cos((2 * Math.PI * f) / 16000);
    const a2 = -r * r;
    let y1 = 0;
    let y2 = 0;
    for (let i = 0; i < x.length; i++) {
      const y = x[i] + a1 * y1 + a2 * y2;
      y2 = y1;
      y1 = y;
      x[i] = y;
    }
  };
  for (const out of audio) {
    let at = 0;
    while (at < total) {
      const len = Math.min(total - at, Math.floor((0.04 + 0.36 * rand()) * 16000));
      const kind = rand();
      const seg = new Float32Array(len);
      if (kind < 0.5) {
        const f0 = 80 + 180 * rand();
        const drift = (rand() - 0.5) * 60;
        let phase = 0;
        for (let i = 0; i < len; i++) {
          phase += (f0 + (drift * i) / len) / 16000;
          if (phase >= 1) {
            phase -= 1;
            seg[i] = 1;
          }
          seg[i] += 0.02 * (rand() - 0.5);
        }
        resonate(seg, 250 + 650 * rand(), 80);
        resonate(seg, 850 + 1600 * rand(), 120);
        resonate(seg, 2300 + 900 * rand(), 200);
      } else if (kind < 0.75) {
        for (let i = 0; i < len; i++) seg[i] = rand() - 0.5;
        resonate(seg, 3000 + 4000 * rand(), 1500);
      } else {
        for (let i = 0; i < len; i++) seg[i] = 0.002 * (rand() - 0.5);
      }
      // A smooth envelope at a random level: peaks normalised so loud and faint segments both occur.
      let peak = 1e-9;
      for (let i = 0; i < len; i++) peak = Math.max(peak, Math.abs(seg[i]));
      const level = kind < 0.75 ? 0.01 + 0.49 * rand() : 0.001 + 0.003 * rand();
      for (let i = 0; i < len; i++) out[at + i] = (seg[i] / peak) * level * Math.sin((Math.PI * (i + 0.5)) / len) ** 0.5;
      at += len;
    }
  }
  return Array.from({ length: chunks }, (_, c) => {
    const chunk = new Float32Array(streams * n);
    audio.forEach((a, k) => chunk.set(a.subarray(c * n, (c + 1) * n), k * n));
    return chunk;
  });
}
