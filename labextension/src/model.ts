/**
 * What the sidebar shows, kept fresh by one `Poll`: the workspace, its
 * experiments and the pages of runs that are in view.
 *
 * Only the pages overlapping the visible rows are fetched (offset/limit), and
 * they are fetched again on every tick, so new runs and status changes show
 * within the poll's interval whatever the workspace's size.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  ACTIVE_STATUSES,
  AmlApiError,
  IDataset,
  IExperiment,
  IModel,
  IRunRow,
  IService,
  IWorkspaceInfo,
  getDatasets,
  getExperiments,
  getModels,
  getRuns,
  getServices,
  getWorkspace
} from './api';

/** Rows per fetched page. */
export const PAGE_SIZE = 100;
/** How often the sidebar refreshes while shown (ms): a new run shows within a second. */
export const INTERVAL_MS = 600;
/** Where the metric picked for the rows is remembered (localStorage). */
export const METRIC_KEY = 'aml-jupyter:sidebar-metric';
/** The slowest it polls after errors (ms). */
export const MAX_INTERVAL_MS = 15000;

/** A message for the user instead of (or above) the list. */
export interface IMessage {
  /** Error kind, or 'empty' / 'no-match' hints. */
  kind: 'no-server-extension' | 'no-workspace' | 'error' | 'empty' | 'no-match';
  text: string;
  fix: string | null;
  /** Lines of code to show under the text (a hint's commands). */
  code?: string[];
}

/** Status filter choices: '' is any status, 'active' every status not terminal. */
export type StatusFilter = string;

export interface IFilters {
  experiment: string | null;
  status: StatusFilter;
  q: string;
}

