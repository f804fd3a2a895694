/**
 * Swap a kernel's registered gradient for our own and back. TF.js's gradient registry is process-global and
 * warns on every override; the overrides here are deliberate, so the warning is silenced.
 */
import * as tf from '@tensorflow/tfjs';

function registerQuietly(config: tf.GradConfig): void {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    tf.registerGradient(config);
  } finally {
    console.warn = warn;
  }
}

export interface GradientOverride {
  install(): void;
  /** Restore the gradient registered before install (used by tests and the benchmark's stock runs). */
  uninstall(): void;
  installed(): boolean;
  /** The gradient that was registered before install, if any. */
  previous(): tf.GradConfig | undefined;
}

export function gradientOverride(config: tf.GradConfig): GradientOverride {
  let previous: tf.GradConfig | undefined;
  let installed = false;
  return {
    install() {
      if (installed) return;
      previous = tf.getGradient(config.kernelName) as tf.GradConfig | undefined;
      registerQuietly(config);
      installed = true;
    },
    uninstall() {
      if (!installed) return;
      if (previous) registerQuietly(previous);
      installed = false;
    },
    installed: () => installed,
    previous: () => previous,
  };
}
