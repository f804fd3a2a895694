/**
 * Where a training step's time goes, by kernel: every kernel registered for the active backend is wrapped
 * with a timer (kernels on wasm and native run synchronously, so the wall time around the kernel function is
 * its cost). Time outside kernels is TF.js dispatch, tape bookkeeping, batch assembly and our own JS.
 * Used by bench and scripts/bench/profile-step; never on in the product.
 */
import * as tf from '@tensorflow/tfjs';

export interface KernelTiming { kernel: string; calls: number; ms: number }

export interface KernelProfiler {
  /** Undo the wrapping (restores the configs that were registered at start). */
  stop(): void;
  reset(): void;
  timings(): KernelTiming[];
}

export function profileKernels(backendName = tf.getBackend()): KernelProfiler {
  const originals = tf.getKernelsForBackend(backendName);
  const acc = new Map<string, { calls: number; ms: number }>();
  for (const k of originals) {
    const orig = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: ((args: Parameters<tf.KernelFunc>[0]) => {
        const t = performance.now();
        try {
          return orig(args);
        } finally {
          const a = acc.get(k.kernelName) ?? { calls: 0, ms: 0 };
          a.calls++;
          a.ms += performance.now() - t;
          acc.set(k.kernelName, a);
        }
      }) as tf.KernelFunc,
    });
  }
  return {
    stop() {
      for (const k of originals) {
        tf.unregisterKernel(k.kernelName, backendName);
        tf.registerKernel(k);
      }
    },
    reset: () => acc.clear(),
    timings: () => [...acc].map(([kernel, a]) => ({ kernel, ...a })).sort((x, y) => y.ms - x.ms),
  };
}
