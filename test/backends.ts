import * as tf from '@tensorflow/tfjs-core';

/** Backends every Node test runs on (webgl is covered by the browser project). */
export const NODE_BACKENDS = ['cpu', 'wasm'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

/** Register (lazily, so cpu-only files don't pay for wasm start-up) and activate a backend. */
export async function useBackend(name: NodeBackend): Promise<void> {
  if (name === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
  } else {
    await import('@tensorflow/tfjs-backend-wasm');
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`tfjs backend "${name}" failed to start (active: "${tf.getBackend()}")`);
  }
}
