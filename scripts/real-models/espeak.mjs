// Speech from espeak-ng at silero's 16 kHz: the VAD's committed evaluation batch (prepare-data.mjs)
// and its calibration and validation speech (vad-speech.mjs, made once into the git-ignored cache).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `text` spoken by espeak-ng with `args` (voice, speed, pitch flags), as 16 kHz float samples: its
 * 16-bit WAV read as-is and resampled linearly from espeak's own rate.
 * @param {string} text
 * @param {string[]} args
 * @returns {Float32Array}
 */
export function espeak(text, args) {
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-speech-'));
  try {
    const wav = join(dir, 'speech.wav');
    execFileSync('espeak-ng', [...args, '-w', wav, text]);
    const buf = readFileSync(wav);
    const rate = buf.readUInt32LE(24);
    let off = 12;
    while (buf.toString('latin1', off, off + 4) !== 'data') off += 8 + buf.readUInt32LE(off + 4);
    const n = buf.readUInt32LE(off + 4) / 2;
    const pcm = new Float32Array(n);
    for (let i = 0; i < n; i++) pcm[i] = buf.readInt16LE(off + 8 + 2 * i) / 32768;
    const m = Math.floor((n * 16000) / rate);
    const speech = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const p = (i * rate) / 16000;
      const k = Math.floor(p);
      speech[i] = pcm[k] * (1 - (p - k)) + (pcm[Math.min(n - 1, k + 1)] ?? 0) * (p - k);
    }
    return speech;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
