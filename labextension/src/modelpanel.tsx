/**
 * A registered model's page in the main area: one version (picked among all of its name),
 * its tags, properties and files, and its lineage: the run that made it, the datasets it
 * was trained on and the services that serve it. Kept fresh by one `Poll`.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { AmlApiError, IModelDetails, getModelDetails } from './api';
import { formatBytes } from './format';
import { IMessage, MAX_INTERVAL_MS } from './model';
import { PolledWidget } from './polled';
import { MessageBox, useSignal } from './sidebar';

/** How often an open model page refreshes (ms): deployments come and go. */
const MODEL_INTERVAL_MS = 2000;

export interface IModelPanelActions {
  openRun: (id: string) => void;
}

/** One model name's page: the version shown, read again on every tick. */
export class ModelPageModel implements IDisposable {
  constructor(
    readonly name: string,
    version: number,
    options: { standby: () => boolean }
  ) {
    this._version = version;
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: MODEL_INTERVAL_MS, backoff: true, max: MAX_INTERVAL_MS },
      name: `aml-jupyter:model-${name}`,
      standby: options.standby
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get version(): number {
    return this._version;
  }

  /** The version's details, once read (null while a newly picked one loads). */
  get details(): IModelDetails | null {
    return this._details;
  }

  get message(): IMessage | null {
    return this._message;
  }

  /** Shows another version of the same name. */
  setVersion(version: number): void {
    if (version === this._version) {
      return;
    }
    this._version = version;
    this._details = null;
    this._changed.emit();
    this.refresh();
  }

  start(): void {
    void this._poll.start();
  }

  refresh(): void {
    void this._poll.refresh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    const version = this._version;
    try {
      const details = await getModelDetails(this.name, version);
      if (version !== this._version || this._isDisposed) {
        return; // another version was picked meanwhile
      }
      this._details = details;
      this._message = null;
    } catch (error) {
      this._message =
        error instanceof AmlApiError
          ? { kind: 'error', text: error.message, fix: error.fix }
          : { kind: 'error', text: String(error), fix: null };
      throw error;
    } finally {
      if (!this._isDisposed) {
        this._changed.emit();
      }
    }
  }

  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
  private _poll: Poll;
  private _version: number;
  private _details: IModelDetails | null = null;
  private _message: IMessage | null = null;
}

