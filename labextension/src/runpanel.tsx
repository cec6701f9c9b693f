/**
 * A run's panel in the main area: header, tags, live log, metric charts,
 * other metrics, files, child runs, Cancel and TensorBoard.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  AmlApiError,
  IRunDetails,
  IRunRow,
  cancelRun,
  editTags,
  fileUrl,
  startTensorboard
} from './api';
import { ISeries, MetricChart } from './chart';
import {
  formatBytes,
  formatDateTime,
  formatDuration,
  formatValue,
  runDuration,
  runName
} from './format';
import { IMessage } from './model';
import { NotFound } from './notfound';
import { IOtherData, RunModel, rangeLoader } from './runmodel';
import { MessageBox, useSignal } from './sidebar';
import { StatusBadge, StatusLabel } from './status';
import { PolledWidget } from './polled';

/** The driver log among a run's files. */
const DRIVER_LOG = 'user_logs/std_log.txt';

export interface IRunPanelActions {
  openRun: (id: string) => void;
  /** Shows TensorBoard at `url` (a full URL under this server). */
  openTensorboard: (runId: string, url: string) => void;
}

function errorMessage(error: unknown): IMessage {
  if (error instanceof AmlApiError) {
    return { kind: 'error', text: error.message, fix: error.fix };
  }
  return { kind: 'error', text: String(error), fix: null };
}

function Field(props: { label: string; children: React.ReactNode }): JSX.Element | null {
  if (props.children === null || props.children === undefined || props.children === '') {
    return null;
  }
  return (
    <>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </>
  );
}

function Header(props: { model: RunModel; details: IRunDetails; actions: IRunPanelActions }) {
  const { model, details, actions } = props;
  const [busy, setBusy] = React.useState<'' | 'cancel' | 'tensorboard'>('');
  const cancel = async () => {
    const answer = await showDialog({
      title: 'Cancel this run?',
      body: `${runName(details)} stops now; what it wrote so far is kept.`,
      buttons: [
        Dialog.cancelButton({ label: 'Keep running' }),
        Dialog.warnButton({ label: 'Cancel run' })
      ]
    });
    if (!answer.button.accept) {
      return;
    }
    setBusy('cancel');
    try {
      await cancelRun(details.id);
      model.setMessage(null);
    } catch (error) {
      model.setMessage(errorMessage(error));
    } finally {
      setBusy('');
      model.refresh();
    }
  };
  const tensorboard = async () => {
    setBusy('tensorboard');
    try {
      const { url } = await startTensorboard(details.id);
      model.setMessage(null);
      actions.openTensorboard(details.id, url);
    } catch (error) {
      model.setMessage(errorMessage(error));
    } finally {
      setBusy('');
    }
  };
  const git = details.git;
  const args = (details.arguments ?? []).map(a => String(a)).join(' ');
  return (
    <div className="aml-RunHeader">
      <div className="aml-RunHeader-title">
        <StatusLabel status={details.status} testId="aml-run-status" />
        <h2 className="aml-RunHeader-name">{runName(details)}</h2>
        <span className="aml-RunHeader-id" data-testid="aml-run-header-id">
          {details.experiment} #{details.number}
          {runName(details) !== details.id ? ` · ${details.id}` : ''}
        </span>
        <span className="aml-Spacer" />
        {details.has_tensorboard ? (
          <button
            className="aml-Button jp-Button jp-mod-styled jp-mod-accept"
            data-testid="aml-open-tensorboard"
            disabled={busy === 'tensorboard'}
            onClick={() => void tensorboard()}
          >
            {busy === 'tensorboard' ? 'Starting TensorBoard…' : 'Open TensorBoard'}
          </button>
        ) : null}
        {!details.terminal ? (
          <button
            className="aml-Button jp-Button jp-mod-styled jp-mod-warn"
            data-testid="aml-cancel"
            disabled={busy === 'cancel' || details.status === 'CancelRequested'}
            onClick={() => void cancel()}
          >
            {details.status === 'CancelRequested' || busy === 'cancel' ? 'Canceling…' : 'Cancel'}
          </button>
        ) : null}
      </div>
      <dl className="aml-Fields">
        <Field label="Target">{details.target}</Field>
        <Field label="Script">
          {details.script ? (
            <code>
              {details.script}
              {args ? ` ${args}` : ''}
            </code>
          ) : null}
        </Field>
        <Field label="Created">{formatDateTime(details.created_utc)}</Field>
        <Field label="Started">{formatDateTime(details.started_utc)}</Field>
        <Field label="Ended">{formatDateTime(details.ended_utc)}</Field>
        <Field label="Duration">{formatDuration(runDuration(details))}</Field>
        {details.status === 'Canceled' ? (
          // Its exit code is only the signal that stopped it (-15): not the script's own.
          <Field label="Result">
            <span data-testid="aml-run-result">Canceled</span>
          </Field>
        ) : (
          <Field label="Exit code">
            {details.exit_code === null || details.exit_code === undefined
              ? null
              : String(details.exit_code)}
          </Field>
        )}
        <Field label="Git">
          {git && git.commit ? (
            <span title={git.repository ?? ''}>
              <code>{git.commit.slice(0, 12)}</code>
              {git.branch ? ` on ${git.branch}` : ''}
              {git.dirty ? ' (uncommitted changes)' : ''}
            </span>
          ) : null}
        </Field>
        <Field label="Parent">
          {details.parent_id ? (
            <button className="aml-LinkButton" onClick={() => actions.openRun(details.parent_id!)}>
              {details.parent_id}
            </button>
          ) : null}
        </Field>
        <Field label="Description">{details.description}</Field>
      </dl>
      {details.error && details.error.message ? (
        <div className="aml-Message aml-Message-error aml-RunError">
          <div className="aml-Message-text">{details.error.message}</div>
        </div>
      ) : null}
      <Tags model={model} details={details} />
    </div>
  );
}

