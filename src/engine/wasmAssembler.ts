/**
 * Just enough of the WebAssembly binary format to emit one module with SIMD functions from TypeScript.
 * The project generates its few hand-written kernels at run time, specialised to the layer's shape, so
 * it ships no compiled binaries and needs no toolchain. Opcodes: WebAssembly core spec §5.4 and the
 * fixed-width SIMD proposal (now part of the spec).
 */

export const I32 = 0x7f;
export const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function name(s: string): number[] {
  const bytes = Array.from(Buffer.from(s, 'utf8'));
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** A function body under construction: locals and instructions, appended in order. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly localTypes: number[] = [];

  constructor(readonly params: number[]) {}

  /** Declare a local of the given type; returns its index (parameters come first). */
  local(type: number): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  get(i: number): this { this.code.push(0x20, ...uleb(i)); return this; }
  set(i: number): this { this.code.push(0x21, ...uleb(i)); return this; }
  i32(v: number): this { this.code.push(0x41, ...sleb(v | 0)); return this; }
  i32Add(): this { this.code.push(0x6a); return this; }
  i32LtU(): this { this.code.push(0x49); return this; }

  /** local[i] += step */
  addTo(i: number, step: number): this { return this.get(i).i32(step).i32Add().set(i); }

  /** do { body } while (local[counter] += 1) < local[limit] — the body runs at least once. */
  loop(counter: number, limit: number, body: () => void): this {
    this.code.push(0x03, 0x40);
    body();
    this.addTo(counter, 1).get(counter).get(limit).i32LtU();
    this.code.push(0x0d, 0x00, 0x0b);
    return this;
  }

  /** if (local[a] < local[b]) { body } (unsigned) */
  ifLess(a: number, b: number, body: () => void): this {
    this.get(a).get(b).i32LtU();
    this.code.push(0x04, 0x40);
    body();
    this.code.push(0x0b);
    return this;
  }

  private simd(op: number, ...imm: number[]): this { this.code.push(0xfd, ...uleb(op), ...imm); return this; }
  /** v128.load from the address on the stack plus a constant byte offset (alignment hint: 4 bytes). */
  v128Load(offset: number): this { return this.simd(0x00, 2, ...uleb(offset)); }
  /** One f32 from memory, broadcast to four lanes. */
  load32Splat(offset: number): this { return this.simd(0x09, 2, ...uleb(offset)); }
  v128Store(offset: number): this { return this.simd(0x0b, 2, ...uleb(offset)); }
  f32x4Const(v: number): this {
    const b = Buffer.alloc(16);
    for (let i = 0; i < 4; i++) b.writeFloatLE(v, 4 * i);
    return this.simd(0x0c, ...b);
  }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Max(): this { return this.simd(0xe9); }

  encode(): number[] {
    const groups: number[][] = this.localTypes.map((t) => [1, t]);
    const body = [...vec(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/** A module with one exported memory and the given exported functions (no results; params as declared). */
export function assembleModule(functions: { name: string; fn: FunctionBuilder }[]): Uint8Array {
  const types = functions.map(({ fn }) => [0x60, ...vec(fn.params.map((p) => [p])), 0]);
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([
      [...name('memory'), 0x02, 0],
      ...functions.map(({ name: n }, i) => [...name(n), 0x00, ...uleb(i)]),
    ])),
    ...section(10, vec(functions.map(({ fn }) => fn.encode()))),
  ];
  return Uint8Array.from(bytes);
}
