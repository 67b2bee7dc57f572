#!/usr/bin/env node
// The CLI against numpy on a 128 MiB float32 .npy (uint8, per-tensor), each timed end to end
// exactly as a user runs it: one process per run, `node dist/cli/main.js quantize ...` against
// `python3 scripts/bench-cli-numpy.py IN OUT 1` (interpreter start and `import numpy` included,
// as the CLI's process start is). The file is in the page cache (both read it once untimed
// first), each output is deleted before each run (untimed) so both write a new file, and the two
// run strictly alternately, CLI then numpy, pair after pair: the ratio is taken pair by pair and
// its median reported, so a load that swings during the run moves both sides of a pair alike.
// No other process of this bench runs between a pair's two halves. Where /usr/bin/time exists, each
// run's CPU seconds (user + sys) are reported beside wall time: on a shared machine wall time
// mostly measures the other jobs, CPU time much less so.
//
// Then, where the CLI's time goes, each part timed in alternation with its own baseline:
//   start-up: `--version`, `quantize` of a 16-element file and `node -e 0`, in strict rotation;
//   a --cpu-prof profile of one 128 MiB run, its samples summed by what they were doing (module
//   loading and compiling, the WebAssembly kernels, reading, writing, GC, waiting, other JS);
//   in this process: reading the file twice (the CLI's two passes: range, then quantize), the
//   library call (quantizeNpyFile: read, range, quantize, write), and writing 32 MiB of codes;
//   --workers 2 against --workers 1.
// Uses the BUILT CLI (npm run build first). `--rounds N` (default 9); `--json` prints one object.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync, renameSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const json = argv.includes('--json');
const ri = argv.indexOf('--rounds');
const ROUNDS = ri >= 0 ? Math.max(1, Number(argv[ri + 1])) : 9;
const log = (s) => {
  if (!json) console.log(s);
};
const ms = (s) => +(s * 1000).toFixed(1);
const secs = (v) => +v.toFixed(3);
const r2 = (v) => +v.toFixed(2);

const { encodeNpyHeader } = await import(join(root, 'dist/formats/npy.js'));
const { NpyFileReader } = await import(join(root, 'dist/node/npy/npy-file-reader.js'));
const { quantizeNpyFile } = await import(join(root, 'dist/node/npy/quantize-npy-file.js'));
const { AtomicFile } = await import(join(root, 'dist/node/fs/atomic-file.js'));

/** /usr/bin/time, where present, gives each run's CPU seconds (user + sys): steadier than wall time on a shared machine. */
const TIME = ['/usr/bin/time', '-f', '\n%U %S'];
const haveTime = spawnSync(TIME[0], [...TIME.slice(1), 'true']).status === 0;

/** Wall and CPU seconds of one process (CPU NaN without /usr/bin/time), its output captured and checked for success. */
function timeProcess(name, [cmd, args]) {
  const t0 = performance.now();
  const p = haveTime ? spawnSync(TIME[0], [...TIME.slice(1), cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (p.status !== 0) throw new Error(`${name} failed (exit ${p.status}): ${p.stderr}`);
  const m = haveTime ? /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(p.stderr) : null;
  return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : NaN };
}

/**
 * A and B run strictly alternately (A B A B ...) after one untimed run of each; `before` runs
 * untimed ahead of every run. Returns both medians (wall and CPU) and the median of the per-pair
 * wall ratios A/B.
 */
function alternate(a, b, rounds, before = () => {}) {
  const ta = [];
  const tb = [];
  before();
  timeProcess('A', a);
  before();
  timeProcess('B', b);
  for (let r = 0; r < rounds; r++) {
    before();
    ta.push(timeProcess('A', a));
    before();
    tb.push(timeProcess('B', b));
  }
  const ratios = ta.map((t, i) => t.wall / tb[i].wall);
  return {
    a: median(ta.map((t) => t.wall)),
    b: median(tb.map((t) => t.wall)),
    aCpu: median(ta.map((t) => t.cpu)),
    bCpu: median(tb.map((t) => t.cpu)),
    ratio: median(ratios),
    ratios,
    cpuRatio: median(ta.map((t, i) => t.cpu / tb[i].cpu)),
  };
}

/** Commands run in strict rotation (A B C A B C ...) after one untimed run of each; the median wall and CPU seconds of each. */
function rotate(commands, rounds, before = () => {}) {
  const times = commands.map(() => []);
  for (let r = -1; r < rounds; r++) {
    commands.forEach((c, k) => {
      before();
      const t = timeProcess(`#${k}`, c);
      if (r >= 0) times[k].push(t);
    });
  }
  return times.map((ts) => ({ wall: median(ts.map((t) => t.wall)), cpu: median(ts.map((t) => t.cpu)) }));
}

/** The CPU's model name as lscpu prints it (os.cpus() where lscpu is missing). */
function cpuModel() {
  const l = spawnSync('lscpu', [], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const m = l.status === 0 ? /^Model name:\s*(.+)$/m.exec(l.stdout) : null;
  return m ? m[1].trim() : (cpus()[0]?.model ?? 'unknown');
}

/**
 * Milliseconds of a --cpu-prof profile by what the sampled frame was doing: a rough split, by the
 * innermost frame of each sample, of one CLI run into start-up work and the work on the data.
 */
function profileBreakdown(file) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const ms = Object.create(null);
  const kind = ({ url, functionName: fn }) => {
    if (url.startsWith('wasm://')) return 'kernels (WebAssembly)';
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(idle)') return 'idle (waiting for reads on the thread pool)';
    if (fn === 'read' || fn === 'readSync' || /node:internal\/fs\/.*read/.test(url)) return 'reading the file';
    if (['writeBuffer', 'writeSync', 'fsync', 'rename', 'close', 'unlink'].includes(fn)) return 'writing, syncing, renaming';
    if (/node:internal\/(modules|url|bootstrap|process|main|source_map)|^node:path$/.test(url) || ['(Module)', '(parse)', 'openFileHandle', 'fstat', 'internalModuleStat', '(program)', 'compileFunction'].includes(fn)) {
      return 'start-up (node, module loading, parsing)';
    }
    if (url.includes('/node_modules/commander/')) return 'command line (commander)';
    if (url.includes('/kernels-') && url.endsWith('.generated.js')) return 'start-up (WebAssembly decode)';
    return 'other JavaScript';
  };
  for (let i = 0; i < p.samples.length; i++) {
    const k = kind(byId.get(p.samples[i]).callFrame);
    ms[k] = (ms[k] ?? 0) + p.timeDeltas[i] / 1000;
  }
  return Object.fromEntries(Object.entries(ms).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +v.toFixed(1)]));
}

