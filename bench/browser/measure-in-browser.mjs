// `npm run bench` on the GPU backends in headless Chromium: bundles the page (entry.mjs),
// serves it on 127.0.0.1, starts the backend under each of its flag sets in turn
// (chromium.mjs) and runs bench/measure.mjs in the page under the first that works.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForBrowser, serveRoutes } from '../../scripts/browser-page.mjs';
import { FLAG_SETS, launchChromium } from './chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE = '<!doctype html><meta charset="utf-8"><title>difflib bench</title><script type="module" src="/page.js"></script>';

/** Bundles entry.mjs and serves it as the page `/`. */
async function servePage() {
  const bundle = await bundleForBrowser(path.join(here, 'entry.mjs'), path.join(here, '..', '..', 'node_modules', '.cache', 'difflib-bench', 'page.js'));
  return serveRoutes({
    '/': { type: 'text/html; charset=utf-8', body: PAGE },
    '/page.js': { type: 'text/javascript; charset=utf-8', file: bundle },
  });
}

/**
 * Measures `configName` on `backend` inside headless Chromium.
 * @param {object} args
 * @param {'webgl' | 'webgpu'} args.backend
 * @param {string} args.configName - a key of CONFIGS (bench/configs.mjs).
 * @param {object} args.options - measure()'s warmup, repeats, ddimSteps, schedulerSteps, leakSteps, profile.
 * @param {(line: string) => void} args.log - progress lines, the page's included.
 * @returns {Promise<{ backendInfo: string, result: object }>} result as measure() returns it.
 * @throws {Error} saying why, when the backend starts under none of its flag sets or the
 *   measurement fails (a WebGPU error included).
 */
export async function measureInBrowser({ backend, configName, options, log }) {
  const flagSets = FLAG_SETS[backend];
  if (!flagSets) throw new Error(`${backend} has no browser runtime here (only ${Object.keys(FLAG_SETS).join(', ')})`);
  const server = await servePage();
  try {
    const failures = [];
    for (const flags of flagSets) {
      const browser = await launchChromium(flags.args);
      try {
        const page = await openPage(browser, server.url, log);
        let started;
        try {
          started = await page.evaluate(([name, gpuOnly]) => window.benchStart(name, gpuOnly), [backend, Boolean(flags.gpuOnly)]);
        } catch (e) {
          failures.push(`under ${flags.name}: ${firstLine(e)}`);
          log(`${backend} did not start under ${flags.name}: ${firstLine(e)}`);
          continue;
        }
        const backendInfo = `${started}; Chromium ${browser.version()} headless, ${flags.name} (${flags.args.join(' ') || 'no GPU flags'})`;
        log(backendInfo);
        try {
          const result = await page.evaluate(([name, opts]) => window.benchMeasure(name, opts), [configName, options]);
          return { backendInfo, result };
        } catch (e) {
          throw new Error(`${backend} failed during the measurement in Chromium: ${firstLine(e)}`);
        }
      } finally {
        await browser.close();
      }
    }
    throw new Error(`${backend} did not start in Chromium ${failures.join('; ')}`);
  } finally {
    await server.close();
  }
}

/**
 * Opens the bench page, forwarding to `log` its progress lines, the first line of its console
 * errors and warnings (tfjs's, Chromium's GL driver messages), and its uncaught errors.
 */
async function openPage(browser, url, log) {
  const page = await browser.newPage();
  await page.exposeFunction('benchLog', log);
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') log(`page ${msg.type()}: ${msg.text().split('\n')[0]}`);
  });
  page.on('pageerror', (e) => log(`page error: ${firstLine(e)}`));
  await page.goto(url);
  await page.waitForFunction(() => typeof window.benchStart === 'function', undefined, { timeout: 60_000 });
  return page;
}

/** An error's message without Playwright's "page.evaluate: Error: " prefix or the stack. */
const firstLine = (e) => String(e?.message ?? e).split('\n')[0].replace(/^page\.evaluate: (Error: )?/, '');
