/**
 * The sidebar's Services section: each local scoring service with its state, scoring URI
 * (copyable), request statistics, its log and Delete. The rows come with the sidebar's poll.
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { IService, deleteService, getServiceLogs } from './api';
import { RunListModel } from './model';

/** Log lines a row shows (the newest). */
export const LOG_LINES = 200;
/** How often an open log is read again (ms). */
const LOG_INTERVAL_MS = 2000;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatMs(ms: number | null): string {
  if (ms === null) {
    return '–';
  }
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** The service's last log lines, read again while shown. */
function ServiceLog(props: { name: string }): JSX.Element {
  const { name } = props;
  const [text, setText] = React.useState<string | null>(null);
  const [error, setError] = React.useState('');
  const ref = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    let alive = true;
    const read = async () => {
      try {
        const answer = await getServiceLogs(name, LOG_LINES);
        if (alive) {
          setText(answer.logs);
          setError('');
        }
      } catch (e) {
        if (alive) {
          setError(errorText(e));
        }
      }
    };
    void read();
    const timer = window.setInterval(() => void read(), LOG_INTERVAL_MS);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [name]);
  React.useEffect(() => {
    // Follow the end, as a terminal does.
    const pre = ref.current;
    if (pre) {
      pre.scrollTop = pre.scrollHeight;
    }
  }, [text]);
  return (
    <div className="aml-ServiceLog">
      {error ? <div className="aml-Message-error-text">{error}</div> : null}
      <pre className="aml-Log" data-testid="aml-service-log" ref={ref}>
        {text === null ? 'Loading the log…' : text || '(the log is empty)'}
      </pre>
    </div>
  );
}

function ServiceRow(props: {
  service: IService;
  model: RunListModel;
  openModel: (name: string, version: number) => void;
}): JSX.Element {
  const { service, model, openModel } = props;
  const [logs, setLogs] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [copied, setCopied] = React.useState(false);
  const [error, setError] = React.useState('');
  const stats = service.stats;
  const remove = async () => {
    const answer = await showDialog({
      title: `Delete service ${service.name}?`,
      body:
        `Its processes stop and ${service.scoring_uri} stops answering. ` +
        'The models it serves stay registered.',
      buttons: [Dialog.cancelButton({ label: 'Keep' }), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    setBusy(true);
    setError('');
    try {
      await deleteService(service.name);
      model.forgetService(service.name);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
    model.refresh();
  };
  const copy = () => {
    Clipboard.copyToSystem(service.scoring_uri);
    setCopied(true);
    window.setTimeout(() => setCopied(false), 1500);
  };
  return (
    <li
      className="aml-ServiceRow"
      data-testid="aml-service-row"
      data-service={service.name}
      data-state={service.state}
    >
      <div className="aml-ServiceLine">
        <span className="aml-ServiceName">{service.name}</span>
        <span
          className={`aml-ServiceState aml-ServiceState-${service.state}`}
          data-testid="aml-service-state"
        >
          {service.state}
        </span>
      </div>
      <div className="aml-ServiceLine">
        <code className="aml-ServiceUri" data-testid="aml-service-uri" title={service.scoring_uri}>
          {service.scoring_uri}
        </code>
        <button
          className="aml-LinkButton"
          data-testid="aml-service-copy"
          title="Copy the scoring URI"
          onClick={copy}
        >
          {copied ? 'copied' : 'copy'}
        </button>
      </div>
      <div
        className="aml-ServiceLine aml-ServiceStats"
        data-testid="aml-service-stats"
        title={`p50 ${formatMs(stats.p50_ms)}, max ${formatMs(stats.max_ms)}`}
      >
        <span data-testid="aml-service-requests">
          {stats.requests.toLocaleString()} request{stats.requests === 1 ? '' : 's'}
        </span>
        <span className={stats.errors ? 'aml-ServiceErrors' : ''} data-testid="aml-service-errors">
          {stats.errors.toLocaleString()} error{stats.errors === 1 ? '' : 's'}
        </span>
        <span data-testid="aml-service-p95">p95 {formatMs(stats.p95_ms)}</span>
      </div>
      <div className="aml-ServiceLine aml-ServiceModels">
        {service.models.map(id => {
          const at = id.lastIndexOf(':');
          return (
            <button
              key={id}
              className="aml-LinkButton"
              title={`Open model ${id}`}
              onClick={() => openModel(id.slice(0, at), Number(id.slice(at + 1)))}
            >
              {id}
            </button>
          );
        })}
        <span className="aml-Spacer" />
        <button
          className="aml-Button jp-Button jp-mod-styled"
          data-testid="aml-service-logs"
          aria-expanded={logs}
          onClick={() => setLogs(!logs)}
        >
          {logs ? 'Hide logs' : 'Logs'}
        </button>
        <button
          className="aml-Button jp-Button jp-mod-styled jp-mod-warn"
          data-testid="aml-service-delete"
          disabled={busy}
          onClick={() => void remove()}
        >
          {busy ? 'Deleting…' : 'Delete'}
        </button>
      </div>
      {error ? <div className="aml-Message-error-text">{error}</div> : null}
      {logs ? <ServiceLog name={service.name} /> : null}
    </li>
  );
}

/** The Services section; like Models, it shows once there is something to show. */
export function ServiceList(props: {
  model: RunListModel;
  openModel: (name: string, version: number) => void;
}): JSX.Element | null {
  const { model } = props;
  const [open, setOpen] = React.useState(false);
  const services = model.services;
  if (!model.workspace || !services.length) {
    return null;
  }
  const unwell = services.filter(s => s.state !== 'Healthy').length;
  return (
    <div className="aml-Experiments aml-Services">
      <button
        className="aml-SectionTitle"
        data-testid="aml-services-title"
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        title={open ? 'Hide the services' : 'Show the local scoring services'}
      >
        <span className="aml-Caret">{open ? '\u25BE' : '\u25B8'}</span>
        Services ({services.length})
        {unwell ? <span className="aml-ServiceErrors"> · {unwell} not healthy</span> : null}
      </button>
      {open ? (
        <ul className="aml-ServiceList" role="list">
          {services.map(s => (
            <ServiceRow key={s.name} service={s} model={model} openModel={props.openModel} />
          ))}
        </ul>
      ) : null}
    </div>
  );
}
