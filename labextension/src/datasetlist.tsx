/**
 * The sidebar's Datasets section: the latest version of each registered dataset with its size,
 * file count and how many runs read or wrote it, refreshed with the sidebar's poll.
 */
import * as React from 'react';

import { formatBytes } from './format';
import { RunListModel } from './model';

/** Registered datasets (latest version of each); the row's tooltip says the rest. */
export function DatasetList(props: { model: RunListModel }): JSX.Element | null {
  const { model } = props;
  const [open, setOpen] = React.useState(false);
  const datasets = model.datasets;
  if (!model.workspace || !datasets.length) {
    return null;
  }
  return (
    <div className="aml-Experiments aml-Datasets">
      <button
        className="aml-SectionTitle"
        data-testid="aml-datasets-title"
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        title={open ? 'Hide the datasets' : 'Show the registered datasets'}
      >
        <span className="aml-Caret">{open ? '\u25BE' : '\u25B8'}</span>
        Datasets ({datasets.length})
      </button>
      {open ? (
        <ul className="aml-ExperimentList" role="list">
          {datasets.map(d => (
            <li
              key={d.id}
              className="aml-ExperimentRow"
              data-testid="aml-dataset-row"
              data-dataset={`${d.name}:${d.version}`}
              title={[
                `${d.name} version ${d.version} (${d.kind})`,
                d.description ?? '',
                `${d.files} file${d.files === 1 ? '' : 's'}, ${formatBytes(d.size)}`,
                `registered ${d.registered}`,
                `${d.runs} run${d.runs === 1 ? '' : 's'} read or wrote it`,
                Object.entries(d.tags)
                  .map(([k, v]) => (v === null ? k : `${k}=${v}`))
                  .join(', '),
                `Dataset.get_by_name(ws, '${d.name}', ${d.version})`
              ]
                .filter(Boolean)
                .join('\n')}
            >
              <span className="aml-ExperimentName">
                {d.name}:{d.version}
              </span>
              <span className="aml-Count" data-testid="aml-dataset-size">
                {d.files} files, {formatBytes(d.size)}
              </span>
              {d.runs ? (
                <span className="aml-Count" data-testid="aml-dataset-runs">
                  {d.runs} run{d.runs === 1 ? '' : 's'}
                </span>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
