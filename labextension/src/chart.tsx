/**
 * Metric charts with uPlot: canvas-drawn, fast with 100,000 points a series.
 */
import * as React from 'react';
import uPlot from 'uplot';

/** One line of a chart. */
export interface ISeries {
  label: string;
  xs: number[];
  /** Null: no value at that x (a gap). */
  ys: (number | null)[];
  /** The last value as logged, when it may not be a number ("NaN", "Infinity"). */
  last?: number | string | null;
}

const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf'
];

export function seriesColor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

function chartData(series: ISeries[]): uPlot.AlignedData {
  if (series.length === 1) {
    return [series[0].xs, series[0].ys];
  }
  if (series.length === 0) {
    return [[]];
  }
  return uPlot.join(series.map(s => [s.xs, s.ys] as uPlot.AlignedData));
}

function options(series: ISeries[], width: number, height: number): uPlot.Options {
  const axisColor = cssVar('--jp-ui-font-color2', '#616161');
  const gridColor = cssVar('--jp-border-color2', '#e0e0e0');
  const axis: uPlot.Axis = {
    stroke: axisColor,
    grid: { stroke: gridColor, width: 1 },
    ticks: { stroke: gridColor, width: 1 },
    font: '11px sans-serif'
  };
  return {
    width,
    height,
    scales: { x: { time: false } },
    legend: { show: series.length > 1, live: true },
    cursor: { drag: { x: true, y: false } },
    axes: [{ ...axis }, { ...axis, size: 56 }],
    series: [
      { label: 'step' },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: seriesColor(i),
        width: 1.5,
        spanGaps: true,
        points: { show: s.xs.length < 60 }
      }))
    ]
  };
}

export interface IChartProps {
  /** The metric's name (the `data-metric` attribute). */
  metric: string;
  series: ISeries[];
  /** Bump to redraw after points were appended to the series' arrays. */
  version: number;
  height?: number;
}

/** One metric's chart; keeps its uPlot across updates and follows its container's width. */
export function MetricChart(props: IChartProps): JSX.Element {
  const { metric, series, version, height = 180 } = props;
  const box = React.useRef<HTMLDivElement>(null);
  const plot = React.useRef<uPlot | null>(null);
  const shape = React.useRef('');

  const latest = React.useRef(series);
  latest.current = series;
  const key = series.map(s => s.label).join('\u0000');

  // (Re)build when the set of series changes, else only swap in the new data.
  React.useEffect(() => {
    const node = box.current;
    if (!node) {
      return;
    }
    const current = latest.current;
    const width = Math.max(200, node.clientWidth);
    if (!plot.current || shape.current !== key) {
      plot.current?.destroy();
      plot.current = new uPlot(options(current, width, height), chartData(current), node);
      shape.current = key;
    } else {
      plot.current.setData(chartData(current));
    }
  }, [key, version, height]);

  React.useEffect(() => {
    const node = box.current;
    if (!node) {
      return;
    }
    const observer = new ResizeObserver(() => {
      const width = Math.max(200, node.clientWidth);
      if (plot.current && Math.abs(plot.current.width - width) > 1) {
        plot.current.setSize({ width, height });
      }
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [height]);

  React.useEffect(
    () => () => {
      plot.current?.destroy();
      plot.current = null;
    },
    []
  );

  const only = series.length === 1 && series[0].ys.length ? series[0] : undefined;
  const last = only ? only.last ?? only.ys[only.ys.length - 1] : undefined;
  return (
    <div className="aml-Chart" data-testid="aml-metric-chart" data-metric={metric}>
      <div className="aml-Chart-title">
        <span className="aml-Chart-name">{metric}</span>
        {last !== undefined ? (
          <span className="aml-Chart-last">
            last {formatShort(last)} · {series[0].ys.length.toLocaleString()} points
          </span>
        ) : null}
      </div>
      <div className="aml-Chart-plot" ref={box} />
    </div>
  );
}

function formatShort(value: number | string | null): string {
  if (typeof value !== 'number') {
    return String(value ?? '');
  }
  if (!isFinite(value)) {
    return String(value);
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6)
    ? value.toExponential(3)
    : String(Number(value.toPrecision(5)));
}
