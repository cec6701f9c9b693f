/**
 * One run, read incrementally: its details, the new part of its log (by byte
 * offset), the new metric points (by cursor) and its files. Polling stops once
 * the run has ended and everything it wrote has been read.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  AmlApiError,
  ILogChunk,
  IMetricPoints,
  IOtherMetric,
  IRunDetails,
  IRunFile,
  IScalarSeries,
  getFiles,
  getLog,
  getMetricRange,
  getMetrics,
  getRun
} from './api';
import { IMessage, INTERVAL_MS, MAX_INTERVAL_MS } from './model';

/** The first log read: the last this-many bytes (from a line start). */
export const LOG_TAIL_BYTES = 256 * 1024;
/** The most log text kept in the page; older lines are dropped. */
export const MAX_LOG_CHARS = 2 * 1024 * 1024;
/** Log requests per tick when the run writes faster than one chunk a second. */
const LOG_CHUNKS_PER_TICK = 4;

/** One scalar metric's points: x is the step (or the point's index), y the value. */
export interface IScalarData {
  xs: number[];
  /** Null where the value was not finite (NaN, Infinity): a gap in the chart. */
  ys: (number | null)[];
  /** The last value as logged ("NaN" and the like stay as the API wrote them). */
  last: number | string | null;
  /** Points logged (more than `xs` holds when the server downsampled the first read). */
  count: number;
  /** The server left points out: a zoomed chart asks for its window in full. */
  downsampled: boolean;
}

/** A series of the API as chart columns (non-finite values are gaps). */
export function scalarColumns(series: IScalarSeries, firstIndex = 0): {
  xs: number[];
  ys: (number | null)[];
} {
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  const n = series.values.length;
  for (let i = 0; i < n; i++) {
    const step = series.steps[i];
    xs.push(step === null || step === undefined ? firstIndex + i : step);
    const value = series.values[i];
    ys.push(typeof value === 'number' ? value : null);
  }
  return { xs, ys };
}

/** A metric that is not a number series: rows, tables, lists, images, text. */
export interface IOtherData {
  name: string;
  kind: string;
  /** Every point logged under the name, oldest first (rows add up to a table). */
  points: IOtherMetric[];
}

/** What a zoomed chart of a downsampled metric calls: that window in full, from the server. */
export function rangeLoader(
  runId: string,
  metric: string
): (min: number, max: number) => Promise<{ xs: number[]; ys: (number | null)[] } | null> {
  return async (min, max) => {
    const series = await getMetricRange(runId, metric, min, max);
    return series ? scalarColumns(series) : null;
  };
}

/** Adds metric points (one `GET metrics` answer) to series kept by name. */
export class MetricStore {
  /** Scalars by name, in first-seen order. */
  readonly scalars = new Map<string, IScalarData>();
  /** Other metrics by name. */
  readonly others = new Map<string, IOtherData>();
  cursor: string | null = null;
  /** Bumped whenever points were added. */
  version = 0;

  /** Adds the points; true if there were any. */
  add(points: IMetricPoints): boolean {
    let added = false;
    for (const [name, series] of Object.entries(points.scalars)) {
      let data = this.scalars.get(name);
      if (!data) {
        data = { xs: [], ys: [], last: null, count: 0, downsampled: false };
        this.scalars.set(name, data);
      }
      const n = series.values.length;
      // A point without a step is at its index in the whole series (not in `xs`).
      const { xs, ys } = scalarColumns(series, data.count);
      for (let i = 0; i < n; i++) {
        data.xs.push(xs[i]);
        data.ys.push(ys[i]);
      }
      if (n) {
        data.last = series.values[n - 1];
      }
      data.count += series.count ?? n;
      data.downsampled = data.downsampled || !!series.downsampled;
      added = added || n > 0;
    }
    for (const point of points.others) {
      let data = this.others.get(point.name);
      if (!data) {
        data = { name: point.name, kind: point.kind, points: [] };
        this.others.set(point.name, data);
      }
      data.kind = point.kind;
      data.points.push(point);
      // Only rows add up; of anything else the last value is what counts.
      if (point.kind !== 'row' && data.points.length > 1) {
        data.points.splice(0, data.points.length - 1);
      }
      added = true;
    }
    this.cursor = points.cursor;
    if (added) {
      this.version++;
    }
    return added;
  }
}

export interface ILogState {
  text: string;
  /** Byte offset the shown text starts at (0: the log's beginning). */
  start: number;
  /** Next byte offset to read. */
  offset: number;
  size: number;
  /** Lines were dropped from the top to keep the page light. */
  trimmed: boolean;
  /** Bumped whenever text was added. */
  version: number;
}

