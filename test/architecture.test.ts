import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

// Dependencies point inward: core <- formats <- engine <- onnx <- node, contract <- server, cli, web.
// A layer may import itself and anything to its left; core also stays free of Node-only APIs so
// it runs in browsers. contract is the HTTP contract the service and the page share (config names
// and JSON Schema): it sits beside node, and like web it runs in the browser, so neither imports a
// Node-only layer.
// qat (quantization-aware training on TensorFlow.js, an optional peer) sits beside onnx's consumers:
// it builds on core, formats, engine and onnx, and no other layer imports it (checked below).
const LAYERS = ['core', 'formats', 'engine', 'onnx', 'qat', 'node', 'contract', 'server', 'cli', 'web', 'bench'] as const;
const RANK: Record<string, number> = { core: 0, formats: 1, engine: 2, onnx: 3, qat: 3.5, node: 4, contract: 4, server: 5, cli: 5, web: 5, bench: 6 };
/** Layers whose code runs in the browser, and the layers they may therefore not import. */
const BROWSER_LAYERS = ['contract', 'web'];
const NODE_ONLY_LAYERS = ['node', 'server', 'cli', 'bench'];
const SRC = resolve(__dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'assembly' ? [] : sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  return relative(SRC, file).split(/[\\/]/)[0];
}

const IMPORT_RE = /(?:^|[\n;])\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT_RE)].map((m) => m[1] ?? m[2]);
}

describe('architecture', () => {
  const files = sourceFiles(SRC);

  it('has source files in known layers only', () => {
    for (const f of files) {
      const layer = layerOf(f);
      if (!f.includes('/', SRC.length + 1)) continue; // top-level barrels such as src/index.ts
      expect(LAYERS as readonly string[], `${relative(SRC, f)} is in an unknown layer`).toContain(layer);
    }
  });

  it('points every relative import inward', () => {
    const bad: string[] = [];
    for (const f of files) {
      if (!f.includes('/', SRC.length + 1)) continue;
      const from = layerOf(f);
      for (const spec of importsOf(f)) {
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(f), spec);
        const to = layerOf(target);
        if (RANK[to] !== undefined && RANK[to] > RANK[from]) bad.push(`${relative(SRC, f)} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('keeps core free of Node-only modules and globals', () => {
    const bad: string[] = [];
    for (const f of files.filter((f) => layerOf(f) === 'core' || layerOf(f) === 'formats')) {
      const text = readFileSync(f, 'utf8');
      // Pure-JS packages that run in browsers too: zod (validation), onnx-buf and its protobuf runtime.
      const allowed = layerOf(f) === 'core' ? ['zod'] : ['zod', 'onnx-buf', '@bufbuild/protobuf', '@bufbuild/protobuf/wire'];
      for (const spec of importsOf(f)) if (!spec.startsWith('.') && !allowed.includes(spec)) bad.push(`${relative(SRC, f)} imports ${spec}`);
      if (/\bBuffer\.|\bprocess\.|\bconsole\.|\bDate\.now\(|\bperformance\.now\(|\bMath\.random\(/.test(text)) bad.push(`${relative(SRC, f)} uses a Node-only global, a clock or unseeded randomness`);
    }
    expect(bad).toEqual([]);
  });

  it('keeps qat to core, formats, engine and onnx, and every other layer off qat', () => {
    const bad: string[] = [];
    for (const f of files) {
      if (!f.includes('/', SRC.length + 1)) continue;
      for (const spec of importsOf(f)) {
        if (!spec.startsWith('.')) continue;
        const to = layerOf(resolve(dirname(f), spec));
        if (layerOf(f) === 'qat' ? !['core', 'formats', 'engine', 'onnx', 'qat'].includes(to) : to === 'qat') bad.push(`${relative(SRC, f)} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('keeps the browser layers (contract, web) off Node-only layers and modules', () => {
    const bad: string[] = [];
    for (const f of files.filter((f) => BROWSER_LAYERS.includes(layerOf(f)))) {
      for (const spec of importsOf(f)) {
        if (spec.startsWith('node:')) bad.push(`${relative(SRC, f)} imports ${spec}`);
        if (spec.startsWith('.') && NODE_ONLY_LAYERS.includes(layerOf(resolve(dirname(f), spec)))) bad.push(`${relative(SRC, f)} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
