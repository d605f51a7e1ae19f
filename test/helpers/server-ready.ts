import type { Readable } from 'node:stream';

/** One of the server's JSON log lines (pino), as the tests read them. */
export interface LogLine { level: number; msg: string; url?: string; [key: string]: unknown }

/**
 * Resolves with the server's URL once a child process logs that the model and index are loaded;
 * rejects when it exits first. Every JSON line (text lines such as setup's are skipped) also goes
 * to `onLine`, for tests that inspect the log.
 */
export function readyUrl(stdout: Readable, exited: Promise<number | null>, describeExit: (code: number | null) => string, onLine?: (entry: LogLine) => void): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buffered = '';
    stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as LogLine;
        onLine?.(entry);
        if (entry.msg === 'ready: model and index loaded') resolve(entry.url!);
      }
    });
    void exited.then((code) => reject(new Error(describeExit(code))));
  });
}
