/**
 * Adam (optionally AMSGrad) over a parameter record, PyTorch semantics: m ← β1·m + (1−β1)·g,
 * v ← β2·v + (1−β2)·g², θ ← θ − lr·m̂ / (√v̂ + ε) with bias-corrected m̂, v̂ (AMSGrad keeps the running max
 * of v̂). Coupled weight decay (g ← g + wd·θ) like torch.optim.Adam. Returns fresh tensors; consumes the old.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamRecord } from '../models/layers';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

export class Adam {
  private m: ParamRecord = {};
  private v: ParamRecord = {};
  private vMax: ParamRecord = {};
  private t = 0;

  constructor(public options: AdamOptions) {}

  /** Apply one step; disposes `grads` and the old `params`, returns the new params. */
  step(params: ParamRecord, grads: ParamRecord, lr = this.options.lr): ParamRecord {
    const { beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, weightDecay = 0, amsgrad = false } = this.options;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    const next: ParamRecord = {};
    for (const [name, p] of Object.entries(params)) {
      const g0 = grads[name];
      if (!g0) {
        next[name] = p;
        continue;
      }
      const [np, nm, nv, nvMax] = tf.tidy((): tf.Tensor[] => {
        const g = weightDecay > 0 ? tf.add(g0, tf.mul(p, weightDecay)) : g0;
        const m = this.m[name] ? tf.add(tf.mul(this.m[name], beta1), tf.mul(g, 1 - beta1)) : tf.mul(g, 1 - beta1);
        const v = this.v[name] ? tf.add(tf.mul(this.v[name], beta2), tf.mul(tf.square(g), 1 - beta2)) : tf.mul(tf.square(g), 1 - beta2);
        const vMax = amsgrad ? (this.vMax[name] ? tf.maximum(this.vMax[name], v) : v.clone()) : undefined;
        const denom = tf.add(tf.sqrt(tf.div(vMax ?? v, c2)), epsilon);
        const updated = tf.sub(p, tf.mul(tf.div(m, denom), lr / c1));
        return vMax ? [updated, m, v, vMax] : [updated, m, v];
      });
      this.m[name]?.dispose();
      this.v[name]?.dispose();
      this.m[name] = nm;
      this.v[name] = nv;
      if (nvMax) {
        this.vMax[name]?.dispose();
        this.vMax[name] = nvMax;
      }
      next[name] = np;
      p.dispose();
      g0.dispose();
    }
    return next;
  }

  dispose(): void {
    for (const r of [this.m, this.v, this.vMax]) for (const t of Object.values(r)) t.dispose();
    this.m = {};
    this.v = {};
    this.vMax = {};
  }
}
