/**
 * The sidebar's Models section: the latest version of each registered model, with the poll
 * of the sidebar. A click opens the model's page; the row's "run" link the run that made it.
 */
import * as React from 'react';

import { RunListModel } from './model';

/** Registered models (latest version of each); a click opens the model's page, the small
 * "run" link the run that made it. */
export function ModelList(props: {
  model: RunListModel;
  openRun: (id: string) => void;
  openModel: (name: string, version: number) => void;
}): JSX.Element | null {
  const { model, openRun, openModel } = props;
  const [open, setOpen] = React.useState(false);
  const models = model.models;
  if (!model.workspace || !models.length) {
    return null;
  }
  return (
    <div className="aml-Experiments aml-Models">
      <button
        className="aml-SectionTitle"
        data-testid="aml-models-title"
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        title={open ? 'Hide the models' : 'Show the registered models'}
      >
        <span className="aml-Caret">{open ? '\u25BE' : '\u25B8'}</span>
        Models ({models.length})
      </button>
      {open ? (
        <ul className="aml-ExperimentList" role="list">
          {models.map(m => (
            <li
              key={m.id}
              className="aml-ExperimentRow"
              data-testid="aml-model-row"
              data-model={m.id}
              tabIndex={0}
              title={[
                `${m.id}: ${m.path} (click to open the model's page)`,
                m.framework ? `framework ${m.framework}` : '',
                m.runId ? `from run ${m.runId}` : 'registered from a local path',
                Object.entries(m.tags)
                  .map(([k, v]) => (v === null ? k : `${k}=${v}`))
                  .join(', ')
              ]
                .filter(Boolean)
                .join('\n')}
              onClick={() => openModel(m.name, m.version)}
              onKeyDown={e => {
                if (e.key === 'Enter') {
                  openModel(m.name, m.version);
                }
              }}
            >
              <span className="aml-ExperimentName">{m.id}</span>
              <span className="aml-Count">{m.framework ?? ''}</span>
              {m.runId ? (
                <button
                  className="aml-LinkButton aml-ModelRunLink"
                  data-testid="aml-model-run-link"
                  title={`Open run ${m.runId}, which made it`}
                  onClick={e => {
                    e.stopPropagation();
                    openRun(m.runId!);
                  }}
                >
                  run
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
