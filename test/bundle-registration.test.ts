// A bundled app keeps the U-Net's custom layers. Two tiny apps are bundled from dist/ with
// esbuild as an app would be (esm, minified, tree-shaken, so package.json's `sideEffects`
// applies), load a saved U-Net in headless Chromium on the cpu backend, and must return the
// saved model's output on a fixed input:
// - one whose only difflib import is loadUNetModel (which registers the layers itself);
// - one that imports difflib bare (`import 'difflib'`) and calls tfl.loadLayersModel, which
//   works only if the bundler keeps difflib's import-time registration (`sideEffects: false`
//   made esbuild drop it: "Unknown layer: DifflibTimestepEmbedding").
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from './backends';
import { savedEveryLayerUNet, values } from './helpers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);

function requireDist(): void {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
}

describe('package.json sideEffects', () => {
  it('names exactly the built files that register layers with tf.serialization, and they exist', () => {
    requireDist();
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { sideEffects: unknown };
    const registering = readdirSync(path.join(root, 'dist'))
      .filter((f) => /\.(c?js)$/.test(f) && readFileSync(path.join(root, 'dist', f), 'utf8').includes('serialization.registerClass('))
      .map((f) => `./dist/${f}`);
    // Both outputs register (one for `import`, one for `require`); a change in how tsup splits dist/ shows here.
    expect(registering.sort()).toEqual(['./dist/index.cjs', './dist/index.js']);
    expect(Array.isArray(pkg.sideEffects) ? [...(pkg.sideEffects as string[])].sort() : pkg.sideEffects).toEqual(registering);
  });
});

const X_SHAPE = [2, 8, 8, 3];
const T = [3, 640];

/** The page side: starts the cpu backend, loads /model.json with `load`, predicts on /input.json. */
const PAGE_MAIN = `
async function main(load) {
  try {
    await tf.setBackend('cpu');
    const input = await (await fetch('/input.json')).json();
    const model = await load('/model.json');
    const out = model.predict([tf.tensor(input.x, input.xShape), tf.tensor2d(input.t, [input.t.length, 1])]);
    window.result = { shape: out.shape, output: Array.from(await out.data()) };
  } catch (e) {
    window.result = { error: String((e && e.message) || e) };
  }
}`;

const APPS = {
  // The app's only difflib import is the loader.
  loader: `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadUNetModel } from 'difflib';
${PAGE_MAIN}
main(loadUNetModel);`,
  // The pattern docs/checkpoints.md gave before loadUNetModel, still supported: importing difflib registers the layers.
  bare: `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import 'difflib';
${PAGE_MAIN}
main((url) => tfl.loadLayersModel(url));`,
};

interface PageResult {
  shape?: number[];
  output?: number[];
  error?: string;
}

describe.skipIf(!hasChromium)(`a bundled app loads a saved U-Net in Chromium (skipped without ${chromiumPath}: apt-get install -y chromium)`, () => {
  let dir: string;
  let expected: Float32Array;
  let server: { url: string; close: () => Promise<void> };
  let browser: import('playwright').Browser;

  beforeAll(async () => {
    requireDist();
    // The saved model and its output on a fixed input, in Node.
    await useBackend('cpu');
    const { unet, artifacts } = await savedEveryLayerUNet();
    const xValues = values(X_SHAPE.reduce((n, d) => n * d, 1), 5);
    const out = tf.tidy(() => unet.model.predict([tf.tensor(xValues, X_SHAPE), tf.tensor2d(T, [T.length, 1])]) as tf.Tensor);
    expected = out.dataSync() as Float32Array;
    out.dispose();
    unet.dispose();

    // model.json + weights.bin, as unet.model.save('http://…') or 'downloads://' writes them.
    dir = mkdtempSync(path.join(os.tmpdir(), 'difflib-bundle-'));
    const { modelTopology, format, generatedBy, convertedBy, weightSpecs, weightData } = artifacts;
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology, format, generatedBy, convertedBy, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }] }));
    writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData!)));
    writeFileSync(path.join(dir, 'input.json'), JSON.stringify({ x: Array.from(xValues), xShape: X_SHAPE, t: T }));

    const { serveRoutes } = (await import(pathToFileURL(path.join(root, 'scripts/browser-page.mjs')).href)) as {
      serveRoutes: (routes: Record<string, { type: string; file?: string; body?: string }>) => Promise<{ url: string; close: () => Promise<void> }>;
    };
    const { launchChromium } = (await import(pathToFileURL(path.join(root, 'bench/browser/chromium.mjs')).href)) as {
      launchChromium: (args: string[]) => Promise<import('playwright').Browser>;
    };
    const js = 'text/javascript; charset=utf-8';
    server = await serveRoutes({
      '/model.json': { type: 'application/json', file: path.join(dir, 'model.json') },
      '/weights.bin': { type: 'application/octet-stream', file: path.join(dir, 'weights.bin') },
      '/input.json': { type: 'application/json', file: path.join(dir, 'input.json') },
      ...Object.fromEntries(
        Object.keys(APPS).flatMap((name) => [
          [`/${name}.html`, { type: 'text/html; charset=utf-8', body: `<!doctype html><script type="module" src="/${name}.js"></script>` }],
          [`/${name}.js`, { type: js, file: path.join(dir, `${name}.js`) }],
        ]),
      ),
    });
    browser = await launchChromium([]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Bundles the app as an app would be (tree-shaken and minified, so `sideEffects` takes effect); returns esbuild's warnings. */
  async function bundle(name: keyof typeof APPS): Promise<string[]> {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      stdin: { contents: APPS[name], resolveDir: root, sourcefile: `${name}.mjs` },
      outfile: path.join(dir, `${name}.js`),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'chrome120',
      minify: true,
      treeShaking: true,
      logLevel: 'silent',
    });
    return result.warnings.map((w) => w.text);
  }

  async function run(name: keyof typeof APPS): Promise<PageResult> {
    const page = await browser.newPage();
    try {
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${server.url}${name}.html`);
      await page.waitForFunction(() => (window as unknown as { result?: PageResult }).result !== undefined, null, { timeout: 60_000, polling: 100 });
      expect(pageErrors).toEqual([]);
      return await page.evaluate(() => (window as unknown as { result: PageResult }).result);
    } finally {
      await page.close();
    }
  }

  /** The page's output is Node's, bit for bit: the same weights through the same cpu kernels (JavaScript, IEEE float32). */
  function expectSavedModelsOutput(result: PageResult): void {
    expect(result.error).toBeUndefined();
    expect(result.shape).toEqual([2, 8, 8, 3]);
    expect(Math.max(...Array.from(expected, Math.abs)), 'a non-trivial output').toBeGreaterThan(0.1);
    expect(result.output).toEqual(Array.from(expected));
  }

  it('an app importing only loadUNetModel gets the layers and the saved output', async () => {
    expect(await bundle('loader')).toEqual([]);
    expectSavedModelsOutput(await run('loader'));
  });

  it('an app importing difflib bare keeps the import-time registration (esbuild does not drop it)', async () => {
    const warnings = await bundle('bare');
    expectSavedModelsOutput(await run('bare'));
    expect(warnings, 'esbuild warns when it drops a bare import of a side-effect-free file').toEqual([]);
  });
});
