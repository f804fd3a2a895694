/**
 * Arithmetic on parameter records, the vocabulary of the LMC analysis and PAM: both treat a model as a
 * point in weight space. Every function returns new tensors and checks that the records match.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamRecord } from './layers';

function assertSameLayout(a: ParamRecord, b: ParamRecord, op: string): void {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  const missing = ka.filter((k) => !(k in b)).concat(kb.filter((k) => !(k in a)));
  if (missing.length) throw new Error(`${op}: parameter records differ, e.g. "${missing[0]}" is only in one`);
  for (const k of ka) {
    if (!tf.util.arraysEqual(a[k].shape, b[k].shape)) {
      throw new Error(`${op}: "${k}" has shape [${a[k].shape}] vs [${b[k].shape}]`);
    }
  }
}

function zip(a: ParamRecord, b: ParamRecord, op: string, f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): ParamRecord {
  assertSameLayout(a, b, op);
  const out: ParamRecord = {};
  for (const k of Object.keys(a)) out[k] = tf.tidy(() => f(a[k], b[k]));
  return out;
}

export function add(a: ParamRecord, b: ParamRecord): ParamRecord {
  return zip(a, b, 'add', (x, y) => tf.add(x, y));
}

export function sub(a: ParamRecord, b: ParamRecord): ParamRecord {
  return zip(a, b, 'sub', (x, y) => tf.sub(x, y));
}

export function scale(a: ParamRecord, s: number): ParamRecord {
  const out: ParamRecord = {};
  for (const [k, v] of Object.entries(a)) out[k] = tf.tidy(() => tf.mul(v, s));
  return out;
}

/** a + s * b */
export function axpy(a: ParamRecord, s: number, b: ParamRecord): ParamRecord {
  return zip(a, b, 'axpy', (x, y) => tf.add(x, tf.mul(y, s)));
}

/** (1 - t) * a + t * b: the point at fraction t of the straight line from a to b. */
export function lerp(a: ParamRecord, b: ParamRecord, t: number): ParamRecord {
  return zip(a, b, 'lerp', (x, y) => tf.add(tf.mul(x, 1 - t), tf.mul(y, t)));
}

/** Global L2 norm over every tensor of the record, as one number. */
export function globalNorm(a: ParamRecord): number {
  return tf.tidy(() => {
    const squares = Object.values(a).map((t) => tf.sum(tf.square(t)));
    return squares.length ? Math.sqrt(tf.addN(squares).dataSync()[0]) : 0;
  });
}

/** ‖a − b‖₂ over the whole record. */
export function distance(a: ParamRecord, b: ParamRecord): number {
  assertSameLayout(a, b, 'distance');
  return tf.tidy(() => {
    const squares = Object.keys(a).map((k) => tf.sum(tf.squaredDifference(a[k], b[k])));
    return squares.length ? Math.sqrt(tf.addN(squares).dataSync()[0]) : 0;
  });
}

export function clone(a: ParamRecord): ParamRecord {
  const out: ParamRecord = {};
  for (const [k, v] of Object.entries(a)) out[k] = v.clone();
  return out;
}

export function dispose(a: ParamRecord): void {
  for (const v of Object.values(a)) v.dispose();
}
