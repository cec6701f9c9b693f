/**
 * The comparison table, as MLflow's compare view and W&B's run comparer have it:
 * one column per run, rows of parameters, arguments, tags and final metric values.
 * A row whose values differ across the runs is marked; "Show only differences"
 * hides the others.
 */
import * as React from 'react';

import { IRunDetails } from './api';
import { seriesColor } from './chart';
import { formatDuration, formatValue, runDuration, runName } from './format';
import { IScalarData, MetricStore } from './runmodel';
import { StatusLabel } from './status';

/** What a cell shows where a run has no such value. */
export const MISSING = '—';
/** Where "Show only differences" is remembered (localStorage). */
const ONLY_DIFFERENCES_KEY = 'aml-jupyter:compare-only-differences';

/** What the table needs of one compared run. */
export interface ITableRun {
  id: string;
  details: IRunDetails | null;
  metrics: MetricStore;
}

/**
 * A metric to chart: two numbers or more. One logged once (C, max_iter, a final
 * accuracy) is a summary, not a chart: the RunDetails widget's rule
 * (`MetricSeries.is_series` in aml_jupyter/frontends/widgets/charts.py).
 */
export function isSeries(data: IScalarData | undefined): boolean {
  let numbers = 0;
  for (const y of data?.ys ?? []) {
    if (y !== null && ++numbers >= 2) {
      return true;
    }
  }
  return false;
}

/**
 * A script's arguments as name -> value, as the RunDetails widget reads them
 * (`parse_arguments` in widgets/feed.py): `--lr 0.1` and `--lr=0.1` -> lr: 0.1,
 * a lone `--verbose` -> verbose: true, anything else "argument N" (from 1).
 */
export function parseArguments(args: readonly unknown[]): Map<string, string> {
  const words = args.map(a => (typeof a === 'string' ? a : JSON.stringify(a)));
  const isOption = (word: string) =>
    word.startsWith('-') && word.length > 1 && !isNumber(word);
  const found = new Map<string, string>();
  let position = 0;
  for (let i = 0; i < words.length; ) {
    const word = words[i++];
    if (word === '--') {
      continue;
    }
    if (isOption(word)) {
      const bare = word.replace(/^-+/, '');
      const eq = bare.indexOf('=');
      let value: string;
      if (eq >= 0) {
        value = bare.slice(eq + 1);
      } else if (i < words.length && !isOption(words[i])) {
        value = words[i++];
      } else {
        value = 'true';
      }
      found.set(eq >= 0 ? bare.slice(0, eq) : bare, value);
    } else {
      found.set(`argument ${++position}`, word);
    }
  }
  return found;
}

function isNumber(word: string): boolean {
  return word.trim() !== '' && !isNaN(Number(word));
}

export interface ICompareRow {
  name: string;
  /** One cell per run, as shown (`MISSING` where the run has none). */
  cells: string[];
  /** The cells are not all the same. */
  differs: boolean;
}

export interface ICompareSection {
  key: 'parameters' | 'arguments' | 'tags' | 'metrics';
  title: string;
  rows: ICompareRow[];
}

function row(name: string, values: (string | undefined)[]): ICompareRow {
  const cells = values.map(v => (v === undefined ? MISSING : v));
  return { name, cells, differs: new Set(cells).size > 1 };
}

/** The table's rows, by section; a section no run has anything in is left out. */
export function compareSections(runs: readonly ITableRun[]): ICompareSection[] {
  const metricNames = new Set<string>();
  const argNames = new Set<string>();
  const tagNames = new Set<string>();
  const args = runs.map(run => parseArguments(run.details?.arguments ?? []));
  for (const [i, run] of runs.entries()) {
    Object.keys(run.details?.metrics ?? {}).forEach(n => metricNames.add(n));
    run.metrics.scalars.forEach((_, n) => metricNames.add(n));
    args[i].forEach((_, n) => argNames.add(n));
    Object.keys(run.details?.tags ?? {}).forEach(n => tagNames.add(n));
  }
  const lastValue = (run: ITableRun, name: string): string | undefined => {
    const series = run.metrics.scalars.get(name);
    const value = series?.ys.length ? series.last : run.details?.metrics[name];
    return value === undefined ? undefined : formatValue(value);
  };
  const parameters: ICompareRow[] = [];
  const metrics: ICompareRow[] = [];
  for (const name of metricNames) {
    // A series in any run is charted; one value in every run is a parameter.
    const charted = runs.some(run => isSeries(run.metrics.scalars.get(name)));
    (charted ? metrics : parameters).push(row(name, runs.map(run => lastValue(run, name))));
  }
  const sections: ICompareSection[] = [
    { key: 'parameters', title: 'Parameters', rows: parameters },
    {
      key: 'arguments',
      title: 'Arguments',
      rows: [...argNames].map(name => row(name, args.map(a => a.get(name))))
    },
    {
      key: 'tags',
      title: 'Tags',
      rows: [...tagNames].map(name =>
        row(
          name,
          runs.map(run => {
            const tags = run.details?.tags ?? {};
            return name in tags ? (tags[name] ?? '') : undefined;
          })
        )
      )
    },
    { key: 'metrics', title: 'Metrics (last value)', rows: metrics }
  ];
  return sections.filter(s => s.rows.length > 0);
}

