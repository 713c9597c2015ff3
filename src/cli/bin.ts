// dist/cli.js, the `difflib` executable (package.json "bin"): the process around runCli.
import { runCli } from './main';

const abort = new AbortController();
// The first Ctrl-C asks the command to stop cleanly (training saves a checkpoint); a second one kills.
process.once('SIGINT', () => {
  process.stderr.write('\ndifflib: stopping after the current step (Ctrl-C again to kill)\n');
  abort.abort(new Error('interrupted (SIGINT)'));
});

const code = await runCli(process.argv.slice(2), {
  out: { stdout: (text) => void process.stdout.write(text), stderr: (text) => void process.stderr.write(text) },
  env: process.env,
  tty: Boolean(process.stderr.isTTY),
  signal: abort.signal,
});
process.exitCode = code;
