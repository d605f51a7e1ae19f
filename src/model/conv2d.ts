import * as tf from '@tensorflow/tfjs';

type SaveFn = (tensors: tf.Tensor[]) => void;
type ConvOp = (x: tf.Tensor4D, filter: tf.Tensor4D) => tf.Tensor4D;

/*
 * conv2d (NHWC, filter HWIO, symmetric zero padding) with a faster filter gradient: a matrix
 * product for 1x1/stride-1 convs, else the forward Conv2D kernel run as a correlation of x with dy
 * (channels as the batch, images as channels, dy dilated by the stride). The cpu backend's own
 * Conv2DBackpropFilter is a scalar loop nest that took ~3/4 of a fine-tuning step (26 s of 33 s on
 * the small goldens' trunk). The input gradient stays tf.js's conv2dTranspose.
 */
function makeConv(stride: number, pad: number): ConvOp {
  return tf.customGrad(((x: tf.Tensor4D, filter: tf.Tensor4D, save: SaveFn) => {
    save([x, filter]);
    return {
      value: tf.conv2d(x, filter, stride, pad === 0 ? 'valid' : pad),
      gradFunc: (dy: tf.Tensor4D, [sx, sf]: tf.Tensor[]) => {
        const [kh, kw, ci, co] = sf.shape as [number, number, number, number];
        const [n, ho, wo] = dy.shape as [number, number, number, number];
        const dx = tf.conv2dTranspose(dy, sf as tf.Tensor4D, sx.shape as [number, number, number, number], stride, pad === 0 ? 'valid' : pad);
        let dFilter: tf.Tensor;
        if (kh === 1 && kw === 1 && stride === 1) {
          dFilter = tf.reshape(tf.matMul(tf.reshape(sx, [-1, ci]) as tf.Tensor2D, tf.reshape(dy, [n * ho * wo, co]) as tf.Tensor2D, true, false), [1, 1, ci, co]);
        } else {
          // Correlate x (channels as the batch, the images as channels) with dy dilated by the stride.
          const padded = pad === 0 ? sx : tf.pad(sx, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
          const xT = tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, Hp, Wp, n]
          const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [ho, wo, n, co]
          let full = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', stride); // [ci, >= kh, >= kw, co]
          if (full.shape[1] !== kh || full.shape[2] !== kw) full = tf.slice(full, [0, 0, 0, 0], [ci, kh, kw, co]);
          dFilter = tf.transpose(full, [1, 2, 0, 3]);
        }
        return [dx, dFilter];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as ConvOp;
}

const ops = new Map<string, ConvOp>();

/** tf.conv2d(x, filter, stride, pad) with a matrix-product filter gradient (see above). */
export function conv2dFast(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number): tf.Tensor4D {
  const key = `${stride}/${pad}`;
  let op = ops.get(key);
  if (!op) {
    op = makeConv(stride, pad);
    ops.set(key, op);
  }
  return op(x, filter);
}
