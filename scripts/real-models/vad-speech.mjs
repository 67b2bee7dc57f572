// Speech for calibrating and validating the silero VAD's low-bit rows: streams of espeak-ng
// utterances and pauses, made once into .cache/real-models/ (git-ignored) and read from there.
//
// The committed batch the table scores is one sentence in espeak-ng's default English voice ('en',
// British). The speech here shares neither: other sentences, other voices (American, Scottish,
// Caribbean, Received Pronunciation and variants of them), at random speeds, pitches and levels.
// Calibration and validation share neither sentences nor voices with each other either, so the
// validation figures say how a method carries over to speech it was not calibrated on.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { espeak } from './espeak.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = join(REPO, '.cache/real-models');

/** What the committed evaluation batch says, and how (prepare-data.mjs speaks it): no set below holds either. */
export const VAD_EVALUATION_SPEECH = { text: 'Quantized models run faster and stay accurate when every layer is measured.', args: ['-v', 'en', '-s', '150'] };

/** The two sets' sentences and voices (espeak-ng voice names, +variant), with each set's seed. */
export const VAD_SPEECH_SETS = {
  calibration: {
    seed: 31,
    voices: ['en-us', 'en-gb-x-rp', 'en-gb-scotland', 'en-029', 'en-us+f3', 'en-us+m3', 'en-gb-x-rp+f2', 'en-029+m7'],
    sentences: [
      'The weather turned cold before the morning train arrived at the station.',
      'Please leave the package by the side door if nobody answers.',
      'A small boat drifted past the lighthouse just after sunset.',
      'Seven hundred people signed the letter within a single afternoon.',
      'Could you check whether the kettle is still switched on?',
      'The library closes early on Fridays during the summer months.',
      'She painted the fence a bright shade of green last weekend.',
      'Our flight was delayed by two hours because of heavy fog.',
      'He forgot his umbrella and walked home through the rain.',
      'The recipe calls for three eggs, a cup of flour and some butter.',
      'Thousands of birds gather on the lake every autumn.',
      'If the printer jams again, open the tray and pull the paper out gently.',
      'The museum has a new exhibition about ancient maps.',
      'My neighbour plays the violin every evening around eight.',
      'We counted the votes twice to be absolutely sure.',
      'The children built a sandcastle with towers and a moat.',
      'Turn left at the bakery and follow the road down to the river.',
      'Fresh bread smells wonderful early in the morning.',
      'The engineer measured the bridge before the storm arrived.',
      'Nobody expected the quiet student to win the chess tournament.',
    ],
  },
  validation: {
    seed: 97,
    voices: ['en-gb-x-gbclan', 'en-gb-x-gbcwmd', 'en-gb-x-gbclan+f4', 'en-gb-x-gbcwmd+m2'],
    sentences: [
      'The old clock in the hallway stopped at a quarter past nine.',
      'Bring a warm coat, because the wind on the hill is fierce.',
      'They planted apple trees along the edge of the field.',
      'A loud knock at the door woke everyone in the house.',
      'The market sells fish, cheese and vegetables every Saturday.',
      'He wrote the address on the back of an envelope.',
    ],
  },
};

/**
 * Streams of speech for the VAD as one [streams, n] row-major chunk per step (vadCalibrationAudio's
 * shape): each stream alternates pauses of 0.15 to 0.9 s (digital silence with faint noise) and
 * utterances, each a random sentence of the set in a random voice of the set at a speed of 130 to
 * 190 words a minute, a pitch of 30 to 70 and a level of 0.3 to 1 times espeak-ng's own. Seeded;
 * made with espeak-ng once and cached.
 * @param {'calibration' | 'validation'} set
 * @param {{ streams?: number, chunks?: number, n?: number }} [options]
 * @returns {Float32Array[]}
 */
export function vadSpeechAudio(set, { streams = 4, chunks = 96, n = 1536 } = {}) {
  const spec = VAD_SPEECH_SETS[set];
  const total = chunks * n;
  // Named by everything that makes it, so an edited set is made anew.
  const key = createHash('sha256').update(JSON.stringify({ spec, streams, total })).digest('hex').slice(0, 16);
  const file = join(CACHE, `vad-speech-${set}-${key}.f32`);
  let all;
  if (existsSync(file)) {
    const buf = readFileSync(file);
    all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice();
  } else {
    try {
      execFileSync('espeak-ng', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('vad-speech.mjs: espeak-ng is needed once to make the speech (apt-get install -y espeak-ng)');
    }
    all = makeStreams(spec, streams, total);
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(`${file}.tmp`, all);
    renameSync(`${file}.tmp`, file);
  }
  return Array.from({ length: chunks }, (_, c) => {
    const chunk = new Float32Array(streams * n);
    for (let k = 0; k < streams; k++) chunk.set(all.subarray(k * total + c * n, k * total + (c + 1) * n), k * n);
    return chunk;
  });
}

function makeStreams(spec, streams, total) {
  let s = spec.seed >>> 0;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const all = new Float32Array(streams * total);
  for (let k = 0; k < streams; k++) {
    const out = all.subarray(k * total, (k + 1) * total);
    let at = 0;
    while (at < total) {
      const pause = Math.floor((0.15 + 0.75 * rand()) * 16000);
      const noise = 1e-4 + 2e-3 * rand();
      for (let i = 0; i < pause && at < total; i++, at++) out[at] = noise * (rand() - 0.5);
      const speed = String(130 + Math.floor(60 * rand()));
      const pitch = String(30 + Math.floor(40 * rand()));
      const speech = espeak(pick(spec.sentences), ['-v', pick(spec.voices), '-s', speed, '-p', pitch]);
      const level = 0.3 + 0.7 * rand();
      for (let i = 0; i < speech.length && at < total; i++, at++) out[at] = speech[i] * level;
    }
  }
  return all;
}