function Tags(props: { model: RunModel; details: IRunDetails }): JSX.Element {
  const { model, details } = props;
  const [text, setText] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const change = async (body: { set?: Record<string, string | null>; remove?: string[] }) => {
    setBusy(true);
    try {
      const { tags } = await editTags(details.id, body);
      model.setTags(tags);
      model.setMessage(null);
      return true;
    } catch (error) {
      model.setMessage(errorMessage(error));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const add = async () => {
    const entry = text.trim();
    if (!entry) {
      return;
    }
    const at = entry.indexOf('=');
    const key = (at >= 0 ? entry.slice(0, at) : entry).trim();
    const value = at >= 0 ? entry.slice(at + 1) : null;
    if (!key) {
      model.setMessage({ kind: 'error', text: 'A tag needs a name: write key=value or key.', fix: null });
      return;
    }
    if (await change({ set: { [key]: value } })) {
      setText('');
    }
  };
  const entries = Object.entries(details.tags ?? {});
  return (
    <div className="aml-Tags" data-testid="aml-tags">
      <span className="aml-Tags-label">Tags</span>
      {entries.map(([key, value]) => (
        <span className="aml-Tag" key={key} data-testid="aml-tag" data-tag={key}>
          <span className="aml-Tag-text">{value === null || value === '' ? key : `${key}=${value}`}</span>
          <button
            className="aml-Tag-remove"
            title={`Remove tag ${key}`}
            aria-label={`Remove tag ${key}`}
            disabled={busy}
            onClick={() => void change({ remove: [key] })}
          >
            ×
          </button>
        </span>
      ))}
      <input
        className="aml-Tag-input jp-mod-styled"
        data-testid="aml-tag-input"
        placeholder="key=value"
        aria-label="New tag (key=value)"
        value={text}
        disabled={busy}
        onChange={e => setText(e.target.value)}
        onKeyDown={e => {
          if (e.key === 'Enter') {
            void add();
          }
        }}
      />
      <button
        className="aml-Button jp-Button jp-mod-styled jp-mod-reject"
        data-testid="aml-tag-add"
        disabled={busy || !text.trim()}
        onClick={() => void add()}
      >
        Add tag
      </button>
    </div>
  );
}

/** The log's tail, followed while scrolled to the bottom. */
function LogView(props: { model: RunModel }): JSX.Element {
  const { model } = props;
  const log = model.log;
  const ref = React.useRef<HTMLPreElement>(null);
  const atBottom = React.useRef(true);
  React.useLayoutEffect(() => {
    const node = ref.current;
    if (node && atBottom.current) {
      node.scrollTop = node.scrollHeight;
    }
  }, [log.version]);
  const onScroll = () => {
    const node = ref.current;
    if (node) {
      atBottom.current = node.scrollHeight - node.scrollTop - node.clientHeight < 24;
    }
  };
  const runId = model.runId;
  return (
    <section className="aml-Section">
      <h3 className="aml-Section-title">
        Log
        <span className="aml-Section-note">
          {log.size ? formatBytes(log.size) : ''}
          {log.start > 0 || log.trimmed ? ' · earlier lines not shown' : ''}
        </span>
        {model.files.some(f => f.name === DRIVER_LOG) ? (
          <a className="aml-Section-link" href={fileUrl(runId, DRIVER_LOG, true)} download>
            download
          </a>
        ) : null}
      </h3>
      <pre className="aml-Log" data-testid="aml-run-log" ref={ref} onScroll={onScroll}>
        {log.text || (model.finished ? '(empty log)' : '')}
      </pre>
    </section>
  );
}

function Charts(props: { model: RunModel }): JSX.Element | null {
  const { model } = props;
  const store = model.metrics;
  if (store.scalars.size === 0) {
    return null;
  }
  return (
    <section className="aml-Section">
      <h3 className="aml-Section-title">Metrics</h3>
      <div className="aml-Charts">
        {[...store.scalars.entries()].map(([name, data]) => {
          const series: ISeries[] = [
            {
              label: name,
              xs: data.xs,
              ys: data.ys,
              last: data.last,
              count: data.count,
              loadRange: data.downsampled ? rangeLoader(model.runId, name) : undefined
            }
          ];
          return (
            <MetricChart key={name} metric={name} series={series} version={store.version} />
          );
        })}
      </div>
    </section>
  );
}

/** A value as a table cell. */
function cell(value: unknown): string {
  return formatValue(value);
}

/** A simple table from column lists `{col: [v...]}`. */
function ColumnsTable(props: { columns: Record<string, unknown[]> }): JSX.Element {
  const names = Object.keys(props.columns);
  const rows = Math.max(0, ...names.map(n => (Array.isArray(props.columns[n]) ? props.columns[n].length : 0)));
  const body: JSX.Element[] = [];
  for (let r = 0; r < Math.min(rows, 1000); r++) {
    body.push(
      <tr key={r}>
        {names.map(n => (
          <td key={n}>{cell(Array.isArray(props.columns[n]) ? props.columns[n][r] : '')}</td>
        ))}
      </tr>
    );
  }
  return (
    <table className="aml-Table">
      <thead>
        <tr>
          {names.map(n => (
            <th key={n}>{n}</th>
          ))}
        </tr>
      </thead>
      <tbody>{body}</tbody>
    </table>
  );
}

function OtherMetric(props: { runId: string; data: IOtherData }): JSX.Element {
  const { runId, data } = props;
  const last = data.points[data.points.length - 1];
  let body: React.ReactNode;
  if (data.kind === 'row') {
    const columns: Record<string, unknown[]> = {};
    const rows = data.points.map(p => (p.value && typeof p.value === 'object' ? (p.value as Record<string, unknown>) : { value: p.value }));
    for (const row of rows) {
      for (const key of Object.keys(row)) {
        columns[key] = columns[key] ?? [];
      }
    }
    for (const row of rows) {
      for (const key of Object.keys(columns)) {
        columns[key].push(row[key]);
      }
    }
    body = <ColumnsTable columns={columns} />;
  } else if (data.kind === 'image' && typeof last.value === 'string') {
    body = <img className="aml-Image" src={fileUrl(runId, last.value)} alt={data.name} />;
  } else if (Array.isArray(last.value)) {
    body = <ColumnsTable columns={{ [data.name]: last.value }} />;
  } else if (last.value && typeof last.value === 'object') {
    const value = last.value as Record<string, unknown>;
    const isColumns = Object.values(value).every(v => Array.isArray(v));
    body = isColumns ? (
      <ColumnsTable columns={value as Record<string, unknown[]>} />
    ) : (
      <pre className="aml-Json">{JSON.stringify(value, null, 2)}</pre>
    );
  } else {
    body = <span className="aml-Value">{cell(last.value)}</span>;
  }
  return (
    <div className="aml-OtherMetric" data-testid="aml-other-metric" data-metric={data.name}>
      <div className="aml-OtherMetric-name">
        {data.name} <span className="aml-Section-note">{data.kind}</span>
      </div>
      {body}
    </div>
  );
}

function Others(props: { model: RunModel }): JSX.Element | null {
  const { model } = props;
  const others = [...model.metrics.others.values()];
  if (!others.length) {
    return null;
  }
  return (
    <section className="aml-Section">
      <h3 className="aml-Section-title">Other metrics</h3>
      {others.map(o => (
        <OtherMetric key={o.name} runId={model.runId} data={o} />
      ))}
    </section>
  );
}

function Files(props: { model: RunModel }): JSX.Element | null {
  const { model } = props;
  const files = model.files;
  if (!files.length) {
    return null;
  }
  const anyLive = files.some(f => f.live);
  return (
    <section className="aml-Section">
      <h3 className="aml-Section-title">
        Files <span className="aml-Section-note">{files.length}</span>
      </h3>
      <table className="aml-Table aml-Files" data-testid="aml-files">
        <tbody>
          {files.map(f => (
            <tr key={f.name}>
              <td>
                <a href={fileUrl(model.runId, f.name, true)} download title={`Download ${f.name}`}>
                  {f.name}
                </a>
              </td>
              <td className="aml-Number">{formatBytes(f.size)}</td>
              {anyLive ? <td>{f.live ? 'live' : ''}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Children(props: { rows: IRunRow[]; openRun: (id: string) => void }): JSX.Element | null {
  if (!props.rows.length) {
    return null;
  }
  return (
    <section className="aml-Section">
      <h3 className="aml-Section-title">
        Child runs <span className="aml-Section-note">{props.rows.length}</span>
      </h3>
      <ul className="aml-Children">
        {props.rows.map(row => (
          <li
            key={row.id}
            className="aml-ChildRow"
            data-testid="aml-child-run"
            data-run-id={row.id}
            data-status={row.status}
            tabIndex={0}
            onClick={() => props.openRun(row.id)}
            onKeyDown={e => {
              if (e.key === 'Enter') {
                props.openRun(row.id);
              }
            }}
          >
            <StatusBadge status={row.status} />
            <span className="aml-RunName">{runName(row)}</span>
            <span className="aml-Section-note">{formatDuration(runDuration(row))}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function RunView(props: {
  model: RunModel;
  actions: IRunPanelActions;
  onClose: () => void;
}): JSX.Element {
  const { model, actions } = props;
  useSignal(model.changed);
  const details = model.details;
  if (model.notFound && model.message) {
    return (
      <div className="aml-RunPanel-body">
        <NotFound message={model.message} onClose={props.onClose} />
      </div>
    );
  }
  return (
    <div className="aml-RunPanel-body">
      {model.message ? <MessageBox message={model.message} /> : null}
      {details ? (
        <>
          <Header model={model} details={details} actions={actions} />
          <LogView model={model} />
          <Charts model={model} />
          <Others model={model} />
          <Files model={model} />
          <Children rows={details.children ?? []} openRun={actions.openRun} />
        </>
      ) : model.message ? null : (
        <div className="aml-Loading">Loading run {model.runId}…</div>
      )}
    </div>
  );
}

/** The panel's content (wrapped in a MainAreaWidget by the plugin). */
export class RunPanel extends PolledWidget<RunModel> {
  constructor(
    readonly runId: string,
    private _actions: IRunPanelActions
  ) {
    super(standby => new RunModel(runId, { standby }));
    this.addClass('aml-RunPanel');
    this.node.dataset.testid = 'aml-run-panel';
    this.node.dataset.runId = runId;
    this.model.changed.connect(this._onChanged, this);
    this.model.start();
  }


  render(): JSX.Element {
    // Its tab is the MainAreaWidget around it.
    const close = () => (this.parent ?? this).close();
    return <RunView model={this.model} actions={this._actions} onClose={close} />;
  }

  private _onChanged(): void {
    const details = this.model.details;
    if (details) {
      const name = runName(details);
      if (this.title.label !== name) {
        this.title.label = name;
      }
      this.title.caption = `${name} (${details.id}): ${details.status}`;
    }
  }
}
