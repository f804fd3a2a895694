import * as tf from '@tensorflow/tfjs';

/** Mean softmax cross-entropy with optional label smoothing (FT-SAM uses 0.1). */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    let target: tf.Tensor = tf.oneHot(labels, numClasses).toFloat();
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / numClasses);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/** Mean squared difference of two tensors, as torch.nn.MSELoss. */
export function mse(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.mean(tf.squaredDifference(a, b));
}
