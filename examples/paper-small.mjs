#!/usr/bin/env node
// Improved DDPM's objective comparison, small: the same U-Net on MNIST digits trained with
// the same budget three ways — (a) L_simple with fixed σ² = β_t, (b) L_hybrid with
// learned_range σ, (c) L_vlb with loss-second-moment timesteps — each then scored by test
// NLL in bits/dim and sampled with the full process and 50 respaced steps.
//
//   node examples/paper-small.mjs                  # the run docs/results.md reports
//   node examples/paper-small.mjs --steps 2 --timesteps 4 --batch 4 --samples 4 --bpd-examples 2
//
// Flags: --steps N  --lr X  --batch N  --timesteps T  --samples N  --bpd-examples N  --out DIR
//        --parallel N (runs at once; default 3, each on cores/N wasm threads, at least 1)
//
// Each run is `node examples/digits.mjs --objective <o> ...` writing DIR/<o>/; its output
// is echoed with an [o] prefix. Writes DIR/results.json and DIR/results.md (the table).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string', default: '1200' },
    lr: { type: 'string', default: '1e-3' },
    batch: { type: 'string', default: '32' },
    timesteps: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '25' },
    'bpd-examples': { type: 'string', default: '64' },
    out: { type: 'string', default: 'out/paper-small' },
    parallel: { type: 'string', default: '3' },
  },
});
const PARALLEL = Number(opts.parallel);
if (!Number.isInteger(PARALLEL) || PARALLEL < 1) throw new Error(`--parallel must be an integer >= 1, got ${opts.parallel}`);
const THREADS = Math.max(1, Math.floor(os.availableParallelism() / PARALLEL));
const OBJECTIVES = ['simple', 'hybrid', 'vlb'];
const digits = path.join(path.dirname(fileURLToPath(import.meta.url)), 'digits.mjs');
mkdirSync(opts.out, { recursive: true });

/** Runs digits.mjs for one objective; resolves to its RESULT json. */
function train(objective) {
  const args = [
    digits, '--objective', objective, '--steps', opts.steps, '--lr', opts.lr, '--batch', opts.batch,
    '--timesteps', opts.timesteps, '--samples', opts.samples, '--bpd-examples', opts['bpd-examples'],
    '--threads', String(THREADS), '--out', path.join(opts.out, objective),
  ];
  console.log(`[${objective}] node ${path.relative(process.cwd(), digits)} ${args.slice(1).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let result = null;
    let pending = '';
    child.stdout.on('data', (chunk) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop();
      for (const line of lines) {
        if (line.startsWith('RESULT ')) result = JSON.parse(line.slice('RESULT '.length));
        else console.log(`[${objective}] ${line}`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 && result ? resolve(result) : reject(new Error(`[${objective}] digits.mjs exited with ${code}${result ? '' : ' and no RESULT line'}`)),
    );
  });
}

const started = Date.now();
const results = {};
const queue = [...OBJECTIVES];
await Promise.all(
  Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
    for (let o = queue.shift(); o; o = queue.shift()) results[o] = await train(o);
  }),
);
const wallMinutes = (Date.now() - started) / 60000;

const fmt = (x, digits = 3) => (x == null ? '–' : x.toFixed(digits));
const rows = OBJECTIVES.map((o) => {
  const r = results[o];
  return (
    `| ${{ simple: '(a) L_simple, fixed σ²=β_t', hybrid: '(b) L_hybrid, learned σ', vlb: '(c) L_vlb, learned σ, loss-second-moment t' }[o]} ` +
    `| ${fmt(r.bpd?.bpd)} ± ${fmt(r.bpd?.standardError)} | ${fmt(r.finalLoss, 4)} ` +
    `| ${fmt(r.nearestTestRms.full)} | ${fmt(r.nearestTestRms.fast)} | ${(r.trainSeconds / 60).toFixed(1)} | ${r.fullSampleSeconds} / ${r.fastSampleSeconds} |`
  );
});
const table = [
  `| objective | test NLL (bits/dim) | final loss | nearest-test RMS, full | nearest-test RMS, 50 steps | train (min) | sampling full / 50 (s) |`,
  `|---|---|---|---|---|---|---|`,
  ...rows,
].join('\n');
writeFileSync(path.join(opts.out, 'results.json'), JSON.stringify({ options: opts, wallMinutes, results }, null, 2) + '\n');
writeFileSync(path.join(opts.out, 'results.md'), table + '\n');
console.log(`\n${table}\n\nall three in ${wallMinutes.toFixed(1)} min wall; wrote ${path.join(opts.out, 'results.json')} and results.md`);
console.log('RESULT ' + JSON.stringify({ wallMinutes, results }));
