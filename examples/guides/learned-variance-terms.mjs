// A block of docs/learned-variance.md (one step of the hybrid loss): the lines between the region
// markers, then its numbers as one `RESULT {json}` line.  node examples/guides/learned-variance-terms.mjs
// #region terms
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // or any backend
import '@tensorflow/tfjs-layers'; // the gradients tf.grad needs
import { GaussianDiffusion, namedBetaSchedule } from 'difflib';

const T = 4000;
const diffusion = new GaussianDiffusion({
  betas: namedBetaSchedule('cosine', T), modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: 'rescaled_mse',
});
// A stand-in model with one weight for the mean part and one for v: [B, 4, 4, 1] → [B, 4, 4, 2].
const modelOf = (w) => (x) =>
  tf.tidy(() => tf.concat([tf.mul(x, tf.slice(w, 0, 1)), tf.mul(tf.onesLike(x), tf.slice(w, 1, 1))], -1));
const w = tf.tensor1d([0.3, -0.2]);
const x0 = tf.randomUniform([3, 4, 4, 1], -1, 1, 'float32', 2);
const noise = tf.randomNormal([3, 4, 4, 1], 0, 1, 'float32', 3);
const t = [0, 1000, 3999];

const { loss, mse, vb } = diffusion.trainingLosses(modelOf(w), x0, t, { noise });
// loss = mse + vb, and vb = L_t · T/1000 with L_t from vbTermsBpd on the same x_t:
const xT = diffusion.qSample(x0, t, noise);
const { output, predXStart } = diffusion.vbTermsBpd(modelOf(w), x0, xT, t, { clipDenoised: false });
const scaled = tf.mul(output, T / 1000);
// The vb term's gradient reaches only the variance weight, the mse term's only the mean weight:
const gradVb = tf.grad((wv) => tf.sum(diffusion.trainingLosses(modelOf(wv), x0, t, { noise }).vb))(w);
const gradMse = tf.grad((wv) => tf.sum(diffusion.trainingLosses(modelOf(wv), x0, t, { noise }).mse))(w);
const values = await Promise.all([loss, mse, vb, scaled, gradVb, gradMse].map((x) => x.data()));
console.log('loss', values[0], 'mse', values[1], 'vb', values[2]);
console.log('L_t · T/1000', values[3]); // equals vb
console.log('∂vb/∂w', values[4], '∂mse/∂w', values[5]); // [0, ≠0] and [≠0, 0]
tf.dispose([loss, mse, vb, xT, output, predXStart, scaled, gradVb, gradMse, w, x0, noise]);
// #endregion terms

const [lossValues, mseValues, vbValues, scaledValues, gradVbValues, gradMseValues] = values.map((v) => Array.from(v));
console.log(`RESULT ${JSON.stringify({
  loss: lossValues, mse: mseValues, vb: vbValues, scaled: scaledValues, gradVb: gradVbValues, gradMse: gradMseValues,
  tensorsAtEnd: tf.memory().numTensors,
})}`);
