// A block of docs/getting-started.md (wasm threads in Node): the lines between the region markers,
// then the backend and its thread count as one `RESULT {json}` line.  node examples/guides/wasm-threads.mjs
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
// #region wasm-threads
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerThreadedWasmBackend } from 'difflib/node';

registerThreadedWasmBackend({ threads: 2 }); // default: the cores, at most 8
await tf.setBackend('wasm');
// #endregion wasm-threads

const sum = tf.sum(tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]))); // 64·64·64 on the threaded build
console.log(`RESULT ${JSON.stringify({ backend: tf.getBackend(), threads: getThreadsCount(), sum: (await sum.data())[0] })}`);
