/**
 * Implicit hypergradients by fixed-point iteration, the machinery of I-BAU (Zeng et al., ICLR 2022).
 * BackdoorBench's defense/i-bau.py copies hypertorch's `fixed_point` (Grazzi et al., "On the Iteration
 * Complexity of Hypergradient Computation", ICML 2020); this is the same computation over TF.js tensors.
 *
 * The bilevel problem. An inner variable δ (for BAU: one universal perturbation) is defined by the model
 * parameters θ as a fixed point of one gradient-descent step on an inner loss,
 *     δ*(θ) = Φ(δ*, θ),   Φ(δ, θ) = δ − η ∇_δ L_in(δ, θ),
 * and θ is trained on an outer loss L_out(δ*(θ), θ). Its total derivative is, by the implicit function
 * theorem,
 *     dL_out/dθ = ∂_θ L_out + (∂_θ Φ)ᵀ (I − ∂_δ Φᵀ)⁻¹ ∂_δ L_out.
 * The inverse is replaced by K terms of its Neumann series: v₀ = 0, v_{k+1} = ∂_δ Φᵀ v_k + ∂_δ L_out, so
 * v_K = Σ_{j<K} (∂_δ Φᵀ)ʲ ∂_δ L_out (hypertorch's loop, including its first, trivial step from v = 0).
 * Both products are vector–Jacobian products of Φ, i.e. second derivatives of L_in:
 *     ∂_δ Φᵀ v = v − η ∇_δ ⟨∇_δ L_in, v⟩        (a Hessian–vector product)
 *     ∂_θ Φᵀ v =   − η ∇_θ ⟨∇_δ L_in, v⟩        (a mixed second derivative)
 * computed by differentiating TF.js's own first-order gradient (gradients of gradients). As in hypertorch,
 * δ is taken as given (the caller's approximate inner solution) and is not itself differentiated.
 *
 * Gradients of gradients in TF.js 4.22 need care; this file supplies what BAU's network needs:
 * - `enableSecondOrderGradients()` registers the gradients TF.js lacks for two kernels that appear in a
 *   first-order backward pass: AvgPoolGrad (linear in dy, so its gradient is an average pool) and Equal
 *   (piecewise constant, so zero; it appears in the backward pass of tf.max). Both only fill gaps: an
 *   already registered gradient is left alone.
 * - TF.js silently loses the second-order term of every op whose gradient reads the op's own output
 *   (Exp, Tanh, Sigmoid, Softmax, Pow, Elu, and tf.logSoftmax's custom gradient): the second derivative of
 *   Σ exp(x) comes out as an error or as a wrong number, not as exp(x). Measured; the saved output is not
 *   connected to the tape. Ops whose gradient reads their inputs (conv, matMul, relu, log, expm1,
 *   softplus, avgPool) are fine. `crossEntropy2` therefore builds cross-entropy from expm1: the project's
 *   `crossEntropy` (tf.logSoftmax) must not be differentiated twice.
 * Forward passes that are differentiated twice must also use `batchNormGradient: 'autodiff'` (layers.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamRecord } from '../models/layers';

/** Register the missing second-order gradients (idempotent; see the file header). */
export function enableSecondOrderGradients(): void {
  if (!tf.getGradient('AvgPoolGrad')) {
    tf.registerGradient({
      kernelName: 'AvgPoolGrad',
      inputsToSave: ['input'],
      gradFunc: (ddx: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
        const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
          filterSize: [number, number]; strides: [number, number]; pad: 'same' | 'valid' | number;
          dimRoundingMode?: 'floor' | 'round' | 'ceil';
        };
        return {
          // AvgPoolGrad(dy) is the adjoint of average pooling, so its own adjoint is average pooling.
          dy: () => tf.avgPool(ddx as tf.Tensor4D, filterSize, strides, pad, dimRoundingMode),
          input: () => tf.zerosLike(saved[0]),
        };
      },
    });
  }
  if (!tf.getGradient('Equal')) {
    tf.registerGradient({
      kernelName: 'Equal',
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
        a: () => tf.zerosLike(saved[0]),
        b: () => tf.zerosLike(saved[1]),
      }),
    });
  }
}

/**
 * log Σ exp(z) along the last axis, twice differentiable: exp is written as expm1(·) + 1 because TF.js
 * drops the second-order term of ops whose gradient reads their own output (Exp, Tanh, Sigmoid, Softmax,
 * Pow, …: measured, see the file header); Expm1's gradient reads its input.
 */
export function logSumExp2(z: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const m = tf.max(z, 1, true);
    const s = tf.sum(tf.add(tf.expm1(tf.sub(z, m)), 1), 1);
    return tf.add(m.reshape([z.shape[0]]), tf.log(s)) as tf.Tensor1D;
  });
}

/** Mean softmax cross-entropy that can be differentiated twice (see logSumExp2). */
export function crossEntropy2(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const picked = tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]).toFloat(), logits), 1);
    return tf.mean(tf.sub(logSumExp2(logits), picked)) as tf.Scalar;
  });
}

/** A bilevel problem over an inner tensor δ and outer parameters θ (see the file header). */
export interface BilevelProblem {
  /** L_in(δ, θ); must be twice differentiable in (δ, θ). */
  inner: (delta: tf.Tensor, params: ParamRecord) => tf.Scalar;
  /** L_out(δ, θ); differentiated once. */
  outer: (delta: tf.Tensor, params: ParamRecord) => tf.Scalar;
  /** η, the step of the inner gradient-descent map Φ. */
  innerLr: number;
}

