/**
 * Bilinear resampling of NHWC images at a sampling grid, with TF.js ops: PyTorch's
 * `F.grid_sample(input, grid, mode='bilinear', padding_mode='zeros', align_corners=True)`, which WaNet
 * uses. grid[n, i, j] = (x, y) in [-1, 1] names the source point of output pixel (i, j): x = −1 is the
 * centre of the first column and x = 1 that of the last (align_corners=True); corners that fall outside
 * the image contribute zero.
 * Also bicubic upsampling of a small field (`F.interpolate(mode='bicubic', align_corners=True)`,
 * cubic-convolution coefficient −0.75), which WaNet uses to make its smooth warp field; that one is a
 * one-off on a few hundred numbers, so plain JS.
 */
import * as tf from '@tensorflow/tfjs';

/** images [N, H, W, C]; grid [N or 1, H', W', 2] → [N, H', W', C]. */
export function gridSample(images: tf.Tensor4D, grid: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  const [gn, oh, ow, two] = grid.shape;
  if (two !== 2) throw new Error(`gridSample: the grid's last axis must hold (x, y), got size ${two}`);
  if (gn !== n && gn !== 1) throw new Error(`gridSample: grid batch ${gn} matches neither the images (${n}) nor 1`);
  return tf.tidy(() => {
    const g = gn === n ? grid : tf.tile(grid, [n, 1, 1, 1]);
    const [gx, gy] = tf.split(g, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
    const px = tf.mul(tf.add(gx, 1), (w - 1) / 2);
    const py = tf.mul(tf.add(gy, 1), (h - 1) / 2);
    const x0 = tf.floor(px);
    const y0 = tf.floor(py);
    const fx = tf.sub(px, x0);
    const fy = tf.sub(py, y0);
    const flat = tf.reshape(images, [n * h * w, c]);
    const batchBase = tf.reshape(tf.mul(tf.range(0, n, 1, 'float32'), h * w), [n, 1, 1, 1]);
    const corner = (dx: number, dy: number, weight: tf.Tensor): tf.Tensor => {
      const x = tf.add(x0, dx);
      const y = tf.add(y0, dy);
      const inside = tf.logicalAnd(
        tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, w - 1)),
        tf.logicalAnd(tf.greaterEqual(y, 0), tf.lessEqual(y, h - 1)));
      // Out-of-range corners read a clamped pixel and are then weighted by zero (zero padding).
      const idx = tf.add(batchBase, tf.add(tf.mul(tf.clipByValue(y, 0, h - 1), w), tf.clipByValue(x, 0, w - 1)));
      const values = tf.gather(flat, tf.cast(tf.reshape(idx, [-1]), 'int32'));
      const wgt = tf.reshape(tf.mul(weight, tf.cast(inside, 'float32')), [-1, 1]);
      return tf.mul(values, wgt);
    };
    const ofx = tf.sub(1, fx);
    const ofy = tf.sub(1, fy);
    const sum = tf.addN([
      corner(0, 0, tf.mul(ofx, ofy)), corner(1, 0, tf.mul(fx, ofy)),
      corner(0, 1, tf.mul(ofx, fy)), corner(1, 1, tf.mul(fx, fy)),
    ]);
    return tf.reshape(sum, [n, oh, ow, c]) as tf.Tensor4D;
  });
}

function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** Bicubic, align_corners=True upsampling of a [h, w] field to [outH, outW] (border samples repeated). */
export function bicubicUpsample(field: Float64Array, h: number, w: number, outH: number, outW: number): Float64Array {
  if (field.length !== h * w) throw new Error(`bicubicUpsample: ${field.length} values for ${h}x${w}`);
  const at = (y: number, x: number) => field[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  const out = new Float64Array(outH * outW);
  for (let i = 0; i < outH; i++) {
    const sy = outH > 1 ? (i * (h - 1)) / (outH - 1) : 0;
    const y0 = Math.floor(sy);
    const wy = cubicWeights(sy - y0);
    for (let j = 0; j < outW; j++) {
      const sx = outW > 1 ? (j * (w - 1)) / (outW - 1) : 0;
      const x0 = Math.floor(sx);
      const wx = cubicWeights(sx - x0);
      let v = 0;
      for (let a = 0; a < 4; a++) {
        let row = 0;
        for (let b = 0; b < 4; b++) row += wx[b] * at(y0 - 1 + a, x0 - 1 + b);
        v += wy[a] * row;
      }
      out[i * outW + j] = v;
    }
  }
  return out;
}
