#!/usr/bin/env python3
"""Golden whole-model outputs of llama.cpp's own `llama_model_quantize`, for quantkit's GGUF tests.

No network and no torch: python3, numpy, and the llama.cpp shared libraries that the pinned npm
package @node-llama-cpp/linux-x64 ships (libllama.v0.5.0.so, found through node_modules).

It builds tiny llama-architecture GGUF models (weights from a seeded integer hash, so
test/gguf/tiny-llama.ts builds the very same bytes), importance matrices in both of llama.cpp's
forms, and quantizes the models with llama.cpp to every mix the tests check. Written to
test/fixtures/gguf/:
  golden-models.json    each model's input SHA-256, and per mix: llama.cpp's output SHA-256 and
                        each tensor's type and SHA-256 (so a failing test names the tensor)
  imatrix.dat, imatrix.gguf   the importance matrices (legacy and GGUF forms)
  small-q8_0.llama.gguf       llama.cpp's Q8_0 of the small model (the logits test runs it)

Run: python3 scripts/gen-gguf-golden.py
Or quantize one file with llama.cpp: python3 scripts/gen-gguf-golden.py --quantize IN OUT TYPE
"""
import ctypes
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = os.path.join(ROOT, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'gguf')

# ---------------------------------------------------------------------------------------------
# The models. Keep in step with test/gguf/tiny-llama.ts (the tests compare the input hashes).

MODELS = {
    # K-quants need rows of 256; 8 layers exercise the per-layer rules (use_more_bits, n_layer/8).
    'mixes': dict(seed=1, n_vocab=300, n_embd=256, n_ff=512, n_layer=8, n_head=4, n_head_kv=2),
    # Small enough to commit llama.cpp's Q8_0 of it; its rows of 64 and 128 are no K-quant's, so
    # its K mixes take llama.cpp's fallback path (Q4_K -> Q5_0, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL).
    'small': dict(seed=2, n_vocab=300, n_embd=64, n_ff=128, n_layer=2, n_head=4, n_head_kv=2),
    # No output.weight: the output reuses token_embd, so token_embd takes the output's rule (Q6_K).
    'tied': dict(seed=3, n_vocab=300, n_embd=256, n_ff=256, n_layer=2, n_head=4, n_head_kv=1, tied=True),
}


