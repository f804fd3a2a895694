/**
 * Convolution gradients built from forward convolutions.
 *
 * Stock tfjs-backend-wasm has no Conv2DBackpropFilter kernel (conv nets cannot train) and its
 * Conv2DBackpropInput is ~10x slower than a forward conv of the same size. A forward conv runs on
 * XNNPACK, so both gradients are expressed as forward convs:
 *   - input gradient: correlate the output gradient with the spatially flipped filter whose in/out
 *     channels are swapped (for stride > 1, once per phase with the matching sub-filter, which does the
 *     same as correlating the zero-dilated gradient without the stride² wasted work);
 *   - filter gradient: treat input channels as the batch and batch as channels, i.e. correlate the
 *     transposed input [ci, H, W, n] with the transposed output gradient [OH, OW, n, co] used as a
 *     filter, with dilation = stride.
 * Both are plain differentiable ops, so gradients of gradients (I-BAU's hypergradient) work too.
 */
import * as tf from '@tensorflow/tfjs';
import { gradientOverride } from './gradientOverride';
import { nativeActive, nativeConvGeometry } from './native';

type Pads = { top: number; bottom: number; left: number; right: number };
export type ConvPadding = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvGeometry {
  strides: [number, number];
  pads: Pads;
  outHeight: number;
  outWidth: number;
}

function geometry(xShape: number[], filterShape: number[], strides: number | [number, number],
  pad: ConvPadding, dimRoundingMode?: 'floor' | 'round' | 'ceil'): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, 1, pad as 'same', dimRoundingMode, false, 'channelsLast');
  return {
    strides: [info.strideHeight, info.strideWidth],
    pads: { top: info.padInfo.top, bottom: info.padInfo.bottom, left: info.padInfo.left, right: info.padInfo.right },
    outHeight: info.outHeight,
    outWidth: info.outWidth,
  };
}

/**
 * Pad with possibly negative amounts: negative means crop. tf.conv2d's explicit padding only takes
 * non-negative values, and the geometry of strided `valid` convs can leave unused rows to crop.
 */
function padOrCrop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const cropped = (top < 0 || bottom < 0 || left < 0 || right < 0)
    ? t.slice([0, Math.max(0, -top), Math.max(0, -left), 0],
      [n, h - Math.max(0, -top) - Math.max(0, -bottom), w - Math.max(0, -left) - Math.max(0, -right), c])
    : t;
  const p = [Math.max(0, top), Math.max(0, bottom), Math.max(0, left), Math.max(0, right)];
  return p.some((v) => v > 0) ? tf.pad(cropped, [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]]) : cropped;
}

/** dL/dx of conv2d(x, filter) given dL/dy: one forward conv for stride 1, one per phase for larger strides. */
export function conv2dInputGrad(xShape: number[], filter: tf.Tensor4D, dy: tf.Tensor4D,
  strides: number | [number, number], pad: ConvPadding, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  const g = geometry(xShape, filter.shape, strides, pad, dimRoundingMode);
  return (g.strides[0] === 1 && g.strides[1] === 1)
    ? inputGradStride1(xShape, filter, dy, g)
    : inputGradPolyphase(xShape, filter, dy, g);
}

function inputGradStride1(xShape: number[], filter: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const [, h, w] = xShape;
    const top = kh - 1 - g.pads.top;
    const left = kw - 1 - g.pads.left;
    const bottom = h + kh - 1 - dy.shape[1] - top;
    const right = w + kw - 1 - dy.shape[2] - left;
    return correlateFlipped(dy, filter, top, bottom, left, right);
  });
}

/**
 * Correlate dy with the spatially flipped, in/out-transposed filter under the given (possibly negative =
 * crop) pads: the core of every input gradient.
 */
