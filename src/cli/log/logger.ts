// improved-diffusion's logger (copied there from OpenAI baselines), as its scripts use it:
// a log directory from OPENAI_LOGDIR, messages to stdout and log.txt, key-value tables of
// averaged diagnostics to stdout and log.txt and rows to progress.csv.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatG, reprFloat } from './py-format';

/** Where the CLI writes its text (process.stdout / stderr, or a test's buffers). */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * The log directory, as logger.configure() picks it: `--log_dir`, else `$OPENAI_LOGDIR`,
 * else `<tmpdir>/openai-YYYY-MM-DD-HH-MM-SS-ffffff`; `~` expanded.
 */
export function resolveLogDir(flag: string, env: Readonly<Record<string, string | undefined>>, now = new Date()): string {
  let dir = flag !== '' ? flag : env['OPENAI_LOGDIR'];
  if (dir === undefined || dir === '') {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    const stamp = `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}-${p(now.getHours())}-${p(now.getMinutes())}-${p(now.getSeconds())}-${p(now.getMilliseconds() * 1000, 6)}`;
    dir = path.join(os.tmpdir(), `openai-${stamp}`);
  }
  return dir.startsWith('~') ? path.join(os.homedir(), dir.slice(1)) : dir;
}

type Format = 'stdout' | 'log' | 'csv';

/**
 * The logger of one command. Output formats come from `$OPENAI_LOG_FORMAT`
 * (default `stdout,log,csv`), as in improved-diffusion.
 */
export class Logger {
  private readonly formats: ReadonlySet<Format>;
  private readonly values = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private csvKeys: string[] = [];
  private readonly csvRows: Record<string, number>[] = [];

  /**
   * Creates the directory and says where it logs (`Logging to DIR`).
   * @param dir - the log directory (see {@link resolveLogDir}).
   * @param out - where stdout goes.
   * @param env - for `OPENAI_LOG_FORMAT`.
   */
  constructor(
    readonly dir: string,
    private readonly out: CliOutput,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    mkdirSync(dir, { recursive: true });
    this.formats = new Set((env['OPENAI_LOG_FORMAT'] ?? 'stdout,log,csv').split(',').filter(Boolean) as Format[]);
    if (this.formats.has('log')) writeFileSync(path.join(dir, 'log.txt'), '');
    if (this.formats.has('csv')) writeFileSync(path.join(dir, 'progress.csv'), '');
    this.log(`Logging to ${dir}`);
  }

  /** logger.log: the arguments joined by spaces, one line. */
  log(...args: unknown[]): void {
    this.write(`${args.map(String).join(' ')}\n`);
  }

  /** logger.logkv: the value of `key` in the next table (the last one given wins). */
  logkv(key: string, value: number): void {
    this.values.set(key, value);
    this.counts.delete(key);
  }

  /** logger.logkv_mean: the running mean of the values given for `key` since the last table. */
  logkvMean(key: string, value: number): void {
    const n = this.counts.get(key) ?? 0;
    const old = this.values.get(key) ?? 0;
    this.values.set(key, (old * n) / (n + 1) + value / (n + 1));
    this.counts.set(key, n + 1);
  }

  /** logger.dumpkvs: writes the table (stdout, log.txt) and a row (progress.csv), then clears. */
  dumpkvs(): void {
    if (this.values.size === 0) return;
    const kvs = Object.fromEntries(this.values);
    if (this.formats.has('stdout') || this.formats.has('log')) this.write(table(kvs));
    if (this.formats.has('csv')) this.writeCsv(kvs);
    this.values.clear();
    this.counts.clear();
  }

  private write(text: string): void {
    if (this.formats.has('stdout')) this.out.stdout(text);
    if (this.formats.has('log')) appendFileSync(path.join(this.dir, 'log.txt'), text);
  }

  /** CSVOutputFormat: a header of every key seen so far (rewritten when a key appears), one row per table. */
  private writeCsv(kvs: Record<string, number>): void {
    const extra = Object.keys(kvs).filter((k) => !this.csvKeys.includes(k)).sort();
    this.csvKeys.push(...extra);
    this.csvRows.push(kvs);
    const show = (k: string, v: number | undefined) => (v === undefined ? '' : INTEGER_KEYS.has(k) ? String(v) : reprFloat(v));
    const lines = [this.csvKeys.join(','), ...this.csvRows.map((row) => this.csvKeys.map((k) => show(k, row[k])).join(','))];
    writeFileSync(path.join(this.dir, 'progress.csv'), `${lines.join('\n')}\n`);
  }
}

/** Keys improved-diffusion logs as Python ints (logkv of an int), printed without `.0`. */
const INTEGER_KEYS = new Set(['step', 'samples']);

/** HumanOutputFormat.writekvs: a boxed two-column table, keys sorted, values as '%-8.3g'. */
function table(kvs: Record<string, number>): string {
  const truncate = (s: string) => (s.length > 30 ? `${s.slice(0, 27)}...` : s);
  const rows = Object.entries(kvs)
    .map(([k, v]) => [truncate(k), truncate(formatG(v, 3).padEnd(8))] as const)
    .sort(([a], [b]) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const keyWidth = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => v.length));
  const dashes = '-'.repeat(keyWidth + valueWidth + 7);
  return [dashes, ...rows.map(([k, v]) => `| ${k.padEnd(keyWidth)} | ${v.padEnd(valueWidth)} |`), dashes].join('\n') + '\n';
}