function readOnlyDifferences(): boolean {
  try {
    return window.localStorage.getItem(ONLY_DIFFERENCES_KEY) === 'true';
  } catch {
    return false; // storage blocked: the default
  }
}

function writeOnlyDifferences(value: boolean): void {
  try {
    window.localStorage.setItem(ONLY_DIFFERENCES_KEY, String(value));
  } catch {
    // storage blocked: the choice lasts as long as the panel
  }
}

function RunHeader(props: {
  run: ITableRun;
  index: number;
  openRun: (id: string) => void;
}): JSX.Element {
  const { run, index } = props;
  const details = run.details;
  const name = details ? runName(details) : run.id;
  return (
    <th scope="col" data-run-id={run.id} className="aml-CompareTable-run">
      <div>
        <span className="aml-Swatch" style={{ background: seriesColor(index) }} />
        <button className="aml-LinkButton" onClick={() => props.openRun(run.id)} title={run.id}>
          {name}
        </button>
      </div>
      {name !== run.id ? <div className="aml-CompareTable-id">{run.id}</div> : null}
      <div className="aml-CompareTable-facts">
        {details ? (
          <>
            <StatusLabel status={details.status} testId="aml-compare-status" />
            <span data-testid="aml-compare-duration">
              {formatDuration(runDuration(details)) || MISSING}
            </span>
          </>
        ) : (
          '…'
        )}
      </div>
    </th>
  );
}

function Row(props: { row: ICompareRow; section: string; numeric: boolean }): JSX.Element {
  const { row, section } = props;
  return (
    <tr
      className={row.differs ? 'aml-mod-differs' : undefined}
      data-testid="aml-compare-row"
      data-section={section}
      data-name={row.name}
      data-differs={String(row.differs)}
    >
      <th scope="row">
        {/* Not colour alone: a sign, named for screen readers. */}
        <span
          className="aml-CompareTable-marker"
          aria-label={row.differs ? 'differs: ' : undefined}
          title={row.differs ? 'Differs across the runs' : undefined}
        >
          {row.differs ? '≠' : ''}
        </span>
        {row.name}
      </th>
      {row.cells.map((cell, i) => (
        <td
          key={i}
          className={`${props.numeric ? 'aml-Number' : ''}${cell === MISSING ? ' aml-mod-missing' : ''}`}
          title={cell === MISSING ? 'Not set in this run' : cell}
        >
          {cell}
        </td>
      ))}
    </tr>
  );
}

/** Runs side by side: their facts in the header, then a row per name. */
export function CompareTable(props: {
  runs: readonly ITableRun[];
  openRun: (id: string) => void;
}): JSX.Element {
  const { runs } = props;
  const [onlyDifferences, setOnlyDifferences] = React.useState(readOnlyDifferences);
  const sections = compareSections(runs);
  const all = sections.reduce((n, s) => n + s.rows.length, 0);
  const differing = sections.reduce((n, s) => n + s.rows.filter(r => r.differs).length, 0);
  const toggle = (event: React.ChangeEvent<HTMLInputElement>) => {
    setOnlyDifferences(event.target.checked);
    writeOnlyDifferences(event.target.checked);
  };
  return (
    <div className="aml-CompareTable-wrap">
      <div className="aml-CompareTable-tools">
        <label>
          <input
            type="checkbox"
            data-testid="aml-compare-only-differences"
            checked={onlyDifferences}
            onChange={toggle}
          />{' '}
          Show only differences
        </label>
        <span className="aml-Section-note" data-testid="aml-compare-counts">
          {differing} of {all} rows differ
        </span>
      </div>
      <table className="aml-Table aml-CompareTable" data-testid="aml-compare-table">
        <thead>
          <tr>
            <th scope="col">Run</th>
            {runs.map((run, i) => (
              <RunHeader key={run.id} run={run} index={i} openRun={props.openRun} />
            ))}
          </tr>
        </thead>
        {sections.map(section => {
          const shown = onlyDifferences ? section.rows.filter(r => r.differs) : section.rows;
          const hidden = section.rows.length - shown.length;
          const numeric = section.key === 'parameters' || section.key === 'metrics';
          return (
            <tbody key={section.key} data-section={section.key}>
              <tr className="aml-CompareTable-section">
                <th scope="rowgroup" colSpan={runs.length + 1}>
                  {section.title}
                </th>
              </tr>
              {shown.map(r => (
                <Row key={r.name} row={r} section={section.key} numeric={numeric} />
              ))}
              {hidden > 0 ? (
                <tr className="aml-CompareTable-hidden" data-testid="aml-compare-hidden">
                  <td colSpan={runs.length + 1}>
                    {hidden} equal {hidden === 1 ? 'row' : 'rows'} hidden
                  </td>
                </tr>
              ) : null}
            </tbody>
          );
        })}
      </table>
    </div>
  );
}
