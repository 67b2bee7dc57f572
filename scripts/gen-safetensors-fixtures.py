#!/usr/bin/env python3
"""Writes the .safetensors fixtures quantkit's safetensors codec is tested against, with the
Hugging Face `safetensors` Python package (0.8, Apache-2.0; a Rust core) as the reference.

test/fixtures/safetensors/
  floats.safetensors     F32, F16, F64 with their edge values (NaN, -0, inf, subnormals, rounding
                         ties), names with dots and slashes, metadata {"format": "np"}
  ints.safetensors       I8, U8, I32, I64 (extremes), BOOL; names with non-ASCII, a quote, a tab
  edge.safetensors       a scalar [] tensor, empty [0, 3] and [0] tensors, three metadata keys
  empty.safetensors      no tensors at all
  bf16.safetensors       BF16, written by hand below (numpy has no bfloat16) and checked to equal,
                         byte for byte, what the reference writer makes of the same bits
  unaligned.safetensors  written by hand without header padding, so the data buffer starts at an
                         odd offset; checked to load with the reference reader
  malformed/*.safetensors  one defect each; every one is checked to be refused by the reference
  expected.json          per file: dataStart, metadata, and per tensor dtype, shape, offsets, the
                         hex of its bytes, integer values (64-bit ones as decimal strings) and,
                         for float dtypes, the float32 bits of numpy's astype(np.float32)

The Rust writer orders tensors by dtype (widest first, in its enum order) then by name, pads the
JSON with spaces to a multiple of 8, and writes the metadata map in HashMap order, which is random
per process: files with two or more metadata keys ("deterministic": false) can differ byte for byte
between runs of this script; everything else is reproducible.

Run: python3 scripts/gen-safetensors-fixtures.py   (numpy 2.x, safetensors 0.8)
"""
import json
import os
import shutil
import struct

import numpy as np
import safetensors
from safetensors import TensorSpec, deserialize, serialize
from safetensors.numpy import load, save

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'safetensors')

# The reference names, keyed by numpy dtype name.
CODE = {
    'bool': 'BOOL', 'int8': 'I8', 'uint8': 'U8', 'int16': 'I16', 'uint16': 'U16', 'int32': 'I32',
    'uint32': 'U32', 'int64': 'I64', 'uint64': 'U64', 'float16': 'F16', 'float32': 'F32', 'float64': 'F64',
}


def f64_from_bits(bits):
    return np.array([bits], np.uint64).view(np.float64)[0]


def f32_bits(arr):
    with np.errstate(over='ignore', invalid='ignore'):
        return arr.astype(np.float32).reshape(-1).view(np.uint32).tolist()


def describe(arr):
    """What the TS test checks a numpy-written tensor against."""
    out = {'hex': arr.astype(arr.dtype.newbyteorder('<')).tobytes().hex()}
    if arr.dtype.kind == 'f':
        out['float32Bits'] = f32_bits(arr)
    elif arr.dtype.itemsize == 8:
        out['values'] = [str(v) for v in arr.reshape(-1).tolist()]
    else:
        out['values'] = arr.reshape(-1).tolist()
    return out


def header_of(data):
    n = struct.unpack('<Q', data[:8])[0]
    return n, json.loads(data[8:8 + n])


def entry(file, data, described, deterministic):
    n, header = header_of(data)
    tensors = []
    for name, info in sorted(((k, v) for k, v in header.items() if k != '__metadata__'),
                             key=lambda kv: (kv[1]['data_offsets'], kv[0])):
        begin, end = info['data_offsets']
        tensors.append({'name': name, 'dtype': info['dtype'], 'shape': info['shape'],
                        'begin': begin, 'end': end, **described[name]})
    return {'file': file, 'deterministic': deterministic, 'size': len(data), 'dataStart': 8 + n,
            'metadata': header.get('__metadata__') or {}, 'tensors': tensors}


def write(path, data):
    with open(os.path.join(ROOT, path), 'wb') as f:
        f.write(data)


def from_numpy(file, tensors, metadata=None):
    data = save(tensors, metadata=metadata)
    # The reference must read back exactly what it was given.
    back = load(data)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and back[k].tobytes() == v.tobytes(), k
    write(file, data)
    return entry(file, data, {k: describe(v) for k, v in tensors.items()}, len(metadata or {}) <= 1)


