#!/usr/bin/env python3
"""Writes the .npy fixtures quantkit's npy codec is tested against, with numpy as the reference.

test/fixtures/npy/
  arrays/*.npy     every dtype x byte order x (C, Fortran) x shapes incl. 0-d and empty,
                   plus header versions 1.0, 2.0 and 3.0 (np.lib.format.write_array)
  headers/*.npy    hand-written header dicts numpy accepts (keys reordered, double quotes,
                   no trailing comma, Python 2 'L' integers, '=' byte order)
  unaligned/*.npy  every dtype x byte order x (C, Fortran) with a header padded so the data starts
                   at an odd offset (numpy reads these; its writer never makes them), and a bool
                   file whose bytes are 0, 1, 9, 255 and 2 (numpy reads any non-zero byte as True)
  manifest.json    for each file: dtype, shape, header fields, and the expected values as the
                   hex of their little-endian C-order bytes (exact, NaN payloads included; bool
                   as 0/1), and for real dtypes float32Hex, the same after numpy's astype(float32)

Run: python3 scripts/gen-npy-fixtures.py   (numpy 2.x; output is deterministic)
"""
import json
import os
import shutil

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'npy')

DTYPES = {
    'bool': 'b1', 'int8': 'i1', 'uint8': 'u1', 'int16': 'i2', 'uint16': 'u2', 'int32': 'i4',
    'uint32': 'u4', 'int64': 'i8', 'uint64': 'u8', 'float16': 'f2', 'float32': 'f4',
    'float64': 'f8', 'complex64': 'c8', 'complex128': 'c16',
}
SHAPES_C = [(), (0,), (5,), (2, 3), (2, 3, 4), (3, 0, 2)]
SHAPES_F = [(2, 3), (2, 3, 4), (4, 1, 3)]


def values(name, n, rng):
    """n values of the dtype, starting with its edge cases."""
    dt = np.dtype(DTYPES[name])
    if name == 'bool':
        return (np.arange(n) % 3 == 1)
    if dt.kind in 'iu':
        info = np.iinfo(dt)
        edges = [info.min, info.max, 0, 1, info.max - 1]
        rand = rng.integers(info.min, info.max, size=max(n, 1), dtype=dt, endpoint=True)
        out = rand[:n].copy()
        out[:min(n, len(edges))] = np.array(edges[:n], dtype=dt)
        return out
    if dt.kind == 'f':
        edges = [np.nan, -0.0, np.inf, -np.inf, np.finfo(dt).max, np.finfo(dt).smallest_subnormal, -1.5]
        out = (rng.standard_normal(n) * 100).astype(dt)
        out[:min(n, len(edges))] = np.array(edges[:n], dtype=dt)
        return out
    re = values('float32' if name == 'complex64' else 'float64', n, rng)
    im = rng.standard_normal(n).astype(re.dtype)
    return (re + 1j * im).astype(dt) if n else np.zeros(0, dt)


def le_c_hex(arr):
    if arr.dtype.kind == 'b':
        # numpy keeps a bool's stored byte (9 stays 9) but reads it as True: we promise 0/1.
        return np.where(arr, 1, 0).astype(np.uint8).tobytes(order='C').hex()
    return arr.astype(arr.dtype.newbyteorder('<')).tobytes(order='C').hex()


def float32_hex(arr):
    if arr.dtype.kind == 'c':
        return None
    if arr.dtype.kind == 'b':
        arr = np.where(arr, 1, 0)
    return arr.astype('<f4').tobytes(order='C').hex()


def handmade_header(text, version, data_offset_mod=None):
    """magic, version, length and dict; padded to 64 as numpy's writer does, or else so that the
    data starts at an offset congruent to data_offset_mod modulo 64."""
    body = text.encode('utf8' if version == (3, 0) else 'latin1')
    field = 2 if version == (1, 0) else 4
    hlen = len(body) + 1
    target = 0 if data_offset_mod is None else data_offset_mod
    pad = (target - (8 + field + hlen)) % 64
    return b'\x93NUMPY' + bytes(version) + (hlen + pad).to_bytes(field, 'little') + body + b' ' * pad + b'\n'


