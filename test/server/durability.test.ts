import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exited, killLeftovers, startServe, type ServeProcess } from './serve-process.js';
import { mulberry32 as rng } from '../../src/core/random.js';

// The built service as a real process on one data dir, killed with SIGKILL at seeded random points
// of a stream of writes (config changes across dtypes and bit widths, calibrations, requantizing
// quantizes, creates and deletes), some of them in flight at the kill. After every restart the
// service must start, and each instance must be as its acknowledged writes left it, or as one
// write that was in flight at the kill (never answered) would have left it.

const SEED = Number(process.env.QUANTKIT_DURABILITY_SEED ?? 20261207);
const CYCLES = 8;
const OPS_PER_CYCLE = 14;
const IDS = ['default', 'a', 'b', 'c'];

const dir = mkdtempSync(join(tmpdir(), 'quantkit-durability-'));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  killLeftovers(children);
  rmSync(dir, { recursive: true, force: true });
});

/** Every config sets the same fields, so a subset match of GET config tells them apart. */
const CONFIGS: Record<string, unknown>[] = [
  { quantization_type: 'INT8', num_bits: 8, quantization_mode: 'DYNAMIC', symmetric: false, enable_requantization: false },
  { quantization_type: 'UINT8', num_bits: 8, quantization_mode: 'DYNAMIC', symmetric: false, enable_requantization: false },
  { quantization_type: 'INT8', num_bits: 4, quantization_mode: 'SYMMETRIC', symmetric: true, enable_requantization: false },
  { quantization_type: 'INT16', num_bits: 16, quantization_mode: 'DYNAMIC', symmetric: false, enable_requantization: false },
  { quantization_type: 'FLOAT16', num_bits: 16, quantization_mode: 'DYNAMIC', symmetric: false, enable_requantization: false },
  { quantization_type: 'INT8', num_bits: 8, quantization_mode: 'CALIBRATED', symmetric: false, enable_requantization: true },
  { quantization_type: 'UINT8', num_bits: 6, quantization_mode: 'CALIBRATED', symmetric: false, enable_requantization: true },
];

const ANY = Symbol('any');
type Maybe<T> = T | typeof ANY;

/** What survives a restart of one instance, as far as the test can know it. */
interface Durable {
  exists: boolean;
  config: Maybe<Record<string, unknown>>;
  /** The last calibrate answer, or null. */
  calibration: Maybe<unknown>;
  /** The instance's calibrated parameters (a params file), or null. */
  calibrated: Maybe<unknown>;
}

type Op =
  | { kind: 'create'; id: string; config: Record<string, unknown> }
  | { kind: 'delete'; id: string }
  | { kind: 'config'; id: string; config: Record<string, unknown> }
  | { kind: 'calibrate'; id: string; body: unknown }
  | { kind: 'quantize'; id: string; route: 'quantize' | 'quantize_dequantize'; body: unknown };

function data(next: () => number, rows: number, amp: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: 8 }, () => Math.round((next() * 2 - 1) * amp * 1000) / 1000));
}

function randomOp(next: () => number, model: Map<string, Durable>, busy: Set<string>): Op | null {
  const free = IDS.filter((id) => !busy.has(id));
  if (free.length === 0) return null;
  const id = free[Math.floor(next() * free.length)];
  const config = CONFIGS[Math.floor(next() * CONFIGS.length)];
  if (!model.get(id)!.exists) return { kind: 'create', id, config };
  const r = next();
  if (r < 0.1 && id !== 'default') return { kind: 'delete', id };
  if (r < 0.35) return { kind: 'config', id, config };
  if (r < 0.6) return { kind: 'calibrate', id, body: { data: [data(next, 2, 1), data(next, 2, 1)] } };
  // Now and then values far outside the calibrated range, so a CALIBRATED instance requantizes.
  return { kind: 'quantize', id, route: next() < 0.5 ? 'quantize' : 'quantize_dequantize', body: { data: data(next, 2, next() < 0.4 ? 20 : 1) } };
}