function correlateFlipped(dy: tf.Tensor4D, filter: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const cropped = padOrCrop(dy, Math.min(0, top), Math.min(0, bottom), Math.min(0, left), Math.min(0, right));
  const flipped = tf.reverse(filter, [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D;
  return tf.conv2d(cropped, flipped, 1,
    [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
}

/**
 * Strided input gradient by phases: the input rows i with (i + padTop) ≡ r (mod stride) only receive the
 * kernel rows k ≡ r (mod stride), so each phase is a stride-1 correlation of dy with a sub-filter. This does
 * the useful work once, where correlating a zero-dilated dy would spend stride² times as long on zeros.
 */
function inputGradPolyphase(xShape: number[], filter: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, ci] = xShape;
    const [kh, kw] = filter.shape;
    const [sh, sw] = g.strides;
    const rowsOut = Math.ceil(h / sh);
    const colsOut = Math.ceil(w / sw);
    // One axis at a time: for an input offset c, the phase r, the number of kernel taps m and the pads.
    const phase = (c: number, stride: number, pad: number, k: number, size: number, outSize: number) => {
      const r = (c + pad) % stride;
      const taps = Math.max(0, Math.ceil((k - r) / stride));
      const count = Math.ceil((size - c) / stride);
      const d = (c + pad - r) / stride;
      const before = taps - 1 - d;
      return { r, taps, count, before, after: count + taps - 1 - before - outSize };
    };
    // Phase outputs in (row offset, column offset) order, interleaved back into place.
    const parts: tf.Tensor4D[] = [];
    for (let c = 0; c < sh; c++) {
      const pr = phase(c, sh, g.pads.top, kh, h, dy.shape[1]);
      for (let e = 0; e < sw; e++) {
        const pc = phase(e, sw, g.pads.left, kw, w, dy.shape[2]);
        let part: tf.Tensor4D;
        if (pr.taps === 0 || pc.taps === 0 || pr.count <= 0 || pc.count <= 0) {
          part = tf.zeros([n, rowsOut, colsOut, ci]);
        } else {
          const sub = tf.stridedSlice(filter, [pr.r, pc.r, 0, 0], [kh, kw, filter.shape[2], filter.shape[3]], [sh, sw, 1, 1]) as tf.Tensor4D;
          part = correlateFlipped(dy, sub, pr.before, pr.after, pc.before, pc.after);
          if (part.shape[1] < rowsOut || part.shape[2] < colsOut) {
            part = tf.pad(part, [[0, 0], [0, rowsOut - part.shape[1]], [0, colsOut - part.shape[2]], [0, 0]]);
          }
        }
        parts.push(part);
      }
    }
    // Interleave: columns [n, R, C, sw, ci] → [n, R, C·sw, ci], then rows likewise (tf.depthToSpace does
    // the same in one call but is several times slower on wasm).
    const full = tf.stack(Array.from({ length: sh }, (_, c) => tf.stack(parts.slice(c * sw, (c + 1) * sw), 3)
      .reshape([n, rowsOut, colsOut * sw, ci])), 2).reshape([n, rowsOut * sh, colsOut * sw, ci]) as tf.Tensor4D;
    return (full.shape[1] === h && full.shape[2] === w) ? full : full.slice([0, 0, 0, 0], [n, h, w, ci]);
  });
}

/** dL/dfilter of conv2d(x, filter) given dL/dy, as one forward conv with dilation = stride. */
export function conv2dFilterGrad(x: tf.Tensor4D, filterShape: number[], dy: tf.Tensor4D,
  strides: number | [number, number], pad: ConvPadding, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filterShape;
    const g = geometry(x.shape, filterShape, strides, pad, dimRoundingMode);
    const [sh, sw] = g.strides;
    const [, h, w] = x.shape;
    const [, oh, ow] = dy.shape;
    const top = g.pads.top;
    const left = g.pads.left;
    const bottom = kh + (oh - 1) * sh - h - top;
    const right = kw + (ow - 1) * sw - w - left;
    const xt = padOrCrop(x.transpose([3, 1, 2, 0]) as tf.Tensor4D,
      Math.min(0, top), Math.min(0, bottom), Math.min(0, left), Math.min(0, right));
    const dyt = dy.transpose([1, 2, 0, 3]) as tf.Tensor4D; // [OH, OW, n, co] used as a filter
    const out = tf.conv2d(xt, dyt, 1,
      [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]],
      'NHWC', [sh, sw]); // [ci, KH, KW, co]
    return out.transpose([1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * TF.js's Conv2D gradient, engine-aware (the gradient registry is process-global). On the native engine
 * the gradients are the Conv2DBackpropInput / Conv2DBackpropFilter kernels, which oneDNN runs in one pass
 * each; elsewhere, and for geometry the native kernels do not take, the forward-conv formulation above.
 * Both are differentiable again (I-BAU's hypergradient): the kernels through TF.js's Conv2DBackpropInput
 * gradient and the Conv2DBackpropFilter gradient registered below.
 */
const convOverride = gradientOverride({
  kernelName: 'Conv2D',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dilations, dimRoundingMode, dataFormat } = attrs as unknown as {
      strides: [number, number]; pad: ConvPadding; dilations: [number, number] | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil'; dataFormat: string;
    };
    const d = Array.isArray(dilations) ? dilations : [dilations, dilations];
    if (d[0] !== 1 || d[1] !== 1) throw new Error('fast conv gradients: dilated convolutions are not supported');
    if (dataFormat !== 'NHWC') throw new Error(`fast conv gradients: data format ${dataFormat} is not supported`);
    const g = dy as tf.Tensor4D;
    if (nativeActive() && nativeConvGeometry(x.shape, filter.shape, strides, pad, 1, dimRoundingMode)) {
      const a = { strides, pad, dataFormat: 'NHWC', dimRoundingMode } as unknown as tf.NamedAttrMap;
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter }, { ...a, inputShape: x.shape }) as tf.Tensor4D,
        filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: g }, { ...a, filterShape: filter.shape }) as tf.Tensor4D,
      };
    }
    return {
      x: () => conv2dInputGrad(x.shape, filter, g, strides, pad, dimRoundingMode),
      filter: () => conv2dFilterGrad(x, filter.shape, g, strides, pad, dimRoundingMode),
    };
  },
});

/**
 * The gradient TF.js lacks for Conv2DBackpropFilter, needed to differentiate a native filter gradient
 * again: dW = F(x, dy) is bilinear, so for the upstream ddW the x part is the input gradient of a conv
 * with filter ddW at dy, and the dy part is conv2d(x, ddW).
 */
function registerBackpropFilterGradient(): void {
  if (tf.getGradient('Conv2DBackpropFilter')) return;
  tf.registerGradient({
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dimRoundingMode } = attrs as unknown as {
        strides: [number, number]; pad: ConvPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      const w = ddw as tf.Tensor4D;
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w },
          { strides, pad, dataFormat: 'NHWC', dimRoundingMode, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor4D,
        dy: () => tf.conv2d(x, w, strides, pad as 'same', 'NHWC', 1, dimRoundingMode),
      };
    },
  });
}

export const installFastConvGradients = (): void => {
  registerBackpropFilterGradient();
  convOverride.install();
};
export const uninstallFastConvGradients = (): void => convOverride.uninstall();
