/**
 * The cnn's blocks for inference, each in one pass: 3×3 'same' convolution → per-channel affine (batch
 * norm folded into scale and shift) → ReLU (→ 2×2 average pooling), written straight from SIMD registers,
 * chained so that each block writes the zero-padded input of the next.
 *
 * Why hand-written kernels: on wasm the first block cost more than either wide convolution after it.
 * With one input channel its convolution is a K = 9 matrix product (XNNPACK reaches ~4.7 GMAC/s on it,
 * a third of its rate on the wide layers), and every block's full-resolution output was written, read
 * back by batch norm, written again and read by pooling. Fused, it never reaches memory.
 * Used by evaluation only (no gradient); models/inference.ts decides when it applies.
 */
import { assembleModule, FunctionBuilder, I32, V128 } from './wasmAssembler';

/**
 * One block: input height × width × channelsIn, channelsOut a multiple of 4, and 2×2 average pooling
 * after the ReLU when `pool` (then height and width must be even). The cnn's last stage has no pooling.
 */
export interface BlockShape {
  height: number;
  width: number;
  channelsIn: number;
  channelsOut: number;
  pool: boolean;
}

const PAGE = 65536;

export function outputSize(b: BlockShape): [number, number] {
  return b.pool ? [b.height / 2, b.width / 2] : [b.height, b.width];
}

/**
 * The generated function (x, w, scale, shift, out, n), pointers as byte offsets into the module's memory.
 * x: [n, H+2, W+2, Cin] zero-padded; w: [3, 3, Cin, C] (TF.js filter layout); out: [n, H'+2p, W'+2p, C]
 * with H', W' the output size and p = 1 when the output feeds another block (its zero border is left
 * untouched), else 0. `groups`: output channels per pass, in fours (a register budget; see below).
 */
function buildBlock(shape: BlockShape, padOut: boolean, groups?: number): FunctionBuilder {
  const { height: H, width: W, channelsIn: CIN, channelsOut: C, pool } = shape;
  const f = new FunctionBuilder([I32, I32, I32, I32, I32, I32]);
  const [x, w, scale, shift, out, n] = [0, 1, 2, 3, 4, 5];
  const img = f.local(I32), py = f.local(I32), px = f.local(I32), step = f.local(I32);
  const pyLimit = f.local(I32), pxLimit = f.local(I32), stepLimit = f.local(I32);
  const rowBase = f.local(I32), xBase = f.local(I32), o = f.local(I32), xp = f.local(I32), wp = f.local(I32);
  // The conv outputs computed together: a pooling window's four, or one pixel.
  const cells = pool ? [[0, 0], [0, 1], [1, 0], [1, 1]] : [[0, 0]];
  // Accumulators (cells × groups), the groups' weight vectors and one broadcast input must fit the 16 SIMD
  // registers of x86-64: 4 × 2 + 2 + 1 when pooling, 1 × 4 + 4 + 1 otherwise.
  const G = groups ?? (pool ? (C % 8 === 0 ? 2 : 1) : (C % 16 === 0 ? 4 : C % 8 === 0 ? 2 : 1));
  if ((C / 4) % G !== 0) throw new Error(`buildBlock: ${C} channels do not split into groups of ${G * 4}`);
  const acc = cells.map(() => Array.from({ length: G }, () => f.local(V128)));
  const wv = Array.from({ length: G }, () => f.local(V128));
  const splat = f.local(V128), sc = f.local(V128), sh = f.local(V128);
  const stride = pool ? 2 : 1;
  const [outH, outW] = outputSize(shape);
  const pixel = CIN * 4;
  const row = (W + 2) * pixel;
  const p = padOut ? 1 : 0;
  const outPixel = C * 4;
  const outRow = (outW + 2 * p) * outPixel;

  // One (tap, input channel) per iteration, on purpose: TurboFan issues a straight-line block's loads
  // first and spills what they fill, so an unrolled 3×3 body ran at half speed. Over a kernel row the
  // (kx, ci) pairs are contiguous in both the input and the weights: one loop of 3·Cin steps.
  const kernelRow = () => {
    f.i32(0).set(step);
    f.loop(step, stepLimit, () => {
      for (let j = 0; j < G; j++) f.get(wp).v128Load(j * 16).set(wv[j]);
      cells.forEach(([dy, dx], s) => {
        f.get(xp).load32Splat(dy * row + dx * pixel).set(splat);
        for (let j = 0; j < G; j++) f.get(acc[s][j]).get(splat).get(wv[j]).f32x4Mul().f32x4Add().set(acc[s][j]);
      });
      f.addTo(xp, 4).addTo(wp, C * 4);
    });
    f.addTo(xp, row - 3 * pixel);
  };

  f.get(out).i32(p * (outRow + outPixel)).i32Add().set(o).get(x).set(rowBase);
  f.i32(outH).set(pyLimit).i32(outW).set(pxLimit).i32(3 * CIN).set(stepLimit).i32(0).set(img);
  f.ifLess(img, n, () => f.loop(img, n, () => {
    f.i32(0).set(py);
    f.loop(py, pyLimit, () => {
      f.get(rowBase).set(xBase).i32(0).set(px);
      f.loop(px, pxLimit, () => {
        for (let g = 0; g < C / 4; g += G) {
          for (const a of acc.flat()) f.f32x4Const(0).set(a);
          f.get(xBase).set(xp).get(w).i32(g * 16).i32Add().set(wp);
          for (let ky = 0; ky < 3; ky++) kernelRow();
          for (let j = 0; j < G; j++) {
            f.get(scale).v128Load((g + j) * 16).set(sc).get(shift).v128Load((g + j) * 16).set(sh);
            f.get(o);
            cells.forEach((_, s) => {
              f.get(acc[s][j]).get(sc).f32x4Mul().get(sh).f32x4Add().f32x4Const(0).f32x4Max();
              if (s > 0) f.f32x4Add();
            });
            if (pool) f.f32x4Const(0.25).f32x4Mul();
            f.v128Store((g + j) * 16);
          }
        }
        f.addTo(o, outPixel).addTo(xBase, stride * pixel);
      });
      f.addTo(rowBase, stride * row);
      if (p) f.addTo(o, 2 * p * outPixel);
    });
    f.addTo(rowBase, 2 * row); // the bottom padding rows: on to the next image
    if (p) f.addTo(o, 2 * p * outRow);
  }));
  return f;
}

