// The browser demo (examples/browser) in real headless Chromium, driven by Playwright: the
// page trains the 2-D toy on WebGL, animates sampling, and samples digits from the
// committed model file. Reads window.demo and the canvases' pixels.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);

interface DemoState {
  phase: string;
  backend: string | null;
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

describe.skipIf(!hasChromium)(`examples/browser in Chromium (skipped without ${chromiumPath}: apt-get install -y chromium)`, () => {
  it('trains the toy on WebGL (the loss falls), samples near the modes, and samples digits from the checkpoint', async () => {
    if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    // Plain-JS modules (no declarations): imported by URL and typed here.
    const { startDemoServer } = (await import(pathToFileURL(path.join(root, 'examples/browser/serve.mjs')).href)) as {
      startDemoServer: () => Promise<{ url: string; close: () => Promise<void> }>;
    };
    const { launchChromium } = (await import(pathToFileURL(path.join(root, 'bench/browser/chromium.mjs')).href)) as {
      launchChromium: (args: string[]) => Promise<import('playwright').Browser>;
    };
    const server = await startDemoServer();
    const browser = await launchChromium([]); // Chromium's default GL: ANGLE on SwiftShader without a GPU
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
      expect(demo.backend).toBe('webgl');

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
});
