// A one-line progress bar on stderr, drawn only on a terminal. Log lines printed through `print` clear
// the bar first and redraw it after, so the two never interleave.
export class ProgressBar {
  private readonly enabled: boolean;
  private readonly start = performance.now();
  private line = '';

  constructor(private readonly label: string, enabled = true, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = enabled && stream.isTTY === true;
  }

  update(done: number, total: number, detail = ''): void {
    if (!this.enabled) return;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30, filled = Math.round(frac * width);
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : NaN;
    this.line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${detail ? ` ${detail}` : ''} eta ${formatDuration(eta)}`;
    this.stream.write(`\r\x1b[K${this.line}`);
  }

  print(text: string): void {
    if (this.enabled && this.line) this.stream.write('\r\x1b[K');
    console.log(text);
    if (this.enabled && this.line) this.stream.write(this.line);
  }

  done(): void {
    if (this.enabled && this.line) this.stream.write('\r\x1b[K');
    this.line = '';
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
