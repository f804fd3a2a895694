/**
 * Convolution gradients built from forward convolutions.
 *
 * Stock tfjs-backend-wasm has no Conv2DBackpropFilter kernel (conv nets cannot train) and its
 * Conv2DBackpropInput is ~10x slower than a forward conv of the same size. A forward conv runs on
 * XNNPACK, so both gradients are expressed as forward convs:
 *   - input gradient: correlate the (zero-dilated, for stride > 1) output gradient with the spatially
 *     flipped filter whose in/out channels are swapped;
 *   - filter gradient: treat input channels as the batch and batch as channels, i.e. correlate the
 *     transposed input [ci, H, W, n] with the transposed output gradient [OH, OW, n, co] used as a
 *     filter, with dilation = stride.
 * Both are plain differentiable ops, so gradients of gradients (I-BAU's hypergradient) work too.
 */
import * as tf from '@tensorflow/tfjs';

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

/** Insert (stride - 1) zeros between neighbouring pixels of an NHWC tensor. */
function dilate(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const spread = tf.pad(t.reshape([n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return spread.reshape([n, h * sh, w * sw, c]).slice([0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]) as tf.Tensor4D;
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

/** dL/dx of conv2d(x, filter) given dL/dy, as one forward conv. */
export function conv2dInputGrad(xShape: number[], filter: tf.Tensor4D, dy: tf.Tensor4D,
  strides: number | [number, number], pad: ConvPadding, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const g = geometry(xShape, filter.shape, strides, pad, dimRoundingMode);
    const [, h, w] = xShape;
    const dyd = dilate(dy, g.strides[0], g.strides[1]);
    const top = kh - 1 - g.pads.top;
    const left = kw - 1 - g.pads.left;
    const bottom = h + kh - 1 - dyd.shape[1] - top;
    const right = w + kw - 1 - dyd.shape[2] - left;
    // Crop first where a pad is negative, then hand the remaining (non-negative) pads to the conv.
    const cropped = padOrCrop(dyd, Math.min(0, top), Math.min(0, bottom), Math.min(0, left), Math.min(0, right));
    const flipped = tf.reverse(filter, [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(cropped, flipped, 1,
      [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
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

let previous: tf.GradConfig | undefined;
let installed = false;

/**
 * Replace TF.js's Conv2D gradient with the forward-conv formulation (process-wide: the gradient
 * registry is global, so call this only when the active backend lacks fast backprop kernels).
 */
export function installFastConvGradients(): void {
  if (installed) return;
  previous = tf.getGradient('Conv2D') as tf.GradConfig | undefined;
  const silence = tf.env().getBool('IS_TEST');
  const warn = console.warn;
  // registerGradient warns when overriding; the override is deliberate.
  if (!silence) console.warn = () => undefined;
  try {
    tf.registerGradient({
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
        return {
          x: () => conv2dInputGrad(x.shape, filter, g, strides, pad, dimRoundingMode),
          filter: () => conv2dFilterGrad(x, filter.shape, g, strides, pad, dimRoundingMode),
        };
      },
    });
  } finally {
    console.warn = warn;
  }
  installed = true;
}

/** Restore the gradient that was registered before installFastConvGradients (used by tests). */
export function uninstallFastConvGradients(): void {
  if (!installed) return;
  if (previous) {
    const warn = console.warn;
    console.warn = () => undefined;
    try { tf.registerGradient(previous); } finally { console.warn = warn; }
  }
  installed = false;
}

export function fastConvGradientsInstalled(): boolean {
  return installed;
}
