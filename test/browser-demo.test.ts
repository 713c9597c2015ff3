// The browser demo (examples/browser) in real headless Chromium, driven by Playwright: the
// page picks its backend (wasm here: without a GPU Chromium's WebGL is a software renderer),
// trains the 2-D toy, animates sampling, and samples digits from the committed model file.
// Reads window.demo and the canvases' pixels.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);

interface BackendFacts {
  override: string | null;
  webgpu: { name: string; isFallbackAdapter: boolean } | null;
  webgl: { renderer: string; majorPerformanceCaveat: boolean } | null;
  wasm: boolean;
  crossOriginIsolated: boolean;
}

interface DemoState {
  phase: string;
  backend: string | null;
  backendReason: string | null;
  backendFacts: BackendFacts | null;
  wasm: { simd: boolean; multithread: boolean; threads: number } | null;
  losses: number[];
  toy: { nearMode: number; modeShares: number[]; frames: number } | null;
  digits: { n: number; sampler: string; steps: number; modelCalls: number; size: number; finite: boolean; maxAbs: number; backgroundShare: number; trainedSteps: number } | null;
  error: string | null;
}

const STEPS = 400;
const PREVIEW = 200;
const DIGITS = 4;
const DIGIT_STEPS = 20;

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

// Plain-JS modules (no declarations): imported by URL and typed here.
const importScript = async <T>(file: string) => (await import(pathToFileURL(path.join(root, file)).href)) as T;
type StartDemoServer = () => Promise<{ url: string; close: () => Promise<void> }>;
const demoServer = () => importScript<{ startDemoServer: StartDemoServer }>('examples/browser/serve.mjs').then((m) => m.startDemoServer());
const chromium = () =>
  importScript<{ launchChromium: (args: string[]) => Promise<import('playwright').Browser>; FLAG_SETS: Record<string, Array<{ name: string; args: string[] }>> }>(
    'bench/browser/chromium.mjs',
  );
const backendRule = () =>
  importScript<{ chooseBackend: (facts: BackendFacts) => { backend: string; reason: string } }>('examples/browser/backend-choice.mjs').then((m) => m.chooseBackend);

