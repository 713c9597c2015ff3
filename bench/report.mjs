#!/usr/bin/env node
// Prints the Markdown table of saved `npm run bench` results (the JSON files in --in) for
// one configuration, as docs/benchmarks.md shows them.
//
//   node bench/report.mjs --config small [--in bench/results]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatTable } from './table.mjs';

const { values: opts } = parseArgs({ options: { config: { type: 'string', default: 'tiny' }, in: { type: 'string', default: 'bench/results' } } });
const runs = readdirSync(opts.in)
  .filter((f) => f.endsWith(`-${opts.config}.json`) && !f.startsWith('peer-'))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(opts.in, f), 'utf8')))
  .filter((run) => run.result);
if (runs.length === 0) {
  console.error(`bench/report: no results for config "${opts.config}" in ${opts.in}`);
  process.exit(1);
}
console.log(formatTable(opts.config, runs));
for (const run of runs) console.log(`- ${run.backend}/${run.runtime}: ${run.backendInfo}`);
