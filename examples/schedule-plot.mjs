#!/usr/bin/env node
// Plots ᾱ_t (the fraction of signal variance left at step t) for the linear and cosine
// schedules at T = 1000, as in Figure 5 of Improved DDPM (Nichol & Dhariwal 2021), and
// writes it as a plain SVG file (no dependencies; no tensors: schedules are float64 numbers).
//
//   npm run example:schedule-plot                      # writes docs/images/schedules-alpha-bar.svg
//   node examples/schedule-plot.mjs --out /tmp/ab.svg --schedules linear,cosine,scaled_linear,sigmoid
//
// Flags: --timesteps T (1000)  --schedules a,b,... (linear,cosine)  --out FILE
// The last stdout line is `RESULT {json}`: the plot box and each curve's first and last ᾱ.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BETA_SCHEDULE_NAMES, NoiseSchedule } from 'difflib';

const { values: opts } = parseArgs({
  options: {
    timesteps: { type: 'string', default: '1000' },
    schedules: { type: 'string', default: 'linear,cosine' },
    out: { type: 'string', default: 'docs/images/schedules-alpha-bar.svg' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: node examples/schedule-plot.mjs [--timesteps T] [--schedules linear,cosine,...] [--out FILE]');
  process.exit(0);
}
const T = Number(opts.timesteps);
// The linear schedule's betas are scaled by 1000/T and exceed 1 below T = 20.
if (!Number.isInteger(T) || T < 20) throw new Error(`--timesteps must be an integer >= 20, got ${opts.timesteps}`);
const names = opts.schedules.split(',').map((s) => s.trim());
for (const name of names) {
  if (!BETA_SCHEDULE_NAMES.includes(name)) throw new Error(`--schedules: unknown schedule "${name}" (known: ${BETA_SCHEDULE_NAMES.join(', ')})`);
}

// ---------------------------------------------------------------- the numbers
const curves = names.map((name) => {
  const alphaBar = NoiseSchedule.named(name, T).alphasCumprod(); // Float64Array, ᾱ_0 … ᾱ_{T−1}
  console.log(
    `${name.padEnd(13)} ᾱ_0 = ${alphaBar[0].toFixed(6)}, ᾱ_${T / 2} = ${alphaBar[T / 2 | 0].toFixed(4)}, ᾱ_${T - 1} = ${alphaBar[T - 1].toExponential(3)}`,
  );
  return { name, alphaBar };
});

// ---------------------------------------------------------------- the SVG
const WIDTH = 640;
const HEIGHT = 420;
const box = { left: 64, top: 24, width: 540, height: 330 }; // the plotting area, in SVG units
const COLORS = { linear: '#1f77b4', cosine: '#d62728', scaled_linear: '#2ca02c', sigmoid: '#9467bd' };
const fmt = (v) => String(Math.round(v * 1000) / 1000);
const toX = (u) => box.left + u * box.width; // u = t/T in [0, 1)
const toY = (a) => box.top + (1 - a) * box.height; // a = ᾱ in [0, 1]

const parts = [];
parts.push(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
    `font-family="Helvetica, Arial, sans-serif" font-size="13">`,
  `<title>ᾱ_t of the ${names.join(' and ')} schedules, T = ${T}</title>`,
  `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
);
// Grid and ticks every 0.2 on both axes.
for (let k = 0; k <= 5; k++) {
  const v = k / 5;
  parts.push(
    `<line x1="${fmt(toX(v))}" y1="${box.top}" x2="${fmt(toX(v))}" y2="${box.top + box.height}" stroke="#e5e5e5"/>`,
    `<line x1="${box.left}" y1="${fmt(toY(v))}" x2="${box.left + box.width}" y2="${fmt(toY(v))}" stroke="#e5e5e5"/>`,
    `<text x="${fmt(toX(v))}" y="${box.top + box.height + 18}" text-anchor="middle">${v.toFixed(1)}</text>`,
    `<text x="${box.left - 8}" y="${fmt(toY(v) + 4)}" text-anchor="end">${v.toFixed(1)}</text>`,
  );
}
parts.push(
  `<rect x="${box.left}" y="${box.top}" width="${box.width}" height="${box.height}" fill="none" stroke="#444"/>`,
  `<text x="${box.left + box.width / 2}" y="${HEIGHT - 24}" text-anchor="middle">diffusion step t/T (T = ${T})</text>`,
  `<text x="18" y="${box.top + box.height / 2}" text-anchor="middle" transform="rotate(-90 18 ${box.top + box.height / 2})">ᾱ<tspan baseline-shift="sub" font-size="10">t</tspan></text>`,
);
// One polyline per schedule through every step: x = t/T, y = ᾱ_t.
for (const { name, alphaBar } of curves) {
  const points = Array.from(alphaBar, (a, t) => `${fmt(toX(t / T))},${fmt(toY(a))}`).join(' ');
  parts.push(
    `<polyline data-schedule="${name}" fill="none" stroke="${COLORS[name]}" stroke-width="2" points="${points}"/>`,
  );
}
// Legend, top right.
curves.forEach(({ name }, i) => {
  const y = box.top + 20 + 20 * i;
  const x = box.left + box.width - 130;
  parts.push(
    `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${COLORS[name]}" stroke-width="2"/>`,
    `<text x="${x + 36}" y="${y + 4}">${name}</text>`,
  );
});
parts.push('</svg>');

mkdirSync(path.dirname(opts.out), { recursive: true });
writeFileSync(opts.out, parts.join('\n') + '\n');
console.log(`wrote ${opts.out}`);

const result = {
  timesteps: T,
  svg: opts.out,
  // x = box.left + (t/T)·box.width, y = box.top + (1 − ᾱ_t)·box.height; coordinates rounded to 1e-3.
  box,
  curves: curves.map(({ name, alphaBar }) => ({
    name,
    first: alphaBar[0],
    middle: alphaBar[Math.floor(T / 2)],
    last: alphaBar[T - 1],
    // Where half the signal variance is gone: the first t/T with ᾱ_t < 0.5.
    halfLifeFraction: alphaBar.findIndex((a) => a < 0.5) / T,
  })),
};
console.log(`RESULT ${JSON.stringify(result)}`);
