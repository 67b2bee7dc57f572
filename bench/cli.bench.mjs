#!/usr/bin/env node
// The CLI against numpy on a 128 MiB float32 .npy (uint8, per-tensor), each timed end to end
// exactly as a user runs it: one process per run, `node dist/cli/main.js quantize ...` against
// `python3 scripts/bench-cli-numpy.py IN OUT 1` (interpreter start and `import numpy` included,
// as the CLI's process start is; numpy with its defaults, nothing tuned). The file is in the page
// cache (both read it once untimed first), each output is deleted before each run (untimed) so
// both write a new file, and the two run strictly alternately, CLI then numpy, pair after pair:
// the ratio is taken pair by pair and its median reported with the spread of the pairs, and the
// output says so when the pairs disagree (the slowest pair's ratio over 1.5x the fastest's). No
// other process of this bench runs between a pair's two halves. Each run's CPU seconds (user +
// sys, from wait4 in a python3 wrapper) and minor page faults are reported beside wall time: on a
// shared machine wall time mostly measures the other jobs, CPU time much less so.
//
// numpy's time is bimodal on some machines (the same script ~0.3 s one run, ~1.5 s the next): its
// script materialises the whole array and float temporaries of it (a peak of ~420 MB, fresh
// memory every run), and what varies is the kernel time of touching that memory for the first
// time (the same page faults, up to seven times the system seconds), not its user time. The bench prints numpy's user and system seconds of its fastest and slowest runs so a
// reader can see which it was; the CLI streams the file through fixed buffers and does not vary so.
//
// Then:
//   start-up: every command and subcommand the CLI has (--version, --help, a 16-value run of each
//   .npy command, each subcommand's --help) against `node -e 0`, each in strict alternation with
//   it (A B A B ...), the difference taken pair by pair: milliseconds over bare node, wall and CPU;
//   a --cpu-prof profile of one 128 MiB run, its samples summed by what they were doing (module
//   loading and compiling, the WebAssembly kernels, reading, writing, GC, waiting, other JS);
//   in this process: reading the file twice (the CLI's two passes: range, then quantize), the
//   library call (quantizeNpyFile: read, range, quantize, write), and writing 32 MiB of codes;
//   --workers 2 against --workers 1.
// Uses the BUILT CLI (npm run build first). `--rounds N` (default 9); `--json` prints one object;
// `--startup` runs the start-up table alone.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync, renameSync } from 'node:fs';
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
const STARTUP_ONLY = argv.includes('--startup');
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

/**
 * Each run is started by a small python3 wrapper that waits for it with wait4(): its user and
 * system seconds at microsecond resolution (/usr/bin/time prints hundredths, too coarse for a
 * start-up of tens of milliseconds) and its minor page faults; wall time is taken by the wrapper
 * around the child alone. Without python3, /usr/bin/time; without either, wall time alone.
 */
const WAIT4 = `import os, sys, time, subprocess
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:])
_, status, ru = os.wait4(p.pid, 0)
wall = time.perf_counter() - t0
sys.stderr.write("\\n@@run %.6f %.6f %.6f %d\\n" % (wall, ru.ru_utime, ru.ru_stime, ru.ru_minflt))
sys.exit(os.waitstatus_to_exitcode(status))`;
const TIMER = spawnSync('python3', ['-c', WAIT4, 'true']).status === 0 ? ['python3', '-c', WAIT4] : spawnSync('/usr/bin/time', ['-f', '%U', 'true']).status === 0 ? ['/usr/bin/time', '-f', '\n@@run - %U %S %R'] : null;
const haveTime = TIMER !== null;

/**
 * Wall and CPU seconds of one process, its user and system seconds and minor page faults apart
 * (NaN without a timer), its output captured and checked for success.
 */
