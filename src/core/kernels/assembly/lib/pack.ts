// Sub-byte packing as ONNX stores int4/uint4 and int2/uint2: the first code in the lowest bits, a
// short last byte zero-padded. Codes are read as bytes, so int8 and uint8 inputs pack alike.

/** Scalar packing of codes [from, n) into bytes starting at byte from / perByte (from is a multiple of perByte). */
function packTail(src: usize, dst: usize, from: u32, n: u32, bits: u32): void {
  const perByte: u32 = 8 / bits;
  const mask: u32 = (1 << bits) - 1;
  for (let j = from; j < n; j += perByte) {
    let acc: u32 = 0;
    for (let t: u32 = 0; t < perByte && j + t < n; t++) acc |= (<u32>load<u8>(src + j + t) & mask) << (t * bits);
    store<u8>(dst + j / perByte, <u8>acc);
  }
}

/** Two codes per byte: 32 codes → 16 bytes per step. */
export function pack4(src: usize, dst: usize, n: u32): void {
  const m = i8x16.splat(0x0f);
  const low = i16x8.splat(0x00ff);
  let k: u32 = 0;
  for (; k + 32 <= n; k += 32) {
    // As 16-bit lanes each pair is lo | hi << 8; lane | lane >> 4 puts lo | hi << 4 in the low byte.
    const a = v128.and(v128.load(src + k), m);
    const b = v128.and(v128.load(src + k, 16), m);
    const pa = v128.and(v128.or(a, i16x8.shr_u(a, 4)), low);
    const pb = v128.and(v128.or(b, i16x8.shr_u(b, 4)), low);
    v128.store(dst + (k >> 1), i8x16.narrow_i16x8_u(pa, pb));
  }
  packTail(src, dst, k, n, 4);
}

/** Four codes per byte: 64 codes → 16 bytes per step, pairing codes and then pairs. */
export function pack2(src: usize, dst: usize, n: u32): void {
  const m = i8x16.splat(0x03);
  const low = i16x8.splat(0x00ff);
  let k: u32 = 0;
  for (; k + 64 <= n; k += 64) {
    const a = v128.and(v128.load(src + k), m);
    const b = v128.and(v128.load(src + k, 16), m);
    const c = v128.and(v128.load(src + k, 32), m);
    const d = v128.and(v128.load(src + k, 48), m);
    const ab = i8x16.narrow_i16x8_u(v128.and(v128.or(a, i16x8.shr_u(a, 6)), low), v128.and(v128.or(b, i16x8.shr_u(b, 6)), low));
    const cd = i8x16.narrow_i16x8_u(v128.and(v128.or(c, i16x8.shr_u(c, 6)), low), v128.and(v128.or(d, i16x8.shr_u(d, 6)), low));
    v128.store(dst + (k >> 2), i8x16.narrow_i16x8_u(v128.and(v128.or(ab, i16x8.shr_u(ab, 4)), low), v128.and(v128.or(cd, i16x8.shr_u(cd, 4)), low)));
  }
  packTail(src, dst, k, n, 2);
}

function unpackTail(src: usize, dst: usize, from: u32, n: u32, bits: u32, signed: bool): void {
  const perByte: u32 = 8 / bits;
  const mask: i32 = (1 << bits) - 1;
  const signBit: i32 = 1 << (bits - 1);
  for (let j = from; j < n; j++) {
    let v: i32 = (<i32>load<u8>(src + j / perByte) >> ((j % perByte) * bits)) & mask;
    if (signed && (v & signBit) != 0) v -= 1 << bits;
    store<u8>(dst + j, <u8>v);
  }
}

/** 16 bytes → 32 codes per step; signed nibbles are sign-extended by shifting up and arithmetically down. */
export function unpack4(src: usize, dst: usize, n: u32, signed: bool): void {
  const m = i8x16.splat(0x0f);
  let k: u32 = 0;
  for (; k + 32 <= n; k += 32) {
    const b = v128.load(src + (k >> 1));
    const lo = signed ? i8x16.shr_s(i8x16.shl(b, 4), 4) : v128.and(b, m);
    const hi = signed ? i8x16.shr_s(b, 4) : i8x16.shr_u(b, 4);
    v128.store(dst + k, i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
    v128.store(dst + k, i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), 16);
  }
  unpackTail(src, dst, k, n, 4, signed);
}

/** 16 bytes → 64 codes per step: four 2-bit fields per byte, interleaved back into order. */
export function unpack2(src: usize, dst: usize, n: u32, signed: bool): void {
  const m = i8x16.splat(0x03);
  let k: u32 = 0;
  for (; k + 64 <= n; k += 64) {
    const b = v128.load(src + (k >> 2));
    const c0 = signed ? i8x16.shr_s(i8x16.shl(b, 6), 6) : v128.and(b, m);
    const c1 = signed ? i8x16.shr_s(i8x16.shl(b, 4), 6) : v128.and(i8x16.shr_u(b, 2), m);
    const c2 = signed ? i8x16.shr_s(i8x16.shl(b, 2), 6) : v128.and(i8x16.shr_u(b, 4), m);
    const c3 = signed ? i8x16.shr_s(b, 6) : i8x16.shr_u(b, 6);
    const a01 = i8x16.shuffle(c0, c1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const b01 = i8x16.shuffle(c0, c1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const a23 = i8x16.shuffle(c2, c3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const b23 = i8x16.shuffle(c2, c3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const d = dst + k;
    v128.store(d, i8x16.shuffle(a01, a23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
    v128.store(d, i8x16.shuffle(a01, a23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 16);
    v128.store(d, i8x16.shuffle(b01, b23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), 32);
    v128.store(d, i8x16.shuffle(b01, b23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 48);
  }
  unpackTail(src, dst, k, n, 2, signed);
}
