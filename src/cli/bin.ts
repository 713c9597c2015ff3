// dist/cli.js, the `difflib` executable (package.json "bin"): the process around runCli.
import { runCli } from './main';

const abort = new AbortController();
// The first Ctrl-C asks the command to stop cleanly (training saves a checkpoint); a second one kills.
process.once('SIGINT', () => {
  process.stderr.write('\ndifflib: stopping after the current step (Ctrl-C again to kill)\n');
  abort.abort(new Error('interrupted (SIGINT)'));
});

// On a terminal, progress rewrites one stderr line; a log line on stdout first clears it
// (the next progress update draws it again below).
const tty = Boolean(process.stderr.isTTY);
let progressLineOpen = false;
const out = {
  stdout(text: string) {
    if (progressLineOpen) process.stderr.write('\r\x1b[2K');
    progressLineOpen = false;
    process.stdout.write(text);
  },
  stderr(text: string) {
    process.stderr.write(text);
    progressLineOpen = tty && !text.endsWith('\n');
  },
};

const code = await runCli(process.argv.slice(2), { out, env: process.env, tty, signal: abort.signal });
process.exitCode = code;