def floats(rng):
    f32 = rng.standard_normal(6).astype(np.float32)
    f32[:4] = [np.nan, -0.0, np.inf, np.float32(2.0 ** -149)]
    f16 = np.array([2.0 ** -24, 1023 * 2.0 ** -24, 2.0 ** -14, 65504, np.inf, -np.inf, np.nan, -0.0,
                    1 / 3, -2.5], np.float16)
    f64 = np.array([
        1 + 2.0 ** -24,              # halfway between two float32s, ties to the even 1.0
        1 + 3 * 2.0 ** -24,          # halfway, ties up to the even 1 + 2^-22
        0.1,
        1e-46,                       # below half the smallest float32 subnormal: 0
        1e-45,                       # rounds to the smallest subnormal 2^-149
        3.5e38,                      # past the largest float32: inf
        float(np.finfo(np.float32).max),
        f64_from_bits(0x7ff9579bc0000123),  # NaN: sign, quiet bit and the top 23 payload bits survive
        -1e-50,                      # -0
        -rng.standard_normal(),
    ], np.float64)
    tensors = {
        'model.layers.0.self_attn.q_proj.weight': f32.reshape(2, 3),
        'encoder/layer.1/ln.bias': f16.reshape(2, 5),
        'lm_head.weight': f64,
    }
    return from_numpy('floats.safetensors', tensors, {'format': 'np'})


def ints(rng):
    tensors = {
        'int8.values': np.array([-128, 127, 0, -1], np.int8),
        'uint8/grid': rng.integers(0, 256, size=(3, 2), dtype=np.uint8),
        'model.layers.10.mlp.idx': np.array([-2 ** 31, 2 ** 31 - 1, 0, 7, -7], np.int32),
        'counts': np.array([-2 ** 63, 2 ** 63 - 1, 2 ** 53 + 1], np.int64),
        'mask': np.array([[True, False], [False, True]]),
        'wörter.é': np.array([1, 2], np.int8),
        'quote"and\ttab': np.array([3], np.uint8),
    }
    return from_numpy('ints.safetensors', tensors)


def edge():
    tensors = {
        'scalar': np.array(1.5, np.float32),
        'empty': np.zeros((0, 3), np.float32),
        'empty.i64': np.zeros((0,), np.int64),
        'one': np.array([9], np.uint8),
    }
    return from_numpy('edge.safetensors', tensors, {'format': 'np', 'source': 'gen-safetensors-fixtures.py', 'note': 'héllo "quoted"'})


def empty():
    return from_numpy('empty.safetensors', {})


def pad8(header):
    return header + b' ' * ((8 - len(header) % 8) % 8)


def bf16():
    """BF16 [2, 4], by hand: bfloat16 bits are the top half of float32 bits, so values exactly
    representable in bfloat16 are chosen and their float32 bits shifted right by 16."""
    values = np.array([1.0, -2.5, 3.140625, 2.0 ** -133, -0.0, np.inf, np.nan, 3.3895313892515355e38], np.float32)
    bits32 = values.view(np.uint32)
    assert (bits32 & 0xffff == 0).all()
    bits16 = (bits32 >> 16).astype('<u2')
    name = 'bf16.weight'
    header = json.dumps({name: {'dtype': 'BF16', 'shape': [2, 4], 'data_offsets': [0, 16]}}, separators=(',', ':')).encode()
    header = pad8(header)
    data = struct.pack('<Q', len(header)) + header + bits16.tobytes()
    # The same bits through the reference writer give the same bytes.
    spec = TensorSpec(dtype='bfloat16', shape=[2, 4], data_ptr=bits16.ctypes.data, data_len=16)
    assert bytes(serialize({name: spec}, None)) == data
    [(back_name, back)] = deserialize(data)
    assert back_name == name and back['dtype'] == 'BF16' and bytes(back['data']) == bits16.tobytes()
    write('bf16.safetensors', data)
    return entry('bf16.safetensors', data, {name: {'hex': bits16.tobytes().hex(), 'float32Bits': bits32.tolist()}}, True)