/** The request of an op: its status and JSON answer, or a rejection when the kill cut it. */
async function send(url: string, op: Op): Promise<{ status: number; body: Record<string, unknown> }> {
  const req = (method: string, path: string, body?: unknown) =>
    fetch(url + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const r =
    op.kind === 'create' ? await req('POST', `/instances/${op.id}`, op.config)
    : op.kind === 'delete' ? await req('DELETE', `/instances/${op.id}`)
    : op.kind === 'config' ? await req('PUT', `/instances/${op.id}/config`, op.config)
    : op.kind === 'calibrate' ? await req('POST', `/instances/${op.id}/calibrate`, op.body)
    : await req('POST', `/instances/${op.id}/${op.route}`, op.body);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** What an answered op left (a 4xx changed nothing); with no answer (cut by the kill), what it may have left. */
function after(s: Durable, op: Op, answer: { status: number; body: Record<string, unknown> } | null): Durable {
  if (answer !== null && answer.status !== 200) return s;
  const body = answer?.body;
  switch (op.kind) {
    case 'create':
      return { exists: true, config: op.config, calibration: null, calibrated: null };
    case 'delete':
      return { exists: false, config: ANY, calibration: ANY, calibrated: ANY };
    case 'config':
      // Calibrated parameters are recomputed for the new config; the report is kept as answered.
      return { ...s, config: op.config, calibrated: ANY };
    case 'calibrate':
      return { ...s, calibration: body ?? ANY, calibrated: body ? body.parameters : ANY };
    case 'quantize': {
      const cfg = s.config;
      // Only a CALIBRATED instance changes what is saved (its parameters, when it requantizes); the
      // answer carries the parameters it used, which are then its calibrated ones.
      if (cfg !== ANY && cfg.quantization_mode !== 'CALIBRATED') return s;
      return { ...s, calibrated: body && cfg !== ANY ? body.parameters : ANY };
    }
  }
}

function matches(expected: Durable, actual: Durable): boolean {
  if (expected.exists !== actual.exists) return false;
  if (!actual.exists) return true;
  const same = (e: unknown, a: unknown) => e === ANY || JSON.stringify(e) === JSON.stringify(a);
  const config = expected.config === ANY || Object.entries(expected.config).every(([k, v]) => same(v, (actual.config as Record<string, unknown>)[k]));
  return config && same(expected.calibration, actual.calibration) && same(expected.calibrated, actual.calibrated);
}

/** A state in a line: the fields CONFIGS set, when the calibration was made, the calibrated scales. */
function brief(s: Durable): string {
  const keys = Object.keys(CONFIGS[0]);
  return JSON.stringify({
    exists: s.exists,
    config: s.config === ANY ? '(any)' : Object.fromEntries(keys.map((k) => [k, (s.config as Record<string, unknown>)[k]])),
    calibration: s.calibration === ANY ? '(any)' : ((s.calibration as { calibrated_at?: string } | null)?.calibrated_at ?? null),
    calibrated: s.calibrated === ANY ? '(any)' : ((s.calibrated as { scale?: number[] } | null)?.scale ?? null),
  });
}

async function read(url: string): Promise<Map<string, Durable>> {
  const get = async (path: string) => {
    const r = await fetch(url + path);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const ids = (await get('/instances')).body as unknown as string[];
  const out = new Map<string, Durable>();
  for (const id of IDS) {
    if (!ids.includes(id)) {
      out.set(id, { exists: false, config: ANY, calibration: ANY, calibrated: ANY });
      continue;
    }
    const config = await get(`/instances/${id}/config`);
    expect(config.status, `instance ${id} loads`).toBe(200);
    const calibration = await get(`/instances/${id}/calibration`);
    const parameters = (await get(`/instances/${id}/parameters`)).body as { instance: { calibrated?: { params: unknown } } };
    out.set(id, {
      exists: true,
      config: config.body,
      calibration: calibration.status === 200 ? calibration.body : null,
      calibrated: parameters.instance.calibrated?.params ?? null,
    });
  }
  return out;
}

async function start(): Promise<ServeProcess> {
  const s = await startServe(['--data-dir', dir, '--log-level', 'silent'], children);
  // A record it could not load would be served 503 and named here: that is a failure too.
  expect(s.stderr(), `seed ${SEED}: no unloadable record`).not.toContain('cannot be loaded');
  return s;
}

describe('durability under kill -9', () => {
  it(`keeps every acknowledged write through ${CYCLES} SIGKILLs at random points (seed ${SEED})`, async () => {
    const next = rng(SEED);
    let model = new Map<string, Durable>(IDS.map((id) => [id, { exists: id === 'default', config: id === 'default' ? CONFIGS[0] : ANY, calibration: null, calibrated: null }]));
    let pending = new Map<string, Op>();
    let acknowledged = 0;
    let cut = 0;
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      const { child, url } = await start();
      const actual = await read(url);
      for (const id of IDS) {
        const s = model.get(id)!;
        const op = pending.get(id);
        const allowed = op === undefined ? [s] : [s, after(s, op, null)];
        expect(
          allowed.some((e) => matches(e, actual.get(id)!)),
          `seed ${SEED}, restart ${cycle}: instance ${id} is ${brief(actual.get(id)!)}; expected one of ${allowed.map(brief).join(' or ')}`,
        ).toBe(true);
      }
      // Where an op in flight may or may not have landed, what the service holds is now the truth.
      model = actual;
      pending = new Map();
      if (cycle === CYCLES) {
        child.kill('SIGKILL');
        await exited(child);
        break;
      }
      const killAfter = 2 + Math.floor(next() * (OPS_PER_CYCLE - 2));
      for (let i = 0; i < killAfter; i++) {
        const op = randomOp(next, model, new Set())!;
        const answer = await send(url, op);
        expect(answer.status, `seed ${SEED}: ${JSON.stringify(op)} -> ${JSON.stringify(answer.body)}`).toBeLessThan(500);
        model.set(op.id, after(model.get(op.id)!, op, answer));
        acknowledged += answer.status === 200 ? 1 : 0;
      }
      // The kill: up to three writes on distinct instances in flight, cut after a random pause.
      const inFlight: Op[] = [];
      const busy = new Set<string>();
      for (let k = Math.floor(next() * 4); k > 0; k--) {
        const op = randomOp(next, model, busy);
        if (op === null) break;
        busy.add(op.id);
        inFlight.push(op);
      }
      const answers = inFlight.map((op) => send(url, op).catch(() => null));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 15)));
      child.kill('SIGKILL');
      await exited(child);
      const settled = await Promise.all(answers);
      inFlight.forEach((op, k) => {
        const answer = settled[k];
        if (answer === null) {
          pending.set(op.id, op);
          cut++;
        } else {
          expect(answer.status, `seed ${SEED}: ${JSON.stringify(op)} -> ${JSON.stringify(answer.body)}`).toBeLessThan(500);
          model.set(op.id, after(model.get(op.id)!, op, answer));
          acknowledged += answer.status === 200 ? 1 : 0;
        }
      });
    }
    // The run did what it claims: writes were acknowledged, and some were cut by a kill.
    expect(acknowledged).toBeGreaterThan(CYCLES * 2);
    console.log(`durability: seed ${SEED}, ${CYCLES} kills, ${acknowledged} acknowledged writes checked, ${cut} cut in flight`);
  }, 120_000);
});
