/**
 * Small formatting helpers shared by the sidebar and the panels.
 */

/** "2 h 03 min", "4 min 05 s", "12.3 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '';
  }
  if (seconds < 0) {
    seconds = 0;
  }
  if (seconds < 60) {
    return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  }
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) {
    return `${h} h ${String(m).padStart(2, '0')} min`;
  }
  return `${m} min ${String(rest).padStart(2, '0')} s`;
}

/** How long a run has taken: its duration, or the time since it started. */
export function runDuration(
  row: { started_utc: number | null; ended_utc: number | null; duration_s: number | null },
  now: number = Date.now() / 1000
): number | null {
  if (row.duration_s !== null && row.duration_s !== undefined) {
    return row.duration_s;
  }
  if (row.started_utc !== null && row.started_utc !== undefined) {
    return (row.ended_utc ?? now) - row.started_utc;
  }
  return null;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time: "14:03:07" today, "Mar 4 14:03" this year, "2023-03-04 14:03" before. */
export function formatTime(epoch: number | null | undefined): string {
  if (epoch === null || epoch === undefined) {
    return '';
  }
  const d = new Date(epoch * 1000);
  const now = new Date();
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) {
    return `${hm}:${pad(d.getSeconds())}`;
  }
  if (d.getFullYear() === now.getFullYear()) {
    return `${d.toLocaleString(undefined, { month: 'short' })} ${d.getDate()} ${hm}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/** Full local date and time, for tooltips and headers. */
export function formatDateTime(epoch: number | null | undefined): string {
  if (epoch === null || epoch === undefined) {
    return '';
  }
  const d = new Date(epoch * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** A metric value in a few characters. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    if (!isFinite(value)) {
      return String(value);
    }
    if (Number.isInteger(value) && Math.abs(value) < 1e9) {
      return String(value);
    }
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) {
      return value.toExponential(3);
    }
    return String(Number(value.toPrecision(5)));
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** "1.2 MB". */
export function formatBytes(size: number): string {
  if (size < 1024) {
    return `${size} B`;
  }
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A glyph per status (the badge's colour comes from the stylesheet). */
export function statusGlyph(status: string): string {
  switch (status) {
    case 'Completed':
      return '\u2714'; // heavy check mark
    case 'Failed':
      return '\u2716'; // heavy multiplication x
    case 'Canceled':
      return '\u2298'; // circled division slash
    case 'CancelRequested':
      return '\u2298';
    case 'Running':
      return '\u25B6'; // play
    case 'Finalizing':
      return '\u25A3';
    default:
      return '\u25CB'; // white circle: waiting
  }
}

/** The run's display name, or its id. */
export function runName(row: { display_name: string | null; id: string }): string {
  return row.display_name || row.id;
}
