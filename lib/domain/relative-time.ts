/**
 * Durations as ops read them: `6 ms`, `2.1 s`, `4 min`, `3 h`, `2 d`. One or two significant
 * figures are enough to see where the time went; the exact instants are shown beside them.
 */
export function formatDurationMs(ms: number): string {
  const abs = Math.abs(ms);
  const short = (v: number) => (v < 10 ? String(Math.round(v * 10) / 10) : String(Math.round(v)));
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < 60_000) return `${short(abs / 1000)} s`;
  if (abs < 3_600_000) return `${short(abs / 60_000)} min`;
  if (abs < 86_400_000) return `${short(abs / 3_600_000)} h`;
  return `${short(abs / 86_400_000)} d`;
}

/** A time relative to a start (an order's creation, on its journey): `+6 ms`, `+2.1 s`, `+3 h`. */
export function formatRelativeMs(ms: number): string {
  return `${ms < 0 ? '−' : '+'}${formatDurationMs(ms)}`;
}
