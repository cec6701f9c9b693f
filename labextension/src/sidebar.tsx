/**
 * The "AML" tab of JupyterLab's left sidebar: experiments and runs, live.
 *
 * Everything the server sends is rendered as React text nodes.
 */
import { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { IRunRow, STATUSES, createWorkspace } from './api';
import { formatDateTime, formatDuration, formatTime, formatValue, runDuration, runName } from './format';
import { IMessage, RunListModel } from './model';
import { DatasetList } from './datasetlist';
import { ModelList } from './modellist';
import { ServiceList } from './services';
import { StatusBadge } from './status';
import { VirtualList } from './virtuallist';
import { PolledWidget } from './polled';

/** Pixel height of one run row (the virtual list needs it fixed). */
export const ROW_HEIGHT = 44;

/** Re-render whenever `signal` fires. */
export function useSignal(signal: ISignal<any, any>): void {
  const [, setCount] = React.useState(0);
  React.useEffect(() => {
    const slot = () => setCount(c => c + 1);
    signal.connect(slot);
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
}

/** Kinds of message that are a hint (what to do next), not something gone wrong. */
const HINTS: ReadonlySet<string> = new Set(['empty', 'no-match', 'no-workspace']);

/** The message box: an error with its fix, or a hint (with a button, when given one). */
export function MessageBox(props: {
  message: IMessage;
  children?: React.ReactNode;
}): JSX.Element {
  const { message } = props;
  const hint = HINTS.has(message.kind);
  return (
    <div
      className={`aml-Message aml-Message-${message.kind}${hint ? ' aml-mod-hint' : ''}`}
      data-testid="aml-message"
      data-kind={message.kind}
      role={hint ? 'status' : 'alert'}
    >
      <div className="aml-Message-text">{message.text}</div>
      {message.code?.length ? (
        <pre className="aml-Message-code">{message.code.join('\n')}</pre>
      ) : null}
      {props.children}
      {message.fix ? (
        <div className="aml-Message-fix">
          {message.kind === 'no-workspace' ? 'Or: ' : 'Fix: '}
          {message.fix}
        </div>
      ) : null}
    </div>
  );
}

/** The first-run state's button: makes the workspace in the server's root folder. */
function CreateWorkspaceButton(props: { model: RunListModel }): JSX.Element {
  const { model } = props;
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState('');
  const create = async () => {
    setBusy(true);
    setError('');
    try {
      await createWorkspace();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
      model.refresh();
    }
  };
  return (
    <div className="aml-Message-actions">
      <button
        className="aml-Button jp-Button jp-mod-styled jp-mod-accept"
        data-testid="aml-create-workspace"
        disabled={busy}
        onClick={() => void create()}
      >
        {busy ? 'Creating…' : 'Create workspace'}
      </button>
      {error ? <div className="aml-Message-error-text">{error}</div> : null}
    </div>
  );
}

interface ISidebarProps {
  model: RunListModel;
  openRun: (id: string) => void;
  compare: (ids: string[]) => void;
  openModel: (name: string, version: number) => void;
}

function ExperimentList(props: { model: RunListModel }): JSX.Element | null {
  const { model } = props;
  const [open, setOpen] = React.useState(true);
  const experiments = model.experiments;
  if (!model.workspace) {
    return null;
  }
  const current = model.filters.experiment;
  const all = experiments.reduce((n, e) => n + e.run_count, 0);
  const pick = (name: string | null) =>
    model.setFilters({ experiment: current === name ? null : name });
  return (
    <div className="aml-Experiments">
      <button
        className="aml-SectionTitle"
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        title={open ? 'Hide the experiments' : 'Show the experiments'}
      >
        <span className="aml-Caret">{open ? '\u25BE' : '\u25B8'}</span>
        Experiments ({experiments.length})
      </button>
      {open ? (
        <ul className="aml-ExperimentList" role="listbox">
          <li
            className={`aml-ExperimentRow${current === null ? ' aml-mod-selected' : ''}`}
            role="option"
            aria-selected={current === null}
            onClick={() => pick(null)}
          >
            <span className="aml-ExperimentName">All experiments</span>
            <span className="aml-Count">{all}</span>
          </li>
          {experiments.map(e => (
            <li
              key={e.name}
              className={`aml-ExperimentRow${current === e.name ? ' aml-mod-selected' : ''}`}
              data-testid="aml-experiment-row"
              data-experiment={e.name}
              role="option"
              aria-selected={current === e.name}
              title={
                e.last_run_utc ? `Last run ${formatDateTime(e.last_run_utc)}` : 'No runs yet'
              }
              onClick={() => pick(e.name)}
            >
              <span className="aml-ExperimentName">{e.name}</span>
              <span className="aml-Count">{e.run_count}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function SearchBox(props: { model: RunListModel }): JSX.Element {
  const { model } = props;
  const [text, setText] = React.useState(model.filters.q);
  const timer = React.useRef<number>(0);
  React.useEffect(() => () => window.clearTimeout(timer.current), []);
  const onChange = (value: string) => {
    setText(value);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => model.setFilters({ q: value.trim() }), 250);
  };
  return (
    <input
      className="aml-Search jp-mod-styled"
      data-testid="aml-search"
      type="search"
      placeholder="Search runs"
      title="Search by name, id, script or tag"
      aria-label="Search runs"
      value={text}
      onChange={e => onChange(e.target.value)}
      onKeyDown={e => {
        if (e.key === 'Enter') {
          window.clearTimeout(timer.current);
          model.setFilters({ q: text.trim() });
        }
      }}
    />
  );
}

function Controls(props: ISidebarProps): JSX.Element {
  const { model } = props;
  const names = model.metricNames;
  const selected = [...model.selected];
  return (
    <div className="aml-Controls">
      <SearchBox model={model} />
      <div className="aml-ControlRow">
        <select
          className="aml-StatusFilter jp-mod-styled"
          data-testid="aml-status-filter"
          aria-label="Filter by status"
          value={model.filters.status}
          onChange={e => model.setFilters({ status: e.target.value })}
        >
          <option value="">Any status</option>
          <option value="active">Not ended</option>
          {STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <label className="aml-MetricLabel" htmlFor="aml-metric-picker">
          Metric
        </label>
        <select
          id="aml-metric-picker"
          className="aml-MetricPicker jp-mod-styled"
          data-testid="aml-metric-picker"
          title="The metric whose last value each run row shows"
          value={model.metric}
          onChange={e => (model.metric = e.target.value)}
          disabled={names.length === 0}
        >
          {names.length === 0 ? <option value="">No metrics</option> : null}
          {names.map(n => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <div className="aml-ControlRow">
        <button
          className="aml-Button aml-CompareButton jp-Button jp-mod-styled jp-mod-accept"
          data-testid="aml-compare"
          disabled={selected.length === 0}
          title={
            selected.length
              ? 'Compare the ticked runs: metrics side by side and overlaid charts'
              : 'Tick runs to compare them'
          }
          onClick={() => props.compare(selected)}
        >
          Compare{selected.length ? ` (${selected.length})` : ''}
        </button>
        {selected.length ? (
          <button className="aml-LinkButton" onClick={() => model.clearSelection()}>
            clear
          </button>
        ) : null}
        <span className="aml-Total" data-testid="aml-total">
          {model.workspace ? `${model.total.toLocaleString()} run${model.total === 1 ? '' : 's'}` : ''}
        </span>
      </div>
    </div>
  );
}

function RunRowView(props: {
  row: IRunRow;
  metric: string;
  checked: boolean;
  style: React.CSSProperties;
  onOpen: (id: string) => void;
  onCheck: (id: string, on: boolean) => void;
}): JSX.Element {
  const { row, metric, checked, style } = props;
  const value = metric ? row.metrics[metric] : undefined;
  const started = row.started_utc ?? row.created_utc;
  const duration = runDuration(row);
  return (
    <div
      className="aml-RunRow"
      style={style}
      data-testid="aml-run-row"
      data-run-id={row.id}
      data-status={row.status}
      role="row"
      tabIndex={0}
      title={`${runName(row)} (${row.id})`}
      onClick={() => props.onOpen(row.id)}
      onKeyDown={e => {
        if (e.key === 'Enter') {
          props.onOpen(row.id);
        }
      }}
    >
      <input
        type="checkbox"
        className="aml-RunCheck"
        aria-label="Select for comparison"
        checked={checked}
        onClick={e => e.stopPropagation()}
        onChange={e => props.onCheck(row.id, e.target.checked)}
      />
      <StatusBadge status={row.status} />
      <div className="aml-RunText">
        <div className="aml-RunLine1">
          <span className="aml-RunName">{runName(row)}</span>
          <span className="aml-RunMetric" title={metric ? `${metric} (last value)` : ''}>
            {value !== undefined ? formatValue(value) : ''}
          </span>
        </div>
        <div className="aml-RunLine2">
          <span className="aml-RunExperiment">
            {row.experiment} #{row.number}
          </span>
          <span className="aml-RunStarted" title={formatDateTime(started)}>
            {formatTime(started)}
          </span>
          <span className="aml-RunDuration">{formatDuration(duration)}</span>
        </div>
      </div>
    </div>
  );
}

function RunList(props: ISidebarProps): JSX.Element {
  const { model } = props;
  const onRange = React.useCallback(
    (first: number, last: number) => model.setRange(first, last),
    [model]
  );
  const onCheck = React.useCallback(
    (id: string, on: boolean) => model.toggleSelected(id, on),
    [model]
  );
  const metric = model.metric;
  return (
    <VirtualList
      className="aml-RunList"
      count={model.total}
      rowHeight={ROW_HEIGHT}
      resetKey={model.generation}
      onRange={onRange}
      renderRow={(index, style) => {
        const row = model.row(index);
        if (!row) {
          return (
            <div key={`placeholder-${index}`} className="aml-RunRow aml-mod-placeholder" style={style}>
              <span className="aml-Placeholder">loading…</span>
            </div>
          );
        }
        return (
          <RunRowView
            key={row.id}
            row={row}
            metric={metric}
            checked={model.selected.has(row.id)}
            style={style}
            onOpen={props.openRun}
            onCheck={onCheck}
          />
        );
      }}
    />
  );
}

function SidebarView(props: ISidebarProps): JSX.Element {
  const { model } = props;
  useSignal(model.changed);
  const ws = model.workspace;
  const message = model.message;
  const listHint = !!message && (message.kind === 'empty' || message.kind === 'no-match');
  return (
    <div className="aml-Sidebar-content">
      <div className="aml-Sidebar-header">
        <span className="aml-Sidebar-title">AML</span>
        {ws ? (
          <span className="aml-Sidebar-workspace" title={ws.folder}>
            {ws.name}
          </span>
        ) : null}
        <button
          className="aml-IconButton"
          title="Refresh now"
          aria-label="Refresh"
          onClick={() => model.refresh()}
        >
          {'\u21BB'}
        </button>
      </div>
      {message && !listHint ? (
        <MessageBox message={message}>
          {message.kind === 'no-workspace' ? <CreateWorkspaceButton model={model} /> : null}
        </MessageBox>
      ) : null}
      <ExperimentList model={model} />
      <ModelList model={model} openRun={props.openRun} openModel={props.openModel} />
      <ServiceList model={model} openModel={props.openModel} />
      <DatasetList model={model} />
      {ws ? <Controls {...props} /> : null}
      {ws && listHint ? (
        // Where the rows would be: it is about the list, not the workspace.
        <div className="aml-RunList aml-RunList-empty" data-testid="aml-run-list-empty">
          <MessageBox message={message!} />
        </div>
      ) : null}
      {ws && !listHint ? <RunList {...props} /> : null}
    </div>
  );
}

/** The sidebar widget: polls while shown, rests while hidden. */
export class AmlSidebar extends PolledWidget<RunListModel> {
  constructor(options: { openRun: (id: string) => void; compare: (ids: string[]) => void }) {
    super(standby => new RunListModel({ standby }));
    this.addClass('aml-Sidebar');
    this.node.dataset.testid = 'aml-sidebar';
    this._openRun = options.openRun;
    this._compare = options.compare;
    this.model.start();
  }


  /** What a click on a model (or a service's model) does; the plugin sets it. */
  openModel: (name: string, version: number) => void = () => undefined;

  render(): JSX.Element {
    return (
      <SidebarView
        model={this.model}
        openRun={this._openRun}
        compare={this._compare}
        openModel={(name, version) => this.openModel(name, version)}
      />
    );
  }

  private _openRun: (id: string) => void;
  private _compare: (ids: string[]) => void;
}
