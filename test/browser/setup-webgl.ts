import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';

/**
 * Switch tfjs to the WebGL backend, failing loudly (instead of silently falling back
 * to cpu or to half-float textures) when the browser cannot give us WebGL2 + float32.
 */
export async function useWebGL(): Promise<void> {
  // We run on SwiftShader (software GL). tfjs asks for failIfMajorPerformanceCaveat contexts,
  // which some Chromium/GL combinations refuse for software GL; software is fine for tests.
  tf.env().set('SOFTWARE_WEBGL_ENABLED', true);
  const ok = await tf.setBackend('webgl');
  await tf.ready();
  if (!ok || tf.getBackend() !== 'webgl') {
    throw new Error(
      `WebGL backend unavailable (got "${tf.getBackend()}"). Chromium must be started with a ` +
        'working GL (e.g. SwiftShader: --use-angle=swiftshader --enable-unsafe-swiftshader).',
    );
  }
  const version = tf.env().getNumber('WEBGL_VERSION');
  const float32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
  if (version !== 2 || !float32) {
    throw new Error(
      `WebGL is too weak for reference-precision tests: WEBGL_VERSION=${version}, ` +
        `WEBGL_RENDER_FLOAT32_ENABLED=${float32} (need 2 and true).`,
    );
  }
}