export class RunModel implements IDisposable {
  constructor(
    readonly runId: string,
    options: { standby: () => boolean }
  ) {
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: INTERVAL_MS, backoff: true, max: MAX_INTERVAL_MS },
      name: `aml-jupyter:run:${runId}`,
      standby: options.standby
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get details(): IRunDetails | null {
    return this._details;
  }

  /** An action's error, else the last read's error, else null. */
  get message(): IMessage | null {
    return this._actionMessage ?? this._message;
  }

  get log(): Readonly<ILogState> {
    return this._log;
  }

  get metrics(): MetricStore {
    return this._metrics;
  }

  get files(): readonly IRunFile[] {
    return this._files;
  }

  /** True when the workspace has no such run (the API said 404 "no-run"). */
  get notFound(): boolean {
    return this._notFound;
  }

  /** True once the run has ended and all of it has been read (no more polling). */
  get finished(): boolean {
    return this._finished;
  }

  start(): void {
    void this._poll.start();
  }

  /** Reads now (after an action, or when the panel is shown again). */
  refresh(): void {
    if (!this._finished) {
      void this._poll.refresh();
    }
  }

  /** Replaces the tags shown (after a PATCH answered). */
  setTags(tags: Record<string, string | null>): void {
    if (this._details) {
      this._details = { ...this._details, tags };
      this._changed.emit();
    }
  }

  /** Shows (or with null, clears) an error from an action (cancel, tags, TensorBoard). */
  setMessage(message: IMessage | null): void {
    this._actionMessage = message;
    this._changed.emit();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _readLog(): Promise<ILogChunk | null> {
    let last: ILogChunk | null = null;
    for (let i = 0; i < LOG_CHUNKS_PER_TICK; i++) {
      const chunk = await getLog(
        this.runId,
        this._logStarted ? { offset: this._log.offset } : { tail: LOG_TAIL_BYTES }
      );
      if (this._isDisposed) {
        return null;
      }
      if (!this._logStarted) {
        this._logStarted = true;
        this._log.start = chunk.start;
      }
      last = chunk;
      this._appendLog(chunk);
      if (chunk.offset >= chunk.size || chunk.text === '') {
        break;
      }
    }
    return last;
  }

  private _appendLog(chunk: ILogChunk): void {
    const log = this._log;
    log.offset = chunk.offset;
    log.size = chunk.size;
    if (!chunk.text) {
      return;
    }
    let text = log.text + chunk.text;
    if (text.length > MAX_LOG_CHARS) {
      const cut = text.indexOf('\n', text.length - MAX_LOG_CHARS);
      text = text.slice(cut >= 0 ? cut + 1 : text.length - MAX_LOG_CHARS);
      log.trimmed = true;
    }
    log.text = text;
    log.version++;
  }

  private async _tick(): Promise<void> {
    if (this._isDisposed || this._finished) {
      return;
    }
    try {
      const [details, log, points] = await Promise.all([
        getRun(this.runId),
        this._readLog(),
        getMetrics(this.runId, this._metrics.cursor)
      ]);
      if (this._isDisposed) {
        return;
      }
      this._details = details;
      this._metrics.add(points);
      const ended = details.terminal && (log?.terminal ?? false) && points.terminal;
      if (ended || this._ticks % 3 === 0) {
        this._changed.emit(); // the charts need not wait for the file list
        this._files = (await getFiles(this.runId)).files;
        if (this._isDisposed) {
          return;
        }
      }
      this._ticks++;
      this._message = null;
      if (ended) {
        this._finished = true;
        this._changed.emit();
        // Everything was read: no more requests for this run.
        this._poll.dispose();
        return;
      }
      this._changed.emit();
    } catch (error) {
      if (this._isDisposed) {
        return;
      }
      if (error instanceof AmlApiError) {
        this._message = {
          kind:
            error.kind === 'no-server-extension' || error.kind === 'no-workspace'
              ? error.kind
              : 'error',
          text: error.message,
          fix: error.fix
        };
        if (error.reason === 'no-run') {
          // The run is gone (another workspace, or deleted): stop asking.
          this._finished = true;
          this._notFound = true;
          this._changed.emit();
          this._poll.dispose();
          return;
        }
      } else {
        this._message = { kind: 'error', text: String(error), fix: null };
      }
      this._changed.emit();
      throw error;
    }
  }

  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
  private _notFound = false;
  private _poll: Poll;
  private _details: IRunDetails | null = null;
  private _message: IMessage | null = null;
  private _log: ILogState = {
    text: '',
    start: 0,
    offset: 0,
    size: 0,
    trimmed: false,
    version: 0
  };
  private _logStarted = false;
  private _metrics = new MetricStore();
  private _files: IRunFile[] = [];
  private _finished = false;
  private _ticks = 0;
  private _actionMessage: IMessage | null = null;
}