def unaligned():
    """No header padding, and a 1-byte tensor first, so the F32 and F64 data sit at odd file offsets."""
    tensors = {
        'u8': np.array([5], np.uint8),
        'f32': np.array([1.25, -3.0, 1e-40], np.float32),
        'f64': np.array([0.1, -2.0], np.float64),
        'f16': np.array([0.5, -65504], np.float16),
    }
    header, offset = {}, 0
    for name, arr in tensors.items():
        header[name] = {'dtype': CODE[arr.dtype.name], 'shape': list(arr.shape), 'data_offsets': [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(',', ':')).encode()
    if (8 + len(text)) % 2 == 0:
        text += b' '
    data = struct.pack('<Q', len(text)) + text + b''.join(a.tobytes() for a in tensors.values())
    assert (8 + len(text)) % 2 == 1
    back = load(data)
    for k, v in tensors.items():
        assert back[k].tobytes() == v.tobytes(), k
    write('unaligned.safetensors', data)
    return entry('unaligned.safetensors', data, {k: describe(v) for k, v in tensors.items()}, False)


F32_1 = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'


def raw(header, data=b'', n=None):
    h = header.encode() if isinstance(header, str) else header
    return struct.pack('<Q', len(h) if n is None else n) + h + data


MALFORMED = {
    'too-short': b'\x10\x00\x00\x00',
    'header-too-large': raw('{}', n=100_000_001),
    'header-past-end': raw('{}', n=1000),
    'header-empty': raw(''),
    'not-json': raw('{"a":' + F32_1, b'\0' * 4),
    'not-utf8': raw(b'{"\xff":' + F32_1.encode() + b'}', b'\0' * 4),
    'byte-order-mark': raw(b'\xef\xbb\xbf{}'),
    'not-an-object': raw('[1,2]'),
    'tensor-not-an-object': raw('{"a":[1]}'),
    'unknown-dtype': raw('{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', b'\0'),
    'missing-shape': raw('{"a":{"dtype":"F32","data_offsets":[0,4]}}', b'\0' * 4),
    'negative-dim': raw('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', b'\0' * 4),
    'fractional-dim': raw('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', b'\0' * 4),
    'three-offsets': raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}', b'\0' * 4),
    'end-before-begin': raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}', b'\0' * 8),
    'size-mismatch': raw('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', b'\0' * 12),
    'first-not-at-zero': raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b'\0' * 8),
    'hole': raw('{"a":' + F32_1 + ',"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', b'\0' * 12),
    'overlap': raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b'\0' * 8),
    'trailing-bytes': raw('{"a":' + F32_1 + '}', b'\0' * 6),
    'past-the-end': raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b'\0' * 4),
    'metadata-not-string': raw('{"__metadata__":{"k":1},"a":' + F32_1 + '}', b'\0' * 4),
}


def malformed():
    os.makedirs(os.path.join(ROOT, 'malformed'), exist_ok=True)
    out = []
    for name, data in MALFORMED.items():
        try:
            deserialize(data)
        except Exception as e:  # noqa: BLE001 - any refusal counts; its text is recorded
            reference = str(e)
        else:
            raise AssertionError(f'the reference accepts malformed/{name}')
        write(f'malformed/{name}.safetensors', data)
        out.append({'file': f'malformed/{name}.safetensors', 'referenceError': reference})
    return out


def main():
    assert safetensors.__version__.startswith('0.8'), safetensors.__version__
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    rng = np.random.default_rng(20240611)
    files = [floats(rng), ints(rng), edge(), empty(), bf16(), unaligned()]
    doc = {
        'generator': 'scripts/gen-safetensors-fixtures.py',
        'reference': f'safetensors {safetensors.__version__} (Python, Hugging Face, Apache-2.0), numpy {np.__version__}',
        'files': files,
        'malformed': malformed(),
    }
    with open(os.path.join(ROOT, 'expected.json'), 'w') as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write('\n')
    with open(os.path.join(ROOT, 'README.md'), 'w') as f:
        f.write(README)


README = """# safetensors fixtures

Made by `python3 scripts/gen-safetensors-fixtures.py` (numpy 2.x, seeded). The `.safetensors` files
were written by the Hugging Face `safetensors` Python package 0.8 (Apache-2.0) through
`safetensors.numpy.save`, except `bf16.safetensors` and `unaligned.safetensors`, which the script
writes by hand (numpy has no bfloat16; the reference writer always pads) and checks against the
reference (the BF16 file equals the reference writer's bytes; the unaligned one loads with the
reference reader). Every file in `malformed/` is checked to be refused by the reference reader,
whose message is recorded in `expected.json` beside it.

`expected.json` holds, per file, the data start, the metadata and each tensor's dtype, shape,
offsets, the hex of its bytes, its integer values (64-bit ones as decimal strings) and, for float
dtypes, the float32 bits numpy's `astype(np.float32)` gives.

Files with two or more metadata keys (`"deterministic": false`) can change byte order between runs:
the reference writes its metadata map in Rust HashMap order, which is random per process.
"""

if __name__ == '__main__':
    main()
