/**
 * Compare runs: a table of their parameters, arguments, tags and last metric
 * values side by side (comparetable.tsx), and per metric one chart with every
 * run overlaid. Kept live while any of the runs is going.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { AmlApiError, IRunDetails, getMetrics, getRun } from './api';
import { ISeries, MetricChart } from './chart';
import { CompareTable, isSeries } from './comparetable';
import { runName } from './format';
import { IMessage, INTERVAL_MS, MAX_INTERVAL_MS } from './model';
import { NotFound } from './notfound';
import { MetricStore, rangeLoader } from './runmodel';
import { MessageBox, useSignal } from './sidebar';
import { PolledWidget } from './polled';

/** The most runs one comparison shows. */
export const MAX_COMPARED = 20;

interface IComparedRun {
  id: string;
  details: IRunDetails | null;
  metrics: MetricStore;
  done: boolean;
}

export class CompareModel implements IDisposable {
  constructor(
    ids: string[],
    options: { standby: () => boolean }
  ) {
    this.runs = ids.slice(0, MAX_COMPARED).map(id => ({
      id,
      details: null,
      metrics: new MetricStore(),
      done: false
    }));
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      // A comparison is less urgent than a run's own panel.
      frequency: { interval: 2 * INTERVAL_MS, backoff: true, max: MAX_INTERVAL_MS },
      name: 'aml-jupyter:compare',
      standby: options.standby
    });
  }

  readonly runs: IComparedRun[];

  get ids(): string[] {
    return this.runs.map(r => r.id);
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get message(): IMessage | null {
    return this._message;
  }

  /** True when a compared run is not in the workspace (404 "no-run"): polling stopped. */
  get notFound(): boolean {
    return this._notFound;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Bumped whenever new points arrived (charts redraw). */
  get version(): number {
    return this._version;
  }

  start(): void {
    void this._poll.start();
  }

  refresh(): void {
    if (this.runs.some(r => !r.done)) {
      void this._poll.refresh();
    }
  }

  /** Every scalar metric name, in the order first seen. */
  metricNames(): string[] {
    const names = new Set<string>();
    for (const run of this.runs) {
      for (const name of Object.keys(run.details?.metrics ?? {})) {
        names.add(name);
      }
      for (const name of run.metrics.scalars.keys()) {
        names.add(name);
      }
    }
    return [...names];
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _readRun(run: IComparedRun): Promise<boolean> {
    if (run.done) {
      return false;
    }
    const [details, points] = await Promise.all([
      getRun(run.id),
      getMetrics(run.id, run.metrics.cursor)
    ]);
    run.details = details;
    const added = run.metrics.add(points);
    run.done = details.terminal && points.terminal;
    return added;
  }

  private async _tick(): Promise<void> {
    if (this._isDisposed) {
      return;
    }
    const results = await Promise.allSettled(this.runs.map(r => this._readRun(r)));
    if (this._isDisposed) {
      return;
    }
    if (results.some(r => r.status === 'fulfilled' && r.value)) {
      this._version++;
    }
    const failed = results.find(r => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) {
      const error = failed.reason;
      this._message =
        error instanceof AmlApiError
          ? { kind: 'error', text: error.message, fix: error.fix }
          : { kind: 'error', text: String(error), fix: null };
    } else {
      this._message = null;
    }
    if (failed && failed.reason instanceof AmlApiError && failed.reason.reason === 'no-run') {
      this._notFound = true;
      this._poll.dispose();
    }
    this._changed.emit();
    if (failed && !this._notFound) {
      throw failed.reason;
    }
    if (this.runs.every(r => r.done)) {
      this._poll.dispose();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
  private _poll: Poll;
  private _message: IMessage | null = null;
  private _notFound = false;
  private _version = 0;
}

function CompareView(props: {
  model: CompareModel;
  openRun: (id: string) => void;
  onClose: () => void;
}) {
  const { model } = props;
  useSignal(model.changed);
  // Series only: a metric logged once per run is a row of the table above, not a dot.
  const names = model
    .metricNames()
    .filter(name => model.runs.some(run => isSeries(run.metrics.scalars.get(name))));
  if (model.notFound && model.message) {
    return (
      <div className="aml-ComparePanel-body">
        <NotFound message={model.message} onClose={props.onClose} />
      </div>
    );
  }
  return (
    <div className="aml-ComparePanel-body">
      <h2 className="aml-ComparePanel-title">Comparing {model.runs.length} runs</h2>
      {model.message ? <MessageBox message={model.message} /> : null}
      <section className="aml-Section">
        <h3 className="aml-Section-title">Parameters, arguments and tags</h3>
        <CompareTable runs={model.runs} openRun={props.openRun} />
      </section>
      <section className="aml-Section">
        <h3 className="aml-Section-title">Metrics</h3>
        <div className="aml-Charts">
          {names.map(name => {
            const series: ISeries[] = [];
            model.runs.forEach(run => {
              const data = run.metrics.scalars.get(name);
              series.push({
                label: run.details ? runName(run.details) : run.id,
                xs: data?.xs ?? [],
                ys: data?.ys ?? [],
                count: data?.count,
                loadRange: data?.downsampled ? rangeLoader(run.id, name) : undefined
              });
            });
            return (
              <MetricChart key={name} metric={name} series={series} version={model.version} height={220} />
            );
          })}
        </div>
      </section>
    </div>
  );
}

export class ComparePanel extends PolledWidget<CompareModel> {
  constructor(
    ids: string[],
    private _openRun: (id: string) => void
  ) {
    super(standby => new CompareModel(ids, { standby }));
    this.addClass('aml-ComparePanel');
    this.node.dataset.testid = 'aml-compare-panel';
    this.node.dataset.runIds = this.model.ids.join(',');
    this.title.label = `Compare ${this.model.runs.length} runs`;
    this.model.start();
  }


  render(): JSX.Element {
    const close = () => (this.parent ?? this).close(); // its tab: the MainAreaWidget
    return <CompareView model={this.model} openRun={this._openRun} onClose={close} />;
  }
}
