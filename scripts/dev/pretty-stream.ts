import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};
const COLORS: Record<number, string> = {
  10: '90',
  20: '90',
  30: '36',
  40: '33',
  50: '31',
  60: '35',
};
const HIDDEN = new Set(['name', 'hostname', 'pid', 'level', 'msg', 'time', 'v', 'err']);

/**
 * Readable one-line logs for the development mode (production keeps bunyan's JSON lines): time,
 * level, component, message, then the context fields as key=value.
 */
export function prettyStream(out: NodeJS.WritableStream = process.stdout): Writable {
  const tty = (out as NodeJS.WriteStream).isTTY === true;
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        let r: Record<string, unknown>;
        try {
          r = JSON.parse(line) as Record<string, unknown>;
        } catch {
          // Not one of ours: pass it through as it is.
          out.write(`${line}\n`);
          continue;
        }
        const level = Number(r.level);
        const time = String(r.time ?? '').slice(11, 23);
        const lvl = LEVELS[level] ?? String(level);
        const fields = Object.entries(r)
          .filter(([k]) => !HIDDEN.has(k))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        const err = r.err as { stack?: string; message?: string } | undefined;
        const head = tty ? `\x1b[${COLORS[level] ?? '0'}m${lvl}\x1b[0m` : lvl;
        out.write(
          `${time} ${head} ${String(r.name)}: ${String(r.msg)}${fields ? `  ${fields}` : ''}\n`,
        );
        if (err) out.write(`    ${err.stack ?? err.message ?? ''}\n`);
      }
      done();
    },
  });
}