export function blockSupported({ height, width, channelsIn, channelsOut, pool }: BlockShape): boolean {
  const sides = pool ? height % 2 === 0 && width % 2 === 0 : true;
  return sides && height > 0 && width > 0 && channelsIn >= 1 && channelsOut % 4 === 0 && channelsOut > 0
    && typeof WebAssembly !== 'undefined';
}

export interface BlockParams {
  /** [3, 3, Cin, C], TF.js filter layout. */
  weights: Float32Array;
  scale: Float32Array;
  shift: Float32Array;
}

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * A chain of blocks compiled for one model shape, with its own memory. Usage: setInput once per batch,
 * then compute with as many parameter sets as needed (LMC evaluates one batch at every point of a path).
 */
export class ConvBnReluPoolChain {
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: ((x: number, w: number, scale: number, shift: number, out: number, n: number) => void)[];
  private readonly paramOffsets: number[] = [];
  /** Floats per image of each buffer: the padded input, then each block's output. */
  private readonly bufferFloats: number[];
  private bufferOffsets: number[] = [];
  private capacity = 0;
  private n = 0;

  constructor(readonly blocks: BlockShape[], groups?: number[]) {
    if (blocks.length === 0 || !blocks.every(blockSupported)) throw new Error(`ConvBnReluPoolChain: unsupported blocks ${JSON.stringify(blocks)}`);
    blocks.slice(1).forEach((b, i) => {
      const [h, w] = outputSize(blocks[i]);
      if (b.height !== h || b.width !== w || b.channelsIn !== blocks[i].channelsOut) {
        throw new Error(`ConvBnReluPoolChain: block ${i + 1} does not take block ${i}'s output`);
      }
    });
    const functions = blocks.map((b, i) => ({ name: `block${i}`, fn: buildBlock(b, i < blocks.length - 1, groups?.[i]) }));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleModule(functions)));
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.kernels = functions.map(({ name }) => instance.exports[name] as ConvBnReluPoolChain['kernels'][number]);
    let offset = 0;
    for (const b of blocks) {
      this.paramOffsets.push(offset);
      offset += align16((9 * b.channelsIn * b.channelsOut + 2 * b.channelsOut) * 4);
    }
    this.paramOffsets.push(offset);
    const last = blocks[blocks.length - 1];
    const [h, w] = outputSize(last);
    this.bufferFloats = [...blocks.map((b) => (b.height + 2) * (b.width + 2) * b.channelsIn), h * w * last.channelsOut];
  }

  private static simd: boolean | undefined;
  /** Whether this runtime runs WebAssembly SIMD (Node ≥ 16.4 does). */
  static available(): boolean {
    if (ConvBnReluPoolChain.simd === undefined) {
      try {
        const probe = buildBlock({ height: 2, width: 2, channelsIn: 1, channelsOut: 4, pool: true }, false);
        ConvBnReluPoolChain.simd = WebAssembly.validate(assembleModule([{ name: 'probe', fn: probe }]));
      } catch {
        ConvBnReluPoolChain.simd = false;
      }
    }
    return ConvBnReluPoolChain.simd;
  }

  /** Room for n images; growing re-lays the buffers and zeroes them (the padding borders must be zero). */
  private reserve(n: number): void {
    if (n <= this.capacity) return;
    const offsets: number[] = [];
    let end = this.paramOffsets[this.paramOffsets.length - 1];
    for (const floats of this.bufferFloats) {
      offsets.push(end);
      end = align16(end + n * floats * 4);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    const start = this.paramOffsets[this.paramOffsets.length - 1];
    new Uint8Array(this.memory.buffer, start, end - start).fill(0);
    this.bufferOffsets = offsets;
    this.capacity = n;
  }

  /** Copy n unpadded NHWC images (values as the model sees them) into the first block's padded buffer. */
  setInput(images: Float32Array, n: number): void {
    const { height: H, width: W, channelsIn: CIN } = this.blocks[0];
    if (!Number.isInteger(n) || n < 1 || images.length < n * H * W * CIN) {
      throw new Error(`ConvBnReluPoolChain.setInput: ${images.length} values for ${n} images of ${H}×${W}×${CIN}`);
    }
    this.reserve(n);
    const padded = new Float32Array(this.memory.buffer, this.bufferOffsets[0], n * this.bufferFloats[0]);
    const rowIn = W * CIN;
    const rowPad = (W + 2) * CIN;
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < H; r++) {
        const src = (i * H + r) * rowIn;
        padded.set(images.subarray(src, src + rowIn), i * this.bufferFloats[0] + (r + 1) * rowPad + CIN);
      }
    }
    this.n = n;
  }

  /** The last block's output [n, H', W', C] for the loaded batch; overwritten by the next call. */
  compute(params: BlockParams[]): Float32Array {
    if (this.n === 0) throw new Error('ConvBnReluPoolChain.compute: no input loaded');
    if (params.length !== this.blocks.length) throw new Error(`ConvBnReluPoolChain.compute: ${params.length} parameter sets for ${this.blocks.length} blocks`);
    params.forEach(({ weights, scale, shift }, i) => {
      const { channelsIn: CIN, channelsOut: C } = this.blocks[i];
      if (weights.length !== 9 * CIN * C || scale.length !== C || shift.length !== C) {
        throw new Error(`ConvBnReluPoolChain.compute: block ${i} expects ${9 * CIN * C} weights and ${C} scales and shifts`);
      }
      const base = this.paramOffsets[i];
      const view = new Float32Array(this.memory.buffer, base, 9 * CIN * C + 2 * C);
      view.set(weights, 0);
      view.set(scale, 9 * CIN * C);
      view.set(shift, 9 * CIN * C + C);
      this.kernels[i](this.bufferOffsets[i], base, base + 9 * CIN * C * 4, base + (9 * CIN * C + C) * 4, this.bufferOffsets[i + 1], this.n);
    });
    const last = this.bufferFloats.length - 1;
    return new Float32Array(this.memory.buffer, this.bufferOffsets[last], this.n * this.bufferFloats[last]);
  }
}