def mix32(x):
    """lowbias32 (Chris Wellons): a 32-bit integer hash, on uint32 numpy arrays."""
    x = np.asarray(x, dtype=np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    x = x ^ (x >> np.uint32(16))
    return x


def hashed(seed, tensor_index, n):
    """n uint32 hashes of (seed, tensor, element index)."""
    with np.errstate(over='ignore'):
        base = mix32(np.uint32((seed * 1000 + tensor_index) & 0xFFFFFFFF))
        return mix32(np.arange(n, dtype=np.uint32) + base)


def weight_values(seed, tensor_index, rows, cols):
    """Uniform weights, exact in float32: a 24-bit integer times 2^-(24 + row % 3)."""
    h = hashed(seed, tensor_index, rows * cols)
    m = (h >> np.uint32(8)).astype(np.int64) - (1 << 23)
    shift = 24 + (np.arange(rows * cols) // cols) % 3
    return (m.astype(np.float64) * np.exp2(-shift.astype(np.float64))).astype(np.float32)


def norm_values(seed, tensor_index, n):
    """Norm weights near 1, exact in float32: 1 + a 12-bit integer times 2^-14."""
    h = hashed(seed, tensor_index, n)
    m = (h >> np.uint32(20)).astype(np.int64) - 2048
    return (1.0 + m.astype(np.float64) * 2.0 ** -14).astype(np.float32)


def vocab(n_vocab):
    """A SentencePiece ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then pieces."""
    tokens = ['<unk>', '<s>', '</s>'] + ['<0x%02X>' % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    letters = 'etaoinshrdlucmfwypvbgkjqxz'
    pieces = ['\u2581' + c for c in letters] + list(letters)
    i = 0
    while len(tokens) < n_vocab:
        tokens.append(pieces[i] if i < len(pieces) else '\u2581w%d' % i)
        types.append(1)
        i += 1
    scores = [0.0] * 259 + [-float(k) for k in range(1, n_vocab - 259 + 1)]
    return tokens, scores, types


def model_tensors(cfg):
    """(name, ggml dims, ggml type id, float32 values) in file order, as convert_hf_to_gguf writes them."""
    e, f, v, L = cfg['n_embd'], cfg['n_ff'], cfg['n_vocab'], cfg['n_layer']
    kv = e * cfg['n_head_kv'] // cfg['n_head']
    specs = [('token_embd.weight', [e, v])]
    for i in range(L):
        p = 'blk.%d.' % i
        specs += [
            (p + 'attn_norm.weight', [e]),
            (p + 'attn_q.weight', [e, e]),
            (p + 'attn_k.weight', [e, kv]),
            (p + 'attn_v.weight', [e, kv]),
            (p + 'attn_output.weight', [e, e]),
            (p + 'ffn_norm.weight', [e]),
            (p + 'ffn_gate.weight', [e, f]),
            (p + 'ffn_up.weight', [e, f]),
            (p + 'ffn_down.weight', [f, e]),
        ]
    specs += [('output_norm.weight', [e])] + ([] if cfg.get('tied') else [('output.weight', [e, v])])
    out = []
    for k, (name, dims) in enumerate(specs):
        if len(dims) == 1:
            out.append((name, dims, 0, norm_values(cfg['seed'], k, dims[0])))
        else:
            out.append((name, dims, 1, weight_values(cfg['seed'], k, dims[1], dims[0])))
    return out


def model_metadata(cfg):
    tokens, scores, types = vocab(cfg['n_vocab'])
    return [
        ('general.architecture', 'string', 'llama'),
        ('general.name', 'string', 'quantkit tiny llama'),
        ('general.file_type', 'u32', 1),
        ('llama.context_length', 'u32', 256),
        ('llama.embedding_length', 'u32', cfg['n_embd']),
        ('llama.block_count', 'u32', cfg['n_layer']),
        ('llama.feed_forward_length', 'u32', cfg['n_ff']),
        ('llama.rope.dimension_count', 'u32', cfg['n_embd'] // cfg['n_head']),
        ('llama.attention.head_count', 'u32', cfg['n_head']),
        ('llama.attention.head_count_kv', 'u32', cfg['n_head_kv']),
        ('llama.attention.layer_norm_rms_epsilon', 'f32', 1e-5),
        ('llama.rope.freq_base', 'f32', 10000.0),
        ('tokenizer.ggml.model', 'string', 'llama'),
        ('tokenizer.ggml.tokens', 'array:string', tokens),
        ('tokenizer.ggml.scores', 'array:f32', scores),
        ('tokenizer.ggml.token_type', 'array:i32', types),
        ('tokenizer.ggml.bos_token_id', 'u32', 1),
        ('tokenizer.ggml.eos_token_id', 'u32', 2),
        ('tokenizer.ggml.unknown_token_id', 'u32', 0),
        ('tokenizer.ggml.add_bos_token', 'bool', True),
    ]


# ---------------------------------------------------------------------------------------------
# A GGUF v3 writer of its own (independent of quantkit's), and a reader for the hashes.

VT = {'u8': 0, 'i8': 1, 'u16': 2, 'i16': 3, 'u32': 4, 'i32': 5, 'f32': 6, 'bool': 7, 'string': 8,
      'array': 9, 'u64': 10, 'i64': 11, 'f64': 12}
PACK = {'u8': '<B', 'i8': '<b', 'u16': '<H', 'i16': '<h', 'u32': '<I', 'i32': '<i', 'f32': '<f',
        'bool': '<?', 'u64': '<Q', 'i64': '<q', 'f64': '<d'}
GGML = {0: ('F32', 1, 4), 1: ('F16', 1, 2), 2: ('Q4_0', 32, 18), 3: ('Q4_1', 32, 20), 6: ('Q5_0', 32, 22),
        7: ('Q5_1', 32, 24), 8: ('Q8_0', 32, 34), 10: ('Q2_K', 256, 84), 11: ('Q3_K', 256, 110),
        12: ('Q4_K', 256, 144), 13: ('Q5_K', 256, 176), 14: ('Q6_K', 256, 210), 20: ('IQ4_NL', 32, 18),
        23: ('IQ4_XS', 256, 136), 30: ('BF16', 1, 2), 39: ('MXFP4', 32, 17)}


def gstr(s):
    b = s.encode('utf-8')
    return struct.pack('<Q', len(b)) + b


def gvalue(kind, v):
    if kind.startswith('array:'):
        t = kind[6:]
        body = b''.join(gstr(x) for x in v) if t == 'string' else b''.join(struct.pack(PACK[t], x) for x in v)
        return struct.pack('<IQ', VT[t], len(v)) + body
    return gstr(v) if kind == 'string' else struct.pack(PACK[kind], v)


def write_gguf(path, metadata, tensors, alignment=32):
    """metadata: (key, kind, value); tensors: (name, dims, type id, raw bytes)."""
    head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(metadata))
    for key, kind, v in metadata:
        head += gstr(key) + struct.pack('<I', VT['array'] if kind.startswith('array:') else VT[kind]) + gvalue(kind, v)
    offset = 0
    for name, dims, t, raw in tensors:
        head += gstr(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims)
        head += struct.pack('<IQ', t, offset)
        offset += -(-len(raw) // alignment) * alignment
    head += b'\0' * (-len(head) % alignment)
    with open(path, 'wb') as f:
        f.write(head)
        for _, _, _, raw in tensors:
            f.write(raw + b'\0' * (-len(raw) % alignment))


def read_gguf_tensors(path):
    """[(name, type name, bytes)] of a GGUF file, in file order, and the data section offset."""
    data = open(path, 'rb').read()
    pos = 4

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def skip_value(t):
        nonlocal pos
        if t == VT['string']:
            n = take('<Q')
            pos += n
        elif t == VT['array']:
            it, n = take('<I'), take('<Q')
            for _ in range(n):
                skip_value(it)
        else:
            pos += struct.calcsize(PACK[[k for k, c in VT.items() if c == t][0]])

    version, n_t, n_kv = take('<I'), take('<Q'), take('<Q')
    alignment = 32
    for _ in range(n_kv):
        n = take('<Q')
        key = data[pos:pos + n].decode()
        pos += n
        t = take('<I')
        if key == 'general.alignment':
            alignment = struct.unpack_from('<I', data, pos)[0]
        skip_value(t)
    infos = []
    for _ in range(n_t):
        n = take('<Q')
        name = data[pos:pos + n].decode()
        pos += n
        dims = [take('<Q') for _ in range(take('<I'))]
        t, off = take('<I'), take('<Q')
        infos.append((name, dims, t, off))
    start = pos + (-pos % alignment)
    out = []
    for name, dims, t, off in infos:
        tname, blck, tsize = GGML[t]
        n = int(np.prod(dims)) // blck * tsize
        out.append((name, tname, data[start + off:start + off + n]))
    return out


def build_model(cfg, path):
    tensors = []
    for name, dims, t, vals in model_tensors(cfg):
        raw = vals.tobytes() if t == 0 else vals.astype(np.float16).tobytes()
        tensors.append((name, dims, t, raw))
    write_gguf(path, model_metadata(cfg), tensors)


# ---------------------------------------------------------------------------------------------
# Importance matrices: per weight tensor, one non-negative value per column (row element).

def imatrix_entries(cfg):
    """(name, sums, count): sums of squared activations over `count` tokens, as llama-imatrix keeps them."""
    out = []
    for k, (name, dims, t, _) in enumerate(model_tensors(cfg)):
        if len(dims) != 2 or name == 'token_embd.weight':
            continue
        h = hashed(cfg['seed'] + 500, k, dims[0])
        sums = ((h >> np.uint32(16)).astype(np.float64) * 2.0 ** -10 + 0.25).astype(np.float32)
        out.append((name, sums, 7 + k % 5))
    return out


def write_imatrix_dat(path, entries):
    """The legacy form: counts, then per entry name, ncall and the per-column values times ncall."""
    with open(path, 'wb') as f:
        f.write(struct.pack('<i', len(entries)))
        for name, sums, count in entries:
            b = name.encode()
            f.write(struct.pack('<i', len(b)) + b + struct.pack('<ii', count, len(sums)))
            f.write(sums.astype(np.float32).tobytes())
        f.write(struct.pack('<i', 10) + struct.pack('<i', 9) + b'tiny.text')


def write_imatrix_gguf(path, entries):
    """The GGUF form llama-imatrix writes: NAME.in_sum2 and NAME.counts tensors, F32."""
    meta = [('general.type', 'string', 'imatrix'), ('imatrix.datasets', 'array:string', ['tiny.text']),
            ('imatrix.chunk_count', 'u32', 10), ('imatrix.chunk_size', 'u32', 512)]
    tensors = []
    for name, sums, count in entries:
        tensors.append((name + '.in_sum2', [len(sums), 1], 0, sums.astype(np.float32).tobytes()))
        tensors.append((name + '.counts', [1, 1], 0, np.array([count], dtype=np.float32).tobytes()))
    write_gguf(path, meta, tensors)


def imatrix_values(entries):
    """What llama-quantize's load_imatrix hands llama_model_quantize: sums / count, in float32."""
    out = {}
    for name, sums, count in entries:
        # Both files hold the same sums and counts (.dat: ncall; GGUF: the .counts tensor), so one division serves.
        out[name] = (sums.astype(np.float32) / np.float32(count)).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# llama.cpp through ctypes.

class QuantizeParams(ctypes.Structure):
    _fields_ = [
        ('nthread', ctypes.c_int32), ('ftype', ctypes.c_int), ('output_tensor_type', ctypes.c_int),
        ('token_embedding_type', ctypes.c_int), ('allow_requantize', ctypes.c_bool),
        ('quantize_output_tensor', ctypes.c_bool), ('only_copy', ctypes.c_bool), ('pure', ctypes.c_bool),
        ('keep_split', ctypes.c_bool), ('dry_run', ctypes.c_bool), ('imatrix', ctypes.c_void_p),
        ('kv_overrides', ctypes.c_void_p), ('tt_overrides', ctypes.c_void_p), ('prune_layers', ctypes.c_void_p),
        ('max_buf_size', ctypes.c_size_t),
    ]


class ImatrixData(ctypes.Structure):
    _fields_ = [('name', ctypes.c_char_p), ('data', ctypes.POINTER(ctypes.c_float)), ('size', ctypes.c_size_t)]


FTYPES = {'F32': 0, 'F16': 1, 'Q4_0': 2, 'Q4_1': 3, 'Q8_0': 7, 'Q5_0': 8, 'Q5_1': 9, 'Q2_K': 10, 'Q3_K_S': 11,
          'Q3_K_M': 12, 'Q3_K_L': 13, 'Q4_K_S': 14, 'Q4_K_M': 15, 'Q5_K_S': 16, 'Q5_K_M': 17, 'Q6_K': 18,
          'IQ4_NL': 25, 'IQ4_XS': 30, 'BF16': 32}

_lib = None


def lib():
    global _lib
    if _lib is None:
        _lib = ctypes.CDLL(os.path.join(LIBDIR, 'libllama.v0.5.0.so'))
        _lib.llama_model_quantize_default_params.restype = QuantizeParams
        _lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(QuantizeParams)]
        _lib.llama_model_quantize.restype = ctypes.c_uint32
        _lib.llama_backend_init()
    return _lib


def llama_quantize(src, dst, mix, pure=False, leave_output=False, imatrix=None):
    L = lib()
    p = L.llama_model_quantize_default_params()
    p.nthread = 2
    p.ftype = FTYPES[mix]
    p.pure = pure
    p.quantize_output_tensor = not leave_output
    keep = []
    if imatrix is not None:
        arr = (ImatrixData * (len(imatrix) + 1))()
        for i, (name, vals) in enumerate(sorted(imatrix.items())):
            buf = np.ascontiguousarray(vals, dtype=np.float32)
            keep.append(buf)
            arr[i].name = name.encode()
            arr[i].data = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            arr[i].size = len(buf)
        arr[len(imatrix)].name = None
        keep.append(arr)
        p.imatrix = ctypes.cast(arr, ctypes.c_void_p)
    if L.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) != 0:
        raise SystemExit('llama_model_quantize failed for %s -> %s (%s)' % (src, dst, mix))


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# The mixes the tests check: (label, mix, options).
CASES = [(m, m, {}) for m in ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L',
                              'Q4_K_S', 'Q4_K_M', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'F16', 'BF16']] + [
    ('Q4_K_M+pure', 'Q4_K_M', {'pure': True}),
    ('Q4_K_M+leave-output', 'Q4_K_M', {'leave_output': True}),
    ('Q4_K_M+imatrix', 'Q4_K_M', {'imatrix': True}),
    ('Q4_0+imatrix', 'Q4_0', {'imatrix': True}),
    ('IQ4_XS+imatrix', 'IQ4_XS', {'imatrix': True}),
]

SMALL_CASES = [(m, m, {}) for m in ['Q8_0', 'Q4_K_M', 'Q3_K_M', 'Q6_K', 'IQ4_XS', 'Q2_K']]
# n_head_kv 1 makes n_gqa 4: the rules that look at grouped-query attention change their choice.
TIED_CASES = [(m, m, {}) for m in ['Q4_K_M', 'Q4_0', 'Q2_K', 'IQ4_XS']]


def main():
    if len(sys.argv) == 5 and sys.argv[1] == '--quantize':
        llama_quantize(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    os.makedirs(OUT, exist_ok=True)
    golden = {'llamaCpp': 'libllama.v0.5.0.so from @node-llama-cpp/linux-x64 (node-llama-cpp 3.22.1)', 'models': {}}
    with tempfile.TemporaryDirectory() as tmp:
        entries = imatrix_entries(MODELS['mixes'])
        write_imatrix_dat(os.path.join(OUT, 'imatrix.dat'), entries)
        write_imatrix_gguf(os.path.join(OUT, 'imatrix.gguf'), entries)
        imatrix = imatrix_values(entries)
        for label, cfg in MODELS.items():
            src = os.path.join(tmp, label + '.f16.gguf')
            build_model(cfg, src)
            model = {'config': cfg, 'inputSha256': sha256(open(src, 'rb').read()), 'mixes': {}}
            cases = CASES if label == 'mixes' else SMALL_CASES if label == 'small' else TIED_CASES
            for case, mix, opts in cases:
                dst = os.path.join(tmp, '%s.%s.gguf' % (label, case))
                llama_quantize(src, dst, mix, pure=opts.get('pure', False), leave_output=opts.get('leave_output', False),
                               imatrix=imatrix if opts.get('imatrix') else None)
                raw = open(dst, 'rb').read()
                tensors = read_gguf_tensors(dst)
                model['mixes'][case] = {
                    'mix': mix, **{k: v for k, v in opts.items()},
                    'sha256': sha256(raw), 'bytes': len(raw),
                    # A prefix of each tensor's hash: enough to name the tensor that differs.
                    'tensors': [[n, t, sha256(b)[:16]] for n, t, b in tensors],
                }
                if label == 'small' and case == 'Q8_0':
                    with open(os.path.join(OUT, 'small-q8_0.llama.gguf'), 'wb') as f:
                        f.write(raw)
                print('%-6s %-20s %8d bytes %s' % (label, case, len(raw), sha256(raw)[:16]))
            golden['models'][label] = model
    with open(os.path.join(OUT, 'golden-models.json'), 'w') as f:
        json.dump(golden, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