/** Median seconds of an in-process step, alternating with nothing else (run after the process pairs). */
async function timeInProcess(fn, rounds) {
  await fn();
  const t = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await fn();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

const dir = mkdtempSync(join(tmpdir(), 'quantkit-bench-cli-'));
const result = { input_mib: 128, rounds: ROUNDS, cpu: cpuModel(), loadavg_before: loadavg().map(r2) };
try {
  const n = 32 * 1024 * 1024;
  const input = join(dir, 'x.npy');
  const fd = openSync(input, 'w');
  writeSync(fd, encodeNpyHeader('float32', [8192, n / 8192]));
  const chunk = new Float32Array(1 << 20);
  let s = 1;
  for (let i = 0; i < chunk.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    chunk[i] = (s / 4294967296 - 0.3) * 8;
  }
  for (let i = 0; i < n; i += chunk.length) writeSync(fd, new Uint8Array(chunk.buffer));
  closeSync(fd);
  const tiny = join(dir, 'tiny.npy');
  const tfd = openSync(tiny, 'w');
  writeSync(tfd, encodeNpyHeader('float32', [4, 4]));
  writeSync(tfd, new Uint8Array(chunk.buffer, 0, 64));
  closeSync(tfd);

  const cli = join(root, 'dist/cli/main.js');
  const cliOut = join(dir, 'q.npy');
  const npOut = join(dir, 'np.npy');
  const quantize = (file, extra = []) => [process.execPath, [cli, 'quantize', file, '-o', cliOut, '--dtype', 'uint8', ...extra]];
  const numpy = ['python3', [join(root, 'scripts/bench-cli-numpy.py'), input, npOut, '1']];
  const node0 = [process.execPath, ['-e', '0']];
  const clean = () => {
    rmSync(cliOut, { force: true });
    rmSync(npOut, { force: true });
  };
  const havePython = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

  // 1. The headline: CLI against numpy, strictly alternating, as separate processes.
  if (havePython) {
    const h = alternate(quantize(input), numpy, ROUNDS, clean);
    result.cli_quantize_128mib_s = secs(h.a);
    result.numpy_quantize_128mib_s = secs(h.b);
    result.cli_over_numpy = +h.ratio.toFixed(3);
    result.cli_over_numpy_pairs = h.ratios.map((v) => +v.toFixed(3));
    result.cli_quantize_128mib_cpu_s = secs(h.aCpu);
    result.numpy_quantize_128mib_cpu_s = secs(h.bCpu);
    result.cli_over_numpy_cpu = +h.cpuRatio.toFixed(3);
    log(`quantkit quantize 128 MiB (uint8, per-tensor), end to end:  median ${h.a.toFixed(3)} s`);
    log(`python3 numpy script (load, min/max, quantize, save):       median ${h.b.toFixed(3)} s`);
    log(`ratio quantkit / numpy, median of ${ROUNDS} alternating pairs: ${h.ratio.toFixed(2)}x (target <= 0.5x); pairs ${h.ratios.map((v) => v.toFixed(2)).join(' ')}`);
    if (haveTime) log(`CPU seconds (user + sys), medians: quantkit ${h.aCpu.toFixed(3)} s, numpy ${h.bCpu.toFixed(3)} s, ratio of pairs ${h.cpuRatio.toFixed(2)}x`);
  } else {
    result.numpy_skipped = true;
    log('numpy comparison skipped: python3 with numpy is not available');
  }

  // 2. Start-up: --version, a 16-value quantize and bare node, in strict rotation.
  const [version, small, bare] = rotate([[process.execPath, [cli, '--version']], quantize(tiny), node0], ROUNDS, clean);
  result.cli_version_s = secs(version.wall);
  result.cli_startup_quantize16_s = secs(small.wall);
  result.node_e0_s = secs(bare.wall);
  result.version_over_node_ms = ms(version.wall - bare.wall);
  result.startup_quantize16_over_node_ms = ms(small.wall - bare.wall);
  log(`start-up, wall (medians of ${ROUNDS} rotations): node -e 0 ${ms(bare.wall)} ms; --version ${ms(version.wall)} ms (+${result.version_over_node_ms} ms); quantize of 16 values ${ms(small.wall)} ms (+${result.startup_quantize16_over_node_ms} ms; goal +60 ms)`);
  if (haveTime) {
    result.version_over_node_cpu_ms = ms(version.cpu - bare.cpu);
    result.startup_quantize16_over_node_cpu_ms = ms(small.cpu - bare.cpu);
    log(`start-up, CPU: node -e 0 ${ms(bare.cpu)} ms; --version ${ms(version.cpu)} ms (+${result.version_over_node_cpu_ms} ms); quantize of 16 values ${ms(small.cpu)} ms (+${result.startup_quantize16_over_node_cpu_ms} ms)`);
  }

  // 2b. Where one 128 MiB run's time goes, from a CPU profile of it.
  const profDir = join(dir, 'prof');
  clean();
  const prof = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '250', cli, 'quantize', input, '-o', cliOut, '--dtype', 'uint8', '--quiet'], { encoding: 'utf8' });
  if (prof.status !== 0) throw new Error(`profiled run failed: ${prof.stderr}`);
  result.profile_128mib_ms = profileBreakdown(join(profDir, readdirSync(profDir)[0]));
  log(`one 128 MiB run under --cpu-prof (ms by what was running): ${Object.entries(result.profile_128mib_ms).map(([k, v]) => `${k} ${v}`).join('; ')}`);

  // 3. --workers 2 against the default single thread.
  const w = alternate(quantize(input, ['--workers', '2']), quantize(input), ROUNDS, clean);
  result.cli_workers2_over_workers1 = +w.ratio.toFixed(3);
  log(`--workers 2 / --workers 1 on 128 MiB: ${w.ratio.toFixed(2)}x (${w.a.toFixed(3)} s against ${w.b.toFixed(3)} s)`);

  // 4. In this process: the parts of the library call.
  const buf = new Uint8Array(1 << 22);
  const readTwice = () => {
    for (let pass = 0; pass < 2; pass++) {
      const f = openSync(input, 'r');
      let pos = 0;
      for (let got; (got = readSync(f, buf, 0, buf.length, pos)) > 0; ) pos += got;
      closeSync(f);
    }
  };
  const codes = new Uint8Array(n);
  const writeCodes = () => {
    const tmp = join(dir, 'w.tmp');
    const f = openSync(tmp, 'w');
    for (let off = 0; off < codes.length; off += buf.length) writeSync(f, codes, off, Math.min(buf.length, codes.length - off));
    closeSync(f);
    renameSync(tmp, join(dir, 'w.npy'));
  };
  const library = async () => {
    const reader = NpyFileReader.open(input);
    const out = new AtomicFile(join(dir, 'lib.npy'));
    try {
      await quantizeNpyFile(reader, out, { dtype: 'uint8' });
      out.commit();
    } finally {
      reader.close();
    }
  };
  result.read_twice_s = secs(await timeInProcess(readTwice, ROUNDS));
  result.write_32mib_s = secs(await timeInProcess(writeCodes, ROUNDS));
  result.library_quantize_128mib_s = secs(await timeInProcess(library, ROUNDS));
  log(`in one warm process: the library call ${ms(result.library_quantize_128mib_s)} ms, of which reading 128 MiB twice ~${ms(result.read_twice_s)} ms and writing 32 MiB ~${ms(result.write_32mib_s)} ms`);
  if (result.cli_quantize_128mib_s !== undefined) {
    log(`so the CLI's ${ms(result.cli_quantize_128mib_s)} ms are ~${ms(small.wall)} ms of process start-up (a 16-value run) and ~${ms(result.library_quantize_128mib_s)} ms of work`);
  }
  result.loadavg_after = loadavg().map(r2);
  log(`CPU ${result.cpu}; load average before ${result.loadavg_before.join(' ')}, after ${result.loadavg_after.join(' ')} (${cpus().length} cores)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(result));
