// The CLI's stdout: what a verb writes (text, bytes, JSON documents) and what happens when the reader goes
// away. A closed stdout (`chorus subscribe … | head -1`) is the normal end of a Unix pipeline, not an
// error: the verb is asked to stop (like Ctrl-C) and the process exits 0 without a word. A closed stderr
// only loses log lines. Also remembers whether a --json document was written, so an error that follows
// it goes to stderr only and stdout stays one parseable document.

let closed = false;
let written = false;
let onClose: (() => void) | undefined;

function isClosedPipe(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || err.code === 'ECONNRESET';
}

/**
 * Installs the error handlers of stdout and stderr (once per process). `stop` runs once when stdout is
 * closed by its reader; it should end the running verb. Other stdout errors are rethrown as they were.
 */
export function watchOutput(stop: () => void): void {
  onClose = stop;
  if (process.stdout.listeners('error').includes(onStdoutError)) return;
  process.stdout.on('error', onStdoutError);
  process.stderr.on('error', onStderrError);
}

function onStdoutError(err: NodeJS.ErrnoException): void {
  if (!isClosedPipe(err)) throw err;
  if (closed) return;
  closed = true;
  onClose?.();
}

function onStderrError(err: NodeJS.ErrnoException): void {
  if (!isClosedPipe(err)) throw err; // a closed stderr: log lines are lost, the verb goes on
}

/** True once the reader of stdout went away: nothing more can be written, the verb should end (exit 0). */
export function stdoutClosed(): boolean {
  return closed;
}

/** True when the verb already wrote something to stdout (a --json document, a stream item). */
export function stdoutWritten(): boolean {
  return written;
}

/** Text gets a final newline; bytes (a decision's content) are written exactly as they are. */
export function writeOut(out: string | Uint8Array): void {
  if (closed) return;
  if (typeof out !== 'string') {
    written = true;
    process.stdout.write(out);
  } else if (out !== '') {
    written = true;
    process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
  }
}

/** JSON with bytes as base64 strings. */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v),
    indent,
  );
}

/** Resets the state between in-process runs (tests). */
export function resetOutput(): void {
  closed = false;
  written = false;
}