export class RunListModel implements IDisposable {
  constructor(options: { standby: () => boolean }) {
    try {
      this._metric = window.localStorage.getItem(METRIC_KEY) ?? '';
    } catch {
      this._metric = '';
    }
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: INTERVAL_MS, backoff: true, max: MAX_INTERVAL_MS },
      name: 'aml-jupyter:sidebar',
      standby: options.standby
    });
  }

  /** Emitted whenever anything shown changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get workspace(): IWorkspaceInfo['workspace'] {
    return this._workspace;
  }

  get message(): IMessage | null {
    return this._message;
  }

  get experiments(): readonly IExperiment[] {
    return this._experiments;
  }

  /** The latest version of each registered model. */
  get models(): readonly IModel[] {
    return this._models;
  }

  /** The latest version of each registered dataset. */
  get datasets(): readonly IDataset[] {
    return this._datasets;
  }

  /** The workspace's local scoring services, with their state and request statistics. */
  get services(): readonly IService[] {
    return this._services;
  }

  /** Drops a service from the list at once (it was just deleted; the next poll agrees). */
  forgetService(name: string): void {
    this._services = this._services.filter(s => s.name !== name);
    this._changed.emit();
  }

  get filters(): Readonly<IFilters> {
    return this._filters;
  }

  /** Runs matching the filters (the list's length). */
  get total(): number {
    return this._total;
  }

  /** True until the first page of the current filters has arrived. */
  get loading(): boolean {
    return this._loaded !== this._generation && this._message === null;
  }

  /** Changes whenever the filters change (the list scrolls back to the top). */
  get generation(): number {
    return this._generation;
  }

  /** Ids of the runs ticked for comparison. */
  get selected(): ReadonlySet<string> {
    return this._selected;
  }

  /**
   * The metric shown in the rows: the one picked last (remembered across sessions), else
   * the one most of the listed runs have (ties: by name).
   */
  get metric(): string {
    if (this._metric) {
      return this._metric;
    }
    const counts = new Map<string, number>();
    for (const page of this._pages.values()) {
      for (const run of page) {
        for (const name of Object.keys(run.metrics)) {
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }
    }
    let best = '';
    let most = 0;
    for (const [name, n] of counts) {
      if (n > most || (n === most && name.localeCompare(best) < 0)) {
        best = name;
        most = n;
      }
    }
    return best;
  }

  set metric(name: string) {
    this._metric = name;
    try {
      window.localStorage.setItem(METRIC_KEY, name);
    } catch {
      // Storage may be off (private windows): the pick then lasts as long as the page.
    }
    this._changed.emit();
  }

  /** Names of the metrics of the rows fetched so far, sorted. */
  get metricNames(): string[] {
    const names = new Set<string>(this._seenMetrics);
    if (this._metric) {
      names.add(this._metric);
    }
    return [...names].sort((a, b) => a.localeCompare(b));
  }

  /** Starts polling. */
  start(): void {
    void this._poll.start();
  }

  /** Polls now (the panel was shown, a filter changed). */
  refresh(): void {
    void this._poll.refresh();
  }

  /** The row at `index` of the list, if its page has been fetched. */
  row(index: number): IRunRow | undefined {
    const page = this._pages.get(Math.floor(index / PAGE_SIZE));
    return page ? page[index % PAGE_SIZE] : undefined;
  }

  /** The list shows rows `first` to `last` (inclusive): fetch their pages now. */
  setRange(first: number, last: number): void {
    const a = Math.max(0, Math.floor(first / PAGE_SIZE));
    const b = Math.max(a, Math.floor(Math.max(first, last) / PAGE_SIZE));
    if (a === this._range[0] && b === this._range[1]) {
      return;
    }
    this._range = [a, b];
    // Keep only the pages near the view: memory stays flat however far one scrolls.
    for (const index of [...this._pages.keys()]) {
      if (index < a - 1 || index > b + 1) {
        this._pages.delete(index);
      }
    }
    const missing = this._pagesInView().filter(i => !this._pages.has(i));
    if (missing.length) {
      void Promise.all(missing.map(i => this._fetchPage(i, this._generation)))
        .then(() => this._changed.emit())
        .catch(() => undefined); // the poll reports errors
    }
  }

  setFilters(change: Partial<IFilters>): void {
    this._filters = { ...this._filters, ...change };
    this._generation++;
    this._pages.clear();
    this._inflight.clear();
    this._range = [0, 0];
    this._total = 0;
    this._changed.emit();
    this.refresh();
  }

  toggleSelected(id: string, on?: boolean): void {
    const select = on ?? !this._selected.has(id);
    if (select) {
      this._selected.add(id);
    } else {
      this._selected.delete(id);
    }
    this._changed.emit();
  }

  clearSelection(): void {
    this._selected.clear();
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

  private _pagesInView(): number[] {
    const pages: number[] = [];
    for (let i = this._range[0]; i <= this._range[1]; i++) {
      pages.push(i);
    }
    return pages;
  }

  private _statusQuery(): string[] {
    const status = this._filters.status;
    if (!status) {
      return [];
    }
    return status === 'active' ? [...ACTIVE_STATUSES] : [status];
  }

  private async _fetchPage(index: number, generation: number): Promise<void> {
    const key = `${generation}:${index}`;
    const running = this._inflight.get(key);
    if (running) {
      return running;
    }
    const promise = getRuns({
      experiment: this._filters.experiment,
      status: this._statusQuery(),
      q: this._filters.q,
      sort: 'created',
      order: 'desc',
      offset: index * PAGE_SIZE,
      limit: PAGE_SIZE
    })
      .then(page => {
        if (generation !== this._generation || this._isDisposed) {
          return; // the filters changed meanwhile
        }
        this._pages.set(index, page.runs);
        this._total = page.total;
        this._loaded = generation;
        for (const run of page.runs) {
          for (const name of Object.keys(run.metrics)) {
            this._seenMetrics.add(name);
          }
        }
      })
      .finally(() => this._inflight.delete(key));
    this._inflight.set(key, promise);
    return promise;
  }

  private async _tick(): Promise<void> {
    if (this._isDisposed) {
      return;
    }
    try {
      const info = await getWorkspace();
      this._workspace = info.workspace;
      if (!info.workspace) {
        this._setMessage({
          kind: 'no-workspace',
          text: info.message ?? 'There is no AML workspace here yet.',
          fix: info.fix
        });
        this._experiments = [];
        this._pages.clear();
        this._total = 0;
        this._changed.emit();
        // Slow down (backoff) until a workspace appears.
        throw new AmlApiError('no-workspace', info.message ?? '', info.fix);
      }
      const generation = this._generation;
      const [experiments, models, services, datasets] = await Promise.all([
        getExperiments(),
        getModels(),
        getServices(),
        getDatasets(),
        ...this._pagesInView().map(i => this._fetchPage(i, generation))
      ]);
      this._experiments = experiments.experiments;
      this._models = models.models;
      this._services = services.services;
      this._datasets = datasets.datasets;
      this._setMessage(this._hint());
      this._changed.emit();
    } catch (error) {
      if (error instanceof AmlApiError) {
        if (error.kind !== 'no-workspace' || !this._message) {
          this._setMessage({
            kind:
              error.kind === 'no-server-extension' || error.kind === 'no-workspace'
                ? error.kind
                : 'error',
            text: error.message,
            fix: error.fix
          });
        }
      } else {
        this._setMessage({ kind: 'error', text: String(error), fix: null });
      }
      this._changed.emit();
      throw error;
    }
  }

  /** The hint for an empty list, if the list is empty. */
  private _hint(): IMessage | null {
    if (this._total > 0 || this._loaded !== this._generation) {
      return null;
    }
    const filtered =
      this._filters.experiment !== null || this._filters.status !== '' || this._filters.q !== '';
    if (filtered && this._experiments.some(e => e.run_count > 0)) {
      return { kind: 'no-match', text: 'No runs match these filters.', fix: null };
    }
    return {
      kind: 'empty',
      text: 'No runs yet. Submit one from a notebook cell:',
      code: ['%load_ext aml_jupyter', '%aml_submit script.py -e my-experiment'],
      fix: null
    };
  }

  private _setMessage(message: IMessage | null): void {
    this._message = message;
  }

  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
  private _poll: Poll;
  private _workspace: IWorkspaceInfo['workspace'] = null;
  private _message: IMessage | null = null;
  private _experiments: IExperiment[] = [];
  private _models: IModel[] = [];
  private _services: IService[] = [];
  private _datasets: IDataset[] = [];
  private _filters: IFilters = { experiment: null, status: '', q: '' };
  private _generation = 0;
  private _loaded = -1;
  private _total = 0;
  private _pages = new Map<number, IRunRow[]>();
  private _inflight = new Map<string, Promise<void>>();
  private _range: [number, number] = [0, 0];
  private _selected = new Set<string>();
  private _metric = '';
  private _seenMetrics = new Set<string>();
}
