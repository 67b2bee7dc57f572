// Helpers the benchmark scripts share (not a benchmark: bench/run.mjs runs only *.bench.mjs).
import { spawn } from 'node:child_process';

/** Seeded standard normal float32 data (Box–Muller over a xorshift generator). */
export function normal(n, seed = 1) {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    x[i] = r * Math.cos(t);
    if (i + 1 < n) x[i + 1] = r * Math.sin(t);
  }
  return x;
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values) {
  const s = [...values].sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median milliseconds of `runs` calls of fn, after `warm` untimed calls (V8 optimises a function once it has run) and a GC where exposed. */
export function timeMedian(fn, runs, warm = 2) {
  for (let i = 0; i < warm; i++) fn();
  globalThis.gc?.();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

/**
 * Starts the built CLI's `serve` on a free port with `args` (the store: `--data-dir DIR`, or
 * `--database-url URL --replica-id NAME`); resolves with the child and its URL once it listens.
 */
export function startServe(cli, args) {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args, '--log-level', 'silent'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`quantkit serve ${args.join(' ')} exited with ${code}`)));
  });
}

/** Starts the built CLI's `serve` on a free port over dataDir (SQLite). */
export function startServer(cli, dataDir) {
  return startServe(cli, ['--data-dir', dataDir]);
}

/** A version 1.0 .npy of a typed array (little-endian, C order), header padded to 64 bytes. */
export function npyBody(data, dtype, shape) {
  const descr = { float32: '<f4', int8: '|i1' }[dtype];
  const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  const pad = (64 - (total % 64)) % 64;
  const h = Buffer.from('\x93NUMPY\x01\x00' + '  ' + header + ' '.repeat(pad) + '\n', 'latin1');
  h.writeUInt16LE(header.length + pad + 1, 8);
  return Buffer.concat([h, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
