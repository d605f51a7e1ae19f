/** Progress lines for long loops: count, rate and ETA, at most one line per interval (plus the last). */
export class ProgressReporter {
  private readonly started = Date.now();
  private lastLine = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly log: (line: string) => void,
    private readonly intervalMs = 5000,
  ) {}

  update(done: number): void {
    const now = Date.now();
    if (done < this.total && now - this.lastLine < this.intervalMs) return;
    this.lastLine = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const pct = this.total > 0 ? ((100 * done) / this.total).toFixed(0) : '100';
    this.log(`${this.label}: ${done}/${this.total} (${pct}%), ${rate.toFixed(2)} images/s, ${done < this.total ? `ETA ${formatDuration(eta)}` : `took ${formatDuration(seconds)}`}`);
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