/** Opens the page with `query`, waits until its backend has started (or it failed) and returns window.demo and the status line. */
async function openDemo(browser: import('playwright').Browser, url: string, query: string) {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${url}${query}`);
  await page.waitForFunction(() => ['ready', 'error'].includes((window as unknown as { demo?: DemoState }).demo?.phase ?? ''), null, { timeout: 60_000 });
  const demo = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
  const status = await page.textContent('#status');
  await page.close();
  return { demo, status, pageErrors };
}

describe.skipIf(!hasChromium)(`examples/browser in Chromium (skipped without ${chromiumPath}: apt-get install -y chromium)`, () => {
  it('trains the toy on the backend it picks (the loss falls), samples near the modes, and samples digits from the checkpoint', async () => {
    if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    const server = await demoServer();
    const browser = await (await chromium()).launchChromium([]); // Chromium's default GL: ANGLE on SwiftShader without a GPU
    const chooseBackend = await backendRule();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${server.url}?autostart=1&steps=${STEPS}&preview=${PREVIEW}&digits=${DIGITS}&digitSteps=${DIGIT_STEPS}`);
      await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as { demo?: DemoState }).demo?.phase ?? ''), null, {
        timeout: 420_000,
        polling: 500,
      });
      const demo = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
      expect(demo.error).toBeNull();
      expect(pageErrors).toEqual([]);

      // serve.mjs's COOP/COEP headers isolate the page; the backend is the one the rule
      // (test/browser-demo-backend.test.ts) gives for what the page detected, shown with its reason.
      const isolated = await page.evaluate(() => self.crossOriginIsolated);
      expect(isolated).toBe(true);
      expect(demo.backendFacts).toMatchObject({ override: null, wasm: true, crossOriginIsolated: true });
      expect(demo.backendFacts!.webgl).not.toBeNull();
      const choice = chooseBackend(demo.backendFacts!);
      expect(demo.backend).toBe(choice.backend);
      expect(demo.backendReason).toBe(choice.reason);
      expect(await page.textContent('#status')).toContain(choice.reason);
      // No GPU here: WebGL is SwiftShader, so the rule says wasm; on a GPU machine it says webgl or webgpu.
      if (/swiftshader/i.test(demo.backendFacts!.webgl!.renderer)) {
        expect(demo.backend).toBe('wasm');
        expect(demo.backendReason).toMatch(/^the WebGL renderer is SwiftShader, a software renderer; .*; threads: the page is cross-origin isolated$/);
      }
      if (demo.backend === 'wasm') {
        // The threaded SIMD build loaded (the page is isolated), by default with half the cores
        // (1 here, on 2 cores; the next test asks for 2).
        const cores = await page.evaluate(() => navigator.hardwareConcurrency);
        expect(demo.wasm).toEqual({ simd: true, multithread: true, threads: Math.min(8, Math.max(1, Math.floor(cores / 2))) });
        expect(await page.textContent('#status')).toContain(`Backend: wasm (SIMD, ${demo.wasm!.threads} thread${demo.wasm!.threads === 1 ? '' : 's'}): `);
      }

      // It trains: every step logged, finite, the last 50 well below the first 50.
      expect(demo.losses).toHaveLength(STEPS);
      expect(demo.losses.every(Number.isFinite)).toBe(true);
      expect(mean(demo.losses.slice(-50))).toBeLessThan(0.5 * mean(demo.losses.slice(0, 50)));

      // It samples: after 400 steps far more points sit on a mode than the 6% of N(0, I), on
      // every mode; one preview and the final animation, 25 frames each.
      expect(demo.toy!.nearMode).toBeGreaterThan(0.18);
      expect(demo.toy!.modeShares.filter((s) => s > 0.02)).toHaveLength(8);
      expect(demo.toy!.frames).toBe(2 * 25);

      // Digits from the committed model: the process ran all steps to finite pixels, and
      // they look like MNIST: mostly black background (uniform noise on [−1, 1] has 12.5% below −0.75).
      expect(demo.digits).toMatchObject({ n: DIGITS, sampler: 'ancestral', steps: DIGIT_STEPS, modelCalls: DIGIT_STEPS, size: 16, finite: true });
      expect(demo.digits!.trainedSteps).toBeGreaterThan(100);
      expect(demo.digits!.backgroundShare).toBeGreaterThan(0.5);

      // It renders: red sample dots on the scatter, digit grids of the right size with both
      // dark and light pixels, and a drawn loss curve.
      const drawn = await page.evaluate(() => {
        const pixels = (id: string) => {
          const c = document.getElementById(id) as HTMLCanvasElement;
          return { width: c.width, height: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
        };
        const count = (p: { data: number[] }, test: (r: number, g: number, b: number) => boolean) => {
          let n = 0;
          for (let i = 0; i < p.data.length; i += 4) if (test(p.data[i]!, p.data[i + 1]!, p.data[i + 2]!)) n++;
          return n;
        };
        const toy = pixels('toy-canvas');
        const loss = pixels('loss-canvas');
        const xt = pixels('digits-xt');
        return {
          red: count(toy, (r, g, b) => r > 180 && g < 90 && b < 90),
          blueLine: count(loss, (r, g, b) => b > 150 && r < 80),
          digitSize: [xt.width, xt.height],
          dark: count(xt, (r) => r < 40),
          light: count(xt, (r) => r > 200),
        };
      });
      expect(drawn.red).toBeGreaterThan(500);
      expect(drawn.blueLine).toBeGreaterThan(100);
      expect(drawn.digitSize).toEqual([2 * (16 * 4 + 2), 2 * (16 * 4 + 2)]);
      expect(drawn.dark).toBeGreaterThan(1000);
      expect(drawn.light).toBeGreaterThan(100);

      // A diffusers scheduler picked on the page: DPM-Solver++(2M) at 10 steps, digits only.
      await page.selectOption('#digits-sampler', 'DPMSolverMultistepScheduler');
      await page.fill('#digits-steps', '10');
      await page.click('#sample-digits');
      await page.waitForFunction(
        () => {
          const d = (window as unknown as { demo: DemoState }).demo;
          return d.phase === 'error' || (d.phase === 'done' && d.digits?.sampler === 'DPMSolverMultistepScheduler');
        },
        null,
        { timeout: 120_000, polling: 500 },
      );
      const again = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
      expect(again.error).toBeNull();
      expect(pageErrors).toEqual([]);
      // One model call per step (multistep), every pixel finite, and digits, not noise: more dark
      // background than noise's 12.5% (10 steps of this small model leave greyer backgrounds than
      // 20 ancestral ones, ~0.55 on wasm), in the data's range. With its defaults (from t = 999,
      // σ ≈ 2·10⁴, x̂_0 unclipped) this model's samples reach ±1000s; the demo clips x̂_0
      // (thresholding) for DPM-Solver (docs/schedulers.md).
      expect(again.digits).toMatchObject({ n: DIGITS, sampler: 'DPMSolverMultistepScheduler', steps: 10, modelCalls: 10, size: 16, finite: true });
      expect(again.digits!.backgroundShare).toBeGreaterThan(0.3);
      expect(again.digits!.maxAbs).toBeLessThanOrEqual(1.5);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 480_000);

  it('picks wasm over WebGL on llvmpipe too, runs 2 wasm threads with ?threads=2, and takes the backend ?backend= names', async () => {
    if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    const server = await demoServer();
    const { launchChromium, FLAG_SETS } = await chromium();
    const chooseBackend = await backendRule();
    // ANGLE on the system GL driver: Mesa's llvmpipe without a GPU (bench/browser/README.md).
    const browser = await launchChromium(FLAG_SETS['webgl']![0]!.args);
    try {
      const auto = await openDemo(browser, server.url, '');
      expect(auto.pageErrors).toEqual([]);
      expect(auto.demo.error).toBeNull();
      expect(auto.demo.backend).toBe(chooseBackend(auto.demo.backendFacts!).backend);
      expect(auto.status).toContain(auto.demo.backendReason!);
      if (/llvmpipe/i.test(auto.demo.backendFacts!.webgl?.renderer ?? '')) {
        expect(auto.demo.backend).toBe('wasm');
        expect(auto.demo.backendReason).toMatch(/^the WebGL renderer is llvmpipe, a software renderer; /);
      }

      // The threaded build runs more than one thread when asked, above tfjs's half-the-cores cap.
      const threaded = await openDemo(browser, server.url, '?backend=wasm&threads=2');
      expect(threaded.demo).toMatchObject({ phase: 'ready', backend: 'wasm', wasm: { simd: true, multithread: true, threads: 2 }, error: null });
      expect(threaded.status).toMatch(/^Backend: wasm \(SIMD, 2 threads\): /);

      const named = await openDemo(browser, server.url, '?backend=webgl');
      expect(named.pageErrors).toEqual([]);
      expect(named.demo).toMatchObject({ phase: 'ready', backend: 'webgl', backendReason: 'chosen with ?backend=webgl', wasm: null, error: null });
      expect(named.status).toBe('Backend: webgl: chosen with ?backend=webgl. Ready.');

      const unknown = await openDemo(browser, server.url, '?backend=gpu');
      expect(unknown.demo.phase).toBe('error');
      expect(unknown.status).toMatch(/backend must be auto or one of webgpu, webgl, wasm, cpu, got gpu/);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 120_000);
});