function timeProcess(name, [cmd, args]) {
  const t0 = performance.now();
  const p = TIMER ? spawnSync(TIMER[0], [...TIMER.slice(1), cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  let wall = (performance.now() - t0) / 1000;
  if (p.status !== 0) throw new Error(`${name} failed (exit ${p.status}): ${p.stderr}`);
  const m = TIMER ? /@@run (\S+) (\d+\.\d+) (\d+\.\d+) (\d+)\s*$/.exec(p.stderr) : null;
  if (m && m[1] !== '-') wall = Number(m[1]);
  const [user, sys, faults] = m ? [Number(m[2]), Number(m[3]), Number(m[4])] : [NaN, NaN, NaN];
  return { wall, cpu: user + sys, user, sys, faults };
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
    runsA: ta,
    runsB: tb,
    overMs: median(ta.map((t, i) => t.wall - tb[i].wall)) * 1000,
    overCpuMs: median(ta.map((t, i) => t.cpu - tb[i].cpu)) * 1000,
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
  const codes16 = join(dir, 'codes16.npy');
  const cfd = openSync(codes16, 'w');
  writeSync(cfd, encodeNpyHeader('uint8', [4, 4]));
  writeSync(cfd, Uint8Array.from({ length: 16 }, (_, i) => i * 16));
  closeSync(cfd);
  const params16 = join(dir, 'params16.json');
  writeFileSync(params16, JSON.stringify({ format: 'quantkit.params', version: 1, dtype: 'uint8', bits: 8, signed: false, symmetric: false, narrow: false, granularity: 'per_tensor', axis: null, block_size: null, qmin: 0, qmax: 255, scale: [0.03125], zero_point: [128], param_shape: [] }));

  const cli = join(root, 'dist/cli/main.js');
  const cliOut = join(dir, 'q.npy');
  const npOut = join(dir, 'np.npy');
  const dqOut = join(dir, 'dq.npy');
  const fqOut = join(dir, 'fq.npy');
  const quantize = (file, extra = []) => [process.execPath, [cli, 'quantize', file, '-o', cliOut, '--dtype', 'uint8', ...extra]];
  const numpy = ['python3', [join(root, 'scripts/bench-cli-numpy.py'), input, npOut, '1']];
  const node0 = [process.execPath, ['-e', '0']];
  const clean = () => {
    for (const f of [cliOut, npOut, dqOut, fqOut]) rmSync(f, { force: true });
  };
  const havePython = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

  // 1. The headline: CLI against numpy, strictly alternating, as separate processes.
  if (STARTUP_ONLY) {
    // the start-up table alone
  } else if (havePython) {
    const h = alternate(quantize(input), numpy, ROUNDS, clean);
    const lo = Math.min(...h.ratios);
    const hi = Math.max(...h.ratios);
    const disagree = hi > 1.5 * lo;
    result.cli_quantize_128mib_s = secs(h.a);
    result.numpy_quantize_128mib_s = secs(h.b);
    result.cli_over_numpy = +h.ratio.toFixed(3);
    result.cli_over_numpy_pairs = h.ratios.map((v) => +v.toFixed(3));
    result.cli_over_numpy_min = +lo.toFixed(3);
    result.cli_over_numpy_max = +hi.toFixed(3);
    result.pairs_disagree = disagree;
    result.cli_quantize_128mib_cpu_s = secs(h.aCpu);
    result.numpy_quantize_128mib_cpu_s = secs(h.bCpu);
    result.cli_over_numpy_cpu = +h.cpuRatio.toFixed(3);
    log(`quantkit quantize 128 MiB (uint8, per-tensor), end to end:  median ${h.a.toFixed(3)} s (runs ${h.runsA.map((t) => t.wall.toFixed(2)).join(' ')})`);
    log(`python3 numpy script (load, min/max, quantize, save):       median ${h.b.toFixed(3)} s (runs ${h.runsB.map((t) => t.wall.toFixed(2)).join(' ')})`);
    log(`ratio quantkit / numpy, median of ${ROUNDS} alternating pairs: ${h.ratio.toFixed(2)}x (target <= 0.5x); pairs from ${lo.toFixed(2)}x to ${hi.toFixed(2)}x: ${h.ratios.map((v) => v.toFixed(2)).join(' ')}`);
    if (disagree) {
      log(`  the pairs DISAGREE (the largest ratio is ${(hi / lo).toFixed(1)}x the smallest): quote the median with its spread, never one pair`);
    }
    if (haveTime) {
      log(`CPU seconds (user + sys), medians: quantkit ${h.aCpu.toFixed(3)} s, numpy ${h.bCpu.toFixed(3)} s, ratio of pairs ${h.cpuRatio.toFixed(2)}x`);
      // Which part of numpy's time moves: the slowest and fastest of its runs, user and system apart.
      const byWall = [...h.runsB].sort((x, y) => x.wall - y.wall);
      const [fast, slow] = [byWall[0], byWall[byWall.length - 1]];
      const run = (t) => `${t.wall.toFixed(2)} s wall = ${t.user.toFixed(2)} user + ${t.sys.toFixed(2)} sys, ${t.faults} minor faults`;
      result.numpy_fastest = { wall_s: secs(fast.wall), user_s: fast.user, sys_s: fast.sys, minor_faults: fast.faults };
      result.numpy_slowest = { wall_s: secs(slow.wall), user_s: slow.user, sys_s: slow.sys, minor_faults: slow.faults };
      log(`numpy's fastest run ${run(fast)}; slowest ${run(slow)}`);
      log(`quantkit's runs: system seconds ${Math.min(...h.runsA.map((t) => t.sys)).toFixed(2)} to ${Math.max(...h.runsA.map((t) => t.sys)).toFixed(2)}, minor faults ~${median(h.runsA.map((t) => t.faults))}`);
      if (slow.wall > 1.5 * fast.wall) {
        const sysShare = (slow.sys - fast.sys) / (slow.wall - fast.wall);
        log(
          `  numpy's slowest run spent ${(100 * sysShare).toFixed(0)}% of its extra wall time in the kernel (${slow.sys.toFixed(2)} s against ${fast.sys.toFixed(2)} s of system time, on ${slow.faults} against ${fast.faults} page faults): ` +
            'first touches of its ~420 MB of fresh arrays cost more on some runs than on others; the rest of the extra is waiting (other jobs on the machine)',
        );
      }
    }
  } else {
    result.numpy_skipped = true;
    log('numpy comparison skipped: python3 with numpy is not available');
  }

  // 2. Start-up of every command line, each in strict alternation with `node -e 0`.
  const startup = [
    ['--version', ['--version']],
    ['--help', ['--help']],
    ['quantize (16 values)', ['quantize', tiny, '-o', cliOut, '--dtype', 'uint8']],
    ['dequantize (16 values)', ['dequantize', codes16, '-o', dqOut, '--params', params16]],
    ['fake-quant (16 values)', ['fake-quant', tiny, '-o', fqOut, '--dtype', 'uint8']],
    ['calibrate (16 values)', ['calibrate', tiny]],
    ['inspect (16 values)', ['inspect', tiny]],
    ...['quantize', 'dequantize', 'fake-quant', 'calibrate', 'inspect', 'serve'].map((c) => [`${c} --help`, [c, '--help']]),
    ...['', ' quantize', ' compare', ' sensitivity'].map((c) => [`onnx${c} --help`, ['onnx', ...c.split(' ').filter(Boolean), '--help']]),
    ...['', ' quantize', ' inspect', ' dequantize'].map((c) => [`gguf${c} --help`, ['gguf', ...c.split(' ').filter(Boolean), '--help']]),
  ];
  result.startup_over_node_ms = {};
  log(`start-up over \`node -e 0\` (each command alternating with it, ${ROUNDS} pairs; medians of the pairs' differences; goal +60 ms wall):`);
  for (const [name, args] of startup) {
    const t = alternate([process.execPath, [cli, ...args]], node0, ROUNDS, clean);
    result.startup_over_node_ms[name] = { wall: +t.overMs.toFixed(1), ...(haveTime && { cpu: +t.overCpuMs.toFixed(1) }), node_e0_wall: ms(t.b) };
    log(`  ${name.padEnd(24)} +${t.overMs.toFixed(0).padStart(3)} ms wall${haveTime ? `  +${t.overCpuMs.toFixed(0).padStart(3)} ms CPU` : ''}   (node -e 0: ${ms(t.b)} ms)`);
  }
  const worst = Object.entries(result.startup_over_node_ms).sort((x, y) => y[1].wall - x[1].wall)[0];
  log(`  slowest: ${worst[0]}, +${worst[1].wall} ms wall`);
  if (STARTUP_ONLY) {
    result.loadavg_after = loadavg().map(r2);
    log(`CPU ${result.cpu}; load average before ${result.loadavg_before.join(' ')}, after ${result.loadavg_after.join(' ')} (${cpus().length} cores)`);
    if (json) console.log(JSON.stringify(result));
    process.exit(0);
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
    const startupMs = result.startup_over_node_ms['quantize (16 values)'].wall + result.startup_over_node_ms['quantize (16 values)'].node_e0_wall;
    log(`so the CLI's ${ms(result.cli_quantize_128mib_s)} ms are ~${startupMs.toFixed(0)} ms of process start-up (a 16-value run) and ~${ms(result.library_quantize_128mib_s)} ms of work`);
  }
  result.loadavg_after = loadavg().map(r2);
  log(`CPU ${result.cpu}; load average before ${result.loadavg_before.join(' ')}, after ${result.loadavg_after.join(' ')} (${cpus().length} cores)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(result));
