/**
 * SGD with momentum and decoupled-from-nothing (coupled, PyTorch-style) weight decay over a parameter
 * record: g ← g + wd·θ; v ← μ·v + g; θ ← θ − lr·v. Returns fresh tensors; callers dispose the old ones.
 */
import * as tf from '@tensorflow/tfjs';
import { NATIVE_SGD_STEP, nativeActive } from '../engine/native';
import { ParamRecord } from '../models/layers';

export interface SgdOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
}

export class Sgd {
  private velocity: ParamRecord = {};

  constructor(public options: SgdOptions) {}

  /** Apply one step; consumes (disposes) `grads` and the old `params`, returns the new params. */
  step(params: ParamRecord, grads: ParamRecord, lr = this.options.lr): ParamRecord {
    const { momentum, weightDecay } = this.options;
    const next: ParamRecord = {};
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name];
      if (!g) {
        next[name] = p;
        continue;
      }
      const [np, nv] = nativeActive() && p.dtype === 'float32' && g.dtype === 'float32' ? this.nativeStep(name, p, g, lr) : tf.tidy(() => {
        let d: tf.Tensor = weightDecay > 0 ? tf.add(g, tf.mul(p, weightDecay)) : g;
        if (momentum > 0) {
          const v = this.velocity[name];
          d = v ? tf.add(tf.mul(v, momentum), d) : d.clone();
        }
        return [tf.sub(p, tf.mul(d, lr)), momentum > 0 ? d : undefined] as [tf.Tensor, tf.Tensor | undefined];
      });
      if (nv) {
        this.velocity[name]?.dispose();
        this.velocity[name] = nv;
      }
      next[name] = np;
      p.dispose();
      g.dispose();
    }
    return next;
  }

  /** The same update in one native kernel per parameter (the TF.js form above dispatches five). */
  private nativeStep(name: string, p: tf.Tensor, g: tf.Tensor, lr: number): [tf.Tensor, tf.Tensor | undefined] {
    const { momentum, weightDecay } = this.options;
    const v = momentum > 0 ? this.velocity[name] : undefined;
    const out = tf.engine().runKernel(NATIVE_SGD_STEP, v ? { p, g, v } : { p, g }, { lr, momentum, weightDecay }) as unknown as tf.Tensor[];
    return [out[0], out[1]];
  }

  dispose(): void {
    for (const v of Object.values(this.velocity)) v.dispose();
    this.velocity = {};
  }
}

export function cosineLr(base: number, step: number, totalSteps: number): number {
  return totalSteps <= 0 ? base : 0.5 * base * (1 + Math.cos(Math.PI * Math.min(step, totalSteps) / totalSteps));
}