def header_of(path):
    with open(path, 'rb') as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(f)
        return version, shape, fortran, dtype, f.tell()


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(os.path.join(ROOT, 'arrays'))
    os.makedirs(os.path.join(ROOT, 'headers'))
    os.makedirs(os.path.join(ROOT, 'unaligned'))
    rng = np.random.default_rng(20260601)
    entries = []

    def record(rel, arr, kind, written_version=None):
        path = os.path.join(ROOT, rel)
        version, shape, fortran, dtype, offset = header_of(path)
        back = np.load(path)
        assert back.shape == arr.shape and le_c_hex(back) == le_c_hex(arr), rel
        entries.append({
            'file': rel, 'kind': kind, 'dtype': [k for k, v in DTYPES.items() if np.dtype(v) == dtype.newbyteorder('=')][0],
            'shape': list(shape), 'fortranOrder': bool(fortran),
            'littleEndian': dtype.byteorder != '>', 'descr': dtype.str,
            'version': list(version), 'writtenVersion': written_version, 'dataOffset': offset,
            'hex': le_c_hex(arr), 'float32Hex': float32_hex(arr),
        })

    for name, code in DTYPES.items():
        orders = ['|'] if np.dtype(code).itemsize == 1 else ['<', '>']
        for bo in orders:
            dt = np.dtype(bo + code if bo != '|' else code)
            for order, shapes in (('C', SHAPES_C), ('F', SHAPES_F)):
                for shape in shapes:
                    n = int(np.prod(shape))
                    base = values(name, n, rng).reshape(shape).astype(dt)
                    arr = base.copy(order=order)
                    tag = {'<': 'le', '>': 'be', '|': 'na'}[bo]
                    dims = 'x'.join(map(str, shape)) or 'scalar'
                    rel = f'arrays/{name}-{tag}-{order}-{dims}.npy'
                    with open(os.path.join(ROOT, rel), 'wb') as f:
                        np.lib.format.write_array(f, arr, version=None)
                    record(rel, arr, 'numpy')

    for version in ((1, 0), (2, 0), (3, 0)):
        for name, shape, order in (('float32', (3, 2), 'C'), ('int16', (2, 2, 2), 'F'), ('complex64', (4,), 'C')):
            arr = values(name, int(np.prod(shape)), rng).reshape(shape)
            arr = np.asfortranarray(arr) if order == 'F' else arr
            rel = f'arrays/v{version[0]}-{name}-{order}.npy'
            with open(os.path.join(ROOT, rel), 'wb') as f:
                np.lib.format.write_array(f, arr, version=version)
            record(rel, arr, 'numpy', list(version))

    # Headers numpy accepts that its writer never produces: the parser must take them too.
    hand = {
        'reordered-keys': ("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", (1, 0), '<f4', (2, 3), False),
        'double-quotes': ('{"descr": "<i4", "fortran_order": True, "shape": (3, 2,), }', (1, 0), '<i4', (3, 2), True),
        'no-spaces': ("{'descr':'>u2','fortran_order':False,'shape':(4,)}", (2, 0), '>u2', (4,), False),
        'python2-long': ("{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 2L), }", (1, 0), '<i8', (2, 2), False),
        'native-order': ("{'descr': '=f8', 'fortran_order': False, 'shape': (3,), }", (1, 0), '=f8', (3,), False),
        'scalar-utf8': ("{'descr': '<f2', 'fortran_order': False, 'shape': (), }", (3, 0), '<f2', (), False),
    }
    for key, (text, version, descr, shape, fortran) in hand.items():
        header = handmade_header(text, version)
        dt = np.dtype(descr)
        arr = values([k for k, v in DTYPES.items() if np.dtype(v) == dt.newbyteorder('=')][0],
                     int(np.prod(shape)), rng).astype(dt).reshape(shape)
        data = arr.tobytes(order='F' if fortran else 'C')
        rel = f'headers/{key}.npy'
        with open(os.path.join(ROOT, rel), 'wb') as f:
            f.write(header + data)
        if key == 'python2-long':
            # numpy re-parses Python 2 headers with a warning; it still reads them.
            import warnings
            warnings.simplefilter('ignore')
        record(rel, arr, 'handmade')

    # Data at odd offsets (1, 3, 5, ... modulo 64): no element is aligned, whatever the buffer.
    odd = 1
    for name, code in DTYPES.items():
        orders = ['|'] if np.dtype(code).itemsize == 1 else ['<', '>']
        for bo in orders:
            dt = np.dtype(bo + code if bo != '|' else code)
            for fortran in (False, True):
                shape = (2, 3)
                arr = values(name, 6, rng).reshape(shape).astype(dt)
                text = "{'descr': '%s', 'fortran_order': %s, 'shape': (2, 3), }" % (dt.str, fortran)
                tag = {'<': 'le', '>': 'be', '|': 'na'}[bo]
                rel = f'unaligned/{name}-{tag}-{"F" if fortran else "C"}.npy'
                with open(os.path.join(ROOT, rel), 'wb') as f:
                    f.write(handmade_header(text, (1, 0), odd) + arr.tobytes(order='F' if fortran else 'C'))
                record(rel, arr, 'handmade')
                odd = (odd + 2) % 64
    rel = 'unaligned/bool-bytes.npy'
    raw = bytes([0, 1, 9, 255, 2, 0])
    with open(os.path.join(ROOT, rel), 'wb') as f:
        f.write(handmade_header("{'descr': '|b1', 'fortran_order': False, 'shape': (6,), }", (1, 0), 7) + raw)
    assert np.load(os.path.join(ROOT, rel)).tolist() == [False, True, True, True, True, False]
    record(rel, np.frombuffer(raw, dtype=np.bool_), 'handmade')

    with open(os.path.join(ROOT, 'manifest.json'), 'w') as f:
        # One entry per line: readable diffs when a fixture changes.
        f.write('{"generator": "scripts/gen-npy-fixtures.py", "numpy": %s, "files": [\n' % json.dumps(np.__version__))
        f.write(',\n'.join(json.dumps(e) for e in entries))
        f.write('\n]}\n')
    print(f'wrote {len(entries)} fixtures to {os.path.normpath(ROOT)}')


if __name__ == '__main__':
    main()