function formatCreated(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function Section(props: {
  title: string;
  count?: number;
  testId: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <section className="aml-Section" data-testid={props.testId}>
      <h3 className="aml-Section-title">
        {props.title}
        {props.count !== undefined ? (
          <span className="aml-Section-note">{props.count}</span>
        ) : null}
      </h3>
      {props.children}
    </section>
  );
}

function Empty(props: { children: React.ReactNode }): JSX.Element {
  return <div className="aml-EmptyNote">{props.children}</div>;
}

function KeyValues(props: {
  values: Record<string, string | null>;
  testId: string;
  empty: string;
}): JSX.Element {
  const entries = Object.entries(props.values);
  if (!entries.length) {
    return <Empty>{props.empty}</Empty>;
  }
  return (
    <div className="aml-Tags" data-testid={props.testId}>
      {entries.map(([key, value]) => (
        <span className="aml-Tag aml-mod-readonly" key={key} data-key={key}>
          {value === null || value === '' ? key : `${key}=${value}`}
        </span>
      ))}
    </div>
  );
}

function Versions(props: { model: ModelPageModel; details: IModelDetails }): JSX.Element {
  const { model, details } = props;
  return (
    <Section title="Versions" count={details.versions.length} testId="aml-model-versions">
      <div className="aml-VersionList" role="tablist" aria-label="Versions">
        {details.versions.map(v => {
          const current = v.version === model.version;
          return (
            <button
              key={v.version}
              role="tab"
              aria-selected={current}
              className={`aml-Version${current ? ' aml-mod-selected' : ''}`}
              data-testid="aml-model-version"
              data-version={v.version}
              title={`Version ${v.version}, registered ${formatCreated(v.createdTime)}`}
              onClick={() => model.setVersion(v.version)}
            >
              {v.version}
            </button>
          );
        })}
      </div>
    </Section>
  );
}

function Lineage(props: { details: IModelDetails; actions: IModelPanelActions }): JSX.Element {
  const { details, actions } = props;
  return (
    <Section title="Lineage" testId="aml-model-lineage">
      <dl className="aml-Fields">
        <dt>Run</dt>
        <dd>
          {details.runId ? (
            <button
              className="aml-LinkButton"
              data-testid="aml-model-run"
              title="Open the run that made this model"
              onClick={() => actions.openRun(details.runId!)}
            >
              {details.runId}
            </button>
          ) : (
            <span className="aml-Section-note">registered from a local path</span>
          )}
          {details.experimentName ? (
            <span className="aml-Section-note"> in {details.experimentName}</span>
          ) : null}
        </dd>
        <dt>Datasets</dt>
        <dd data-testid="aml-model-datasets">
          {details.datasets.length ? (
            details.datasets.map((d, i) => <code key={i}>{JSON.stringify(d)}</code>)
          ) : (
            <span className="aml-Section-note">None recorded</span>
          )}
        </dd>
      </dl>
    </Section>
  );
}

function Deployments(props: { details: IModelDetails }): JSX.Element {
  const found = props.details.deployments;
  return (
    <Section title="Deployments" count={found.length} testId="aml-model-deployments">
      {found.length ? (
        <table className="aml-Table">
          <thead>
            <tr>
              <th>Service</th>
              <th>State</th>
              <th>Scoring URI</th>
            </tr>
          </thead>
          <tbody>
            {found.map(s => (
              <tr key={s.name} data-testid="aml-model-deployment" data-service={s.name}>
                <td>{s.name}</td>
                <td>
                  <span className={`aml-ServiceState aml-ServiceState-${s.state}`}>{s.state}</span>
                </td>
                <td>
                  <code>{s.scoring_uri}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>
          Not deployed. Deploy it from a notebook:{' '}
          <code>
            Model.deploy(ws, "my-service", [Model(ws, "{props.details.name}", version=
            {props.details.version})])
          </code>
        </Empty>
      )}
    </Section>
  );
}

function Files(props: { details: IModelDetails }): JSX.Element {
  const { details } = props;
  return (
    <Section title="Files" count={details.files.length} testId="aml-model-files">
      <div className="aml-Section-note">
        {details.isFolder ? `Folder ${details.path}/` : details.path}, {formatBytes(details.size)}{' '}
        in all
      </div>
      <ul className="aml-FileNames">
        {details.files.map(f => (
          <li key={f}>
            <code>{f}</code>
          </li>
        ))}
      </ul>
    </Section>
  );
}

function ModelView(props: { model: ModelPageModel; actions: IModelPanelActions }): JSX.Element {
  const { model, actions } = props;
  useSignal(model.changed);
  const details = model.details;
  return (
    <div className="aml-RunPanel-body">
      {model.message ? <MessageBox message={model.message} /> : null}
      {details ? (
        <>
          <div className="aml-RunHeader-title">
            <h2 className="aml-RunHeader-name" data-testid="aml-model-title">
              {details.name}
            </h2>
            <span className="aml-RunHeader-id">version {details.version}</span>
          </div>
          <dl className="aml-Fields">
            {details.description ? (
              <>
                <dt>Description</dt>
                <dd>{details.description}</dd>
              </>
            ) : null}
            <dt>Registered</dt>
            <dd>{formatCreated(details.createdTime)}</dd>
            {details.framework ? (
              <>
                <dt>Framework</dt>
                <dd>
                  {details.framework}
                  {details.frameworkVersion ? ` ${details.frameworkVersion}` : ''}
                </dd>
              </>
            ) : null}
            <dt>Id</dt>
            <dd>
              <code>{details.id}</code>
            </dd>
          </dl>
          <Versions model={model} details={details} />
          <Section title="Tags" testId="aml-model-tags">
            <KeyValues values={details.tags} testId="aml-model-tag-list" empty="No tags" />
          </Section>
          <Section title="Properties" testId="aml-model-properties">
            <KeyValues
              values={details.properties}
              testId="aml-model-property-list"
              empty="No properties"
            />
          </Section>
          <Lineage details={details} actions={actions} />
          <Deployments details={details} />
          <Files details={details} />
        </>
      ) : model.message ? null : (
        <div className="aml-Loading">
          Loading model {model.name} version {model.version}…
        </div>
      )}
    </div>
  );
}

/** The page's content (wrapped in a MainAreaWidget by the plugin). */
export class ModelPanel extends PolledWidget<ModelPageModel> {
  constructor(
    readonly modelName: string,
    version: number,
    private _actions: IModelPanelActions
  ) {
    super(standby => new ModelPageModel(modelName, version, { standby }));
    this.addClass('aml-RunPanel');
    this.addClass('aml-ModelPanel');
    this.node.dataset.testid = 'aml-model-panel';
    this.node.dataset.model = modelName;
    this.model.changed.connect(this._onChanged, this);
    this.model.start();
  }

  /** The version shown (what the layout restorer remembers). */
  get version(): number {
    return this.model.version;
  }

  render(): JSX.Element {
    return <ModelView model={this.model} actions={this._actions} />;
  }

  private _onChanged(): void {
    const label = `${this.modelName}:${this.model.version}`;
    if (this.title.label !== label) {
      this.title.label = label;
      this.title.caption = `Model ${this.modelName}, version ${this.model.version}`;
    }
    this.node.dataset.version = String(this.model.version);
  }
}