export interface FixedPointOptions {
  /** Neumann terms (fixed-point iterations, counting the first step from v = 0). */
  K: number;
  /** Stop early when ‖v_{k+1} − v_k‖ < tol (hypertorch's default 1e-10 practically never triggers). */
  tol?: number;
}

export interface Hypergradient {
  /** dL_out/dθ per parameter (the caller disposes them). */
  grads: ParamRecord;
  /** L_out at (δ, θ). */
  outerLoss: number;
  /** Fixed-point iterations run (≤ K). */
  iterations: number;
  /** ‖∂_θ L_out‖ and ‖∂_θ Φᵀ v‖: how much the implicit term contributes. */
  directNorm: number;
  implicitNorm: number;
}

/**
 * Gradients of f with respect to each of xs, zeros where f does not depend on one (hypertorch's
 * grad_unused_zero). Returns the value as a number and tensors owned by the caller.
 */
export function valueAndGradsOrZeros(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[]): { value: number; grads: tf.Tensor[] } {
  const { value, grads } = tf.engine().gradients(() => f(...xs), xs, undefined, true);
  const v = value.dataSync()[0];
  value.dispose();
  return { value: v, grads: grads.map((g, i) => g ?? tf.zerosLike(xs[i])) };
}

function recordOf(names: string[], tensors: tf.Tensor[]): ParamRecord {
  const r: ParamRecord = {};
  names.forEach((n, i) => { r[n] = tensors[i]; });
  return r;
}

/** ⟨∇_δ L_in(δ, θ), v⟩ as a differentiable scalar (first-order gradient kept on the tape). */
function innerGradDot(problem: BilevelProblem, delta: tf.Tensor, params: ParamRecord, v: tf.Tensor): tf.Scalar {
  const g = tf.grad((d: tf.Tensor) => problem.inner(d, params))(delta);
  return tf.sum(tf.mul(g, v)) as tf.Scalar;
}

/** ∂_δ Φᵀ v = v − η ∇_δ ⟨∇_δ L_in, v⟩. */
export function mapVjpDelta(problem: BilevelProblem, delta: tf.Tensor, params: ParamRecord, v: tf.Tensor): tf.Tensor {
  enableSecondOrderGradients();
  return tf.tidy(() => {
    const hv = tf.grad((d: tf.Tensor) => innerGradDot(problem, d, params, v))(delta);
    return tf.sub(v, tf.mul(hv, problem.innerLr));
  });
}

/** ∂_θ Φᵀ v = −η ∇_θ ⟨∇_δ L_in, v⟩, per parameter (zeros where Φ does not depend on one). */
export function mapVjpParams(problem: BilevelProblem, delta: tf.Tensor, params: ParamRecord, v: tf.Tensor): ParamRecord {
  enableSecondOrderGradients();
  const names = Object.keys(params);
  const { grads } = valueAndGradsOrZeros(
    (...ps: tf.Tensor[]) => innerGradDot(problem, delta, recordOf(names, ps), v), names.map((n) => params[n]));
  return recordOf(names, grads.map((g) => tf.tidy(() => { const s = tf.mul(g, -problem.innerLr); g.dispose(); return s; })));
}

/**
 * The fixed-point hypergradient dL_out/dθ at (δ, θ), δ being (approximately) the inner solution for θ.
 * Leaves δ and θ untouched; every tensor it returns is new.
 */
export function fixedPointHypergradient(problem: BilevelProblem, delta: tf.Tensor, params: ParamRecord,
  opts: FixedPointOptions): Hypergradient {
  if (!Number.isInteger(opts.K) || opts.K < 1) throw new Error(`fixed-point hypergradient: K must be an integer >= 1 (got ${opts.K})`);
  if (!(problem.innerLr > 0)) throw new Error(`fixed-point hypergradient: innerLr must be > 0 (got ${problem.innerLr})`);
  enableSecondOrderGradients();
  const names = Object.keys(params);
  const tol = opts.tol ?? 1e-10;
  const outer = valueAndGradsOrZeros(
    (d: tf.Tensor, ...ps: tf.Tensor[]) => problem.outer(d, recordOf(names, ps)), [delta, ...names.map((n) => params[n])]);
  const [gDelta, ...gParams] = outer.grads;
  // v₁ = ∂_δΦᵀ·0 + ∂_δ L_out = ∂_δ L_out: hypertorch's first step, without the product with zero.
  let v = gDelta.clone();
  let iterations = 1;
  for (let k = 1; k < opts.K; k++) {
    const next = tf.tidy(() => tf.add(mapVjpDelta(problem, delta, params, v), gDelta));
    const change = tf.tidy(() => tf.norm(tf.sub(next, v)).dataSync()[0]);
    v.dispose();
    v = next;
    iterations++;
    if (change < tol) break;
  }
  const implicit = mapVjpParams(problem, delta, params, v);
  const directNorm = norm(gParams);
  const implicitNorm = norm(Object.values(implicit));
  const grads: ParamRecord = {};
  names.forEach((n, i) => {
    grads[n] = tf.add(gParams[i], implicit[n]);
    gParams[i].dispose();
    implicit[n].dispose();
  });
  gDelta.dispose();
  v.dispose();
  return { grads, outerLoss: outer.value, iterations, directNorm, implicitNorm };
}

function norm(ts: tf.Tensor[]): number {
  return tf.tidy(() => (ts.length ? Math.sqrt(tf.addN(ts.map((t) => tf.sum(tf.square(t)))).dataSync()[0]) : 0));
}
