// The plain-text table `npm run bench` prints (and docs/benchmarks.md copies).

const COLUMNS = [
  ['backend', (r) => `${r.backend}/${r.runtime}`],
  ['forward img/s', (r) => r.result.imagesPerSecond.toFixed(1)],
  ['forward ms (p25–p75)', (r) => spread(r.result.forwardMs)],
  ['train step ms (p25–p75)', (r) => spread(r.result.trainStepMs)],
  ['diffusion overhead', (r) => `${(100 * r.result.overheadShare).toFixed(2)}%`],
  ['DDIM s', (r) => (r.result.ddimSeconds === undefined ? '-' : `${r.result.ddimSeconds.toFixed(1)} (${r.result.ddimSteps})`)],
  ['scheduler step (worst)', (r) => (r.result.schedulerStepShare === undefined ? '-' : `${(100 * r.result.schedulerStepShare.share).toFixed(2)}% (${r.result.schedulerStepShare.worst.replace(/Scheduler$/, '')})`)],
  ['peak MB fwd/train', (r) => `${mb(r.result.peakBytesForward)}/${mb(r.result.peakBytesTrainStep)}`],
  ['reads/sample step', (r) => (r.result.readbacksPerSamplingStep === undefined ? '-' : String(r.result.readbacksPerSamplingStep))],
  ['tensor growth train/sample', (r) => `${r.result.tensorGrowthOverTrainSteps}/${r.result.tensorGrowthOverSamplingSteps ?? '-'}`],
];

/**
 * @param {string} configName
 * @param {Array<{ backend: string, runtime: string, result?: object, skipped?: string }>} runs
 * @returns {string} a Markdown table, then one line per skipped backend.
 */
export function formatTable(configName, runs) {
  const measured = runs.filter((r) => r.result);
  const rows = [COLUMNS.map(([name]) => name), ...measured.map((r) => COLUMNS.map(([, cell]) => cell(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const out = [`config ${configName}, batch ${measured[0]?.result.batch ?? '-'}`, line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  out.push(...rows.slice(1).map(line));
  for (const r of runs.filter((r) => r.skipped)) out.push(`${r.backend}/${r.runtime}: skipped (${r.skipped})`);
  return out.join('\n');
}

const spread = (s) => `${s.median.toFixed(1)} (${s.p25.toFixed(1)}–${s.p75.toFixed(1)})`;
const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
