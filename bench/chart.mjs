#!/usr/bin/env node
// Draws the benchmark results as an SVG bar chart (log scale): U-Net forward and train
// step time per backend, next to the PyTorch peer on the same machine.
//
//   node bench/chart.mjs --config small [--in bench/results] [--out docs/images/bench-small.svg]
//
// Rows: `npm run bench` runs (their train step is a whole Trainer.step: hybrid loss, EMA),
// and from bench:peer both sides of its like-for-like step (MSE on the output + AdamW).
// Reads every `<backend>-<runtime>-<config>.json` written by `npm run bench` and
// `peer-<config>.json` written by `npm run bench:peer` in --in.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: { config: { type: 'string', default: 'small' }, in: { type: 'string', default: 'bench/results' }, out: { type: 'string' } },
});
const out = opts.out ?? `docs/images/bench-${opts.config}.svg`;
const rows = collectRows(opts.in, opts.config);
if (rows.length === 0) {
  console.error(`bench/chart: no results for config "${opts.config}" in ${opts.in}`);
  process.exit(1);
}
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, drawSvg(`U-Net "${opts.config}": median time per call (log scale; shorter is faster)`, rows));
console.log(`wrote ${out} (${rows.length} rows)`);

/** @returns {Array<{ label: string, forwardMs?: number, trainMs?: number, peer: boolean }>} */
function collectRows(dir, config) {
  const rows = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(`-${config}.json`)).sort()) {
    const data = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    if (file.startsWith('peer-')) {
      if (data.difflib) {
        rows.push({ label: `difflib ${data.difflib.backend.split(' ')[2] ?? ''} (peer's step)`, forwardMs: data.difflib.forward_ms?.median, trainMs: data.difflib.train_step_ms?.median, peer: false });
      }
      for (const torch of data.torch ?? []) {
        rows.push({ label: `PyTorch ${torch.torch}, ${torch.threads} thread${torch.threads > 1 ? 's' : ''}`, forwardMs: torch.forward_ms?.median, trainMs: torch.train_step_ms?.median, peer: true });
      }
    } else if (data.result) {
      rows.push({ label: `difflib ${data.backend}/${data.runtime} (Trainer)`, forwardMs: data.result.forwardMs.median, trainMs: data.result.trainStepMs.median, peer: false });
    }
  }
  return rows;
}

/** Two panels (forward, train step) of horizontal bars on a shared log10 axis. */
function drawSvg(title, rows) {
  const values = rows.flatMap((r) => [r.forwardMs, r.trainMs]).filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const [labelW, barW, rowH, panelGap, top] = [230, 420, 22, 34, 48];
  const x = (ms) => labelW + ((Math.log10(ms) - lo) / (hi - lo)) * barW;
  const panelH = rows.length * rowH;
  const height = top + 2 * panelH + panelGap + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  [['forward', 'forwardMs'], ['train step (forward + backward + AdamW)', 'trainMs']].forEach(([name, key], p) => {
    const y0 = top + p * (panelH + panelGap);
    parts.push(`<text x="10" y="${y0 - 6}" font-weight="bold">${escape(name)}</text>`);
    rows.forEach((r, i) => {
      const y = y0 + i * rowH;
      parts.push(`<text x="10" y="${y + 15}">${escape(r.label)}</text>`);
      const v = r[key];
      if (!(v > 0)) {
        parts.push(`<text x="${labelW + 4}" y="${y + 15}" fill="#888">not measured</text>`);
        return;
      }
      const fill = r.peer ? '#e07b39' : '#3b6ea8';
      parts.push(`<rect x="${labelW}" y="${y + 3}" width="${(x(v) - labelW).toFixed(1)}" height="${rowH - 6}" fill="${fill}"/>`);
      parts.push(`<text x="${(x(v) + 4).toFixed(1)}" y="${y + 15}">${formatMs(v)}</text>`);
    });
  });
  const axisY = top + 2 * panelH + panelGap + 6;
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e).toFixed(1);
    parts.push(`<line x1="${gx}" y1="${top - 2}" x2="${gx}" y2="${axisY}" stroke="#ccc"/>`);
    parts.push(`<text x="${gx}" y="${axisY + 14}" text-anchor="middle" fill="#555">${formatMs(10 ** e)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function formatMs(ms) {
  return ms >= 1000 ? `${+(ms / 1000).toPrecision(3)} s` : `${+ms.toPrecision(3)} ms`;
}

function escape(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

