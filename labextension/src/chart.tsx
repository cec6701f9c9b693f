/**
 * Metric charts with uPlot: canvas-drawn, fast with 100,000 points a series.
 */
import * as React from 'react';
import uPlot from 'uplot';

/** A window of a series in full resolution (what a zoomed chart loaded). */
export interface IRange {
  xs: number[];
  ys: (number | null)[];
}

/** One line of a chart. */
export interface ISeries {
  label: string;
  xs: number[];
  /** Null: no value at that x (a gap). */
  ys: (number | null)[];
  /** The last value as logged, when it may not be a number ("NaN", "Infinity"). */
  last?: number | string | null;
  /** Points logged: more than `xs` holds when the server downsampled them. */
  count?: number;
  /** Loads the points from x `min` to `max` in full (for a downsampled series zoomed in). */
  loadRange?: (min: number, max: number) => Promise<IRange | null>;
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

/** The colours a chart draws with: JupyterLab's theme at the time it is drawn. */
export interface IChartColors {
  text: string;
  grid: string;
  ticks: string;
  background: string;
}

export function chartColors(): IChartColors {
  return {
    text: cssVar('--jp-ui-font-color1', 'rgba(0, 0, 0, 0.87)'),
    grid: cssVar('--jp-border-color2', '#e0e0e0'),
    ticks: cssVar('--jp-border-color1', '#bdbdbd'),
    background: cssVar('--jp-layout-color1', '#ffffff')
  };
}

const themeListeners = new Set<() => void>();
let themeObserver: MutationObserver | null = null;

/** Redraws every chart with the colours of the theme now shown (IThemeManager.themeChanged). */
export function themeChanged(): void {
  // A frame later: the new theme's stylesheet is applied by then.
  requestAnimationFrame(() => themeListeners.forEach(listener => listener()));
}

/** A number that changes whenever the theme does. */
function useTheme(): number {
  const [version, setVersion] = React.useState(0);
  React.useEffect(() => {
    const listener = () => setVersion(v => v + 1);
    themeListeners.add(listener);
    if (!themeObserver) {
      // Also where no theme manager tells (Notebook 7 without one): Lab marks the body.
      themeObserver = new MutationObserver(themeChanged);
      themeObserver.observe(document.body, {
        attributes: true,
        attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
      });
    }
    return () => {
      themeListeners.delete(listener);
    };
  }, []);
  return version;
}

/** `xs`/`ys` with the points from `range`'s first to last x replaced by `range`'s. */
function withRange(xs: number[], ys: (number | null)[], range: IRange): IRange {
  if (!range.xs.length) {
    return { xs, ys };
  }
  const min = range.xs[0];
  const max = range.xs[range.xs.length - 1];
  const outX: number[] = [];
  const outY: (number | null)[] = [];
  let i = 0;
  for (; i < xs.length && xs[i] < min; i++) {
    outX.push(xs[i]);
    outY.push(ys[i]);
  }
  outX.push(...range.xs);
  outY.push(...range.ys);
  for (; i < xs.length; i++) {
    if (xs[i] > max) {
      outX.push(xs[i]);
      outY.push(ys[i]);
    }
  }
  return { xs: outX, ys: outY };
}

function chartData(series: ISeries[], ranges: (IRange | null)[]): uPlot.AlignedData {
  const columns = series.map((s, i) => {
    const range = ranges[i];
    return range ? withRange(s.xs, s.ys, range) : { xs: s.xs, ys: s.ys };
  });
  if (columns.length === 1) {
    return [columns[0].xs, columns[0].ys];
  }
  if (columns.length === 0) {
    return [[]];
  }
  return uPlot.join(columns.map(c => [c.xs, c.ys] as uPlot.AlignedData));
}

function options(
  series: ISeries[],
  width: number,
  height: number,
  colors: IChartColors,
  onSelect: (u: uPlot) => void
): uPlot.Options {
  const axis: uPlot.Axis = {
    stroke: colors.text,
    grid: { stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.ticks, width: 1 },
    font: '11px sans-serif'
  };
  return {
    width,
    height,
    scales: { x: { time: false } },
    legend: { show: series.length > 1, live: true },
    cursor: { drag: { x: true, y: false } },
    axes: [{ ...axis }, { ...axis, size: 56 }],
    hooks: { setSelect: [onSelect] },
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

/**
 * One metric's chart; keeps its uPlot across updates and follows its container's width
 * and JupyterLab's theme. Drag to zoom: a downsampled series then loads that window in
 * full; a double click shows all again.
 */
export function MetricChart(props: IChartProps): JSX.Element {
  const { metric, series, version, height = 180 } = props;
  const box = React.useRef<HTMLDivElement>(null);
  const plot = React.useRef<uPlot | null>(null);
  const shape = React.useRef('');
  const theme = useTheme();
  const ranges = React.useRef<(IRange | null)[]>([]);
  const zoomed = React.useRef(false);
  const [loaded, setLoaded] = React.useState<'' | 'loading' | 'full'>('');

  const latest = React.useRef(series);
  latest.current = series;
  const key = series.map(s => s.label).join('\u0000');

  const onSelect = React.useCallback((u: uPlot) => {
    if (u.select.width < 3) {
      return;
    }
    zoomed.current = true;
    const min = u.posToVal(u.select.left, 'x');
    const max = u.posToVal(u.select.left + u.select.width, 'x');
    const current = latest.current;
    const loads = current.map((s, i) =>
      s.loadRange && (s.count ?? s.xs.length) > s.xs.length
        ? s.loadRange(min, max).then(range => {
            ranges.current[i] = range;
          })
        : null
    );
    if (!loads.some(l => l)) {
      return;
    }
    setLoaded('loading');
    void Promise.allSettled(loads).then(() => {
      if (plot.current && latest.current === current) {
        plot.current.setData(chartData(current, ranges.current), false);
      }
      setLoaded('full');
    });
  }, []);

  // (Re)build when the set of series or the theme changes, else only swap in the new data.
  React.useEffect(() => {
    const node = box.current;
    if (!node) {
      return;
    }
    const current = latest.current;
    const width = Math.max(200, node.clientWidth);
    if (!plot.current || shape.current !== `${key}\u0001${theme}`) {
      if (shape.current.split('\u0001')[0] !== key) {
        ranges.current = [];
        zoomed.current = false;
      }
      plot.current?.destroy();
      const colors = chartColors();
      const made = new uPlot(
        options(current, width, height, colors, onSelect),
        chartData(current, ranges.current),
        node
      );
      made.over.addEventListener('dblclick', () => {
        zoomed.current = false; // uPlot shows every x again
        setLoaded('');
      });
      plot.current = made;
      shape.current = `${key}\u0001${theme}`;
      // What the canvas was drawn with, for tests and for reading it back.
      node.dataset.textColor = colors.text;
      node.dataset.gridColor = colors.grid;
      node.dataset.background = colors.background;
    } else {
      plot.current.setData(chartData(current, ranges.current), !zoomed.current);
    }
  }, [key, version, height, theme]);

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
  const count = only ? only.count ?? only.ys.length : 0;
  const sampled = only !== undefined && count > only.ys.length;
  return (
    <div
      className="aml-Chart"
      data-testid="aml-metric-chart"
      data-metric={metric}
      data-zoom={loaded || undefined}
    >
      <div className="aml-Chart-title">
        <span className="aml-Chart-name">{metric}</span>
        {last !== undefined ? (
          <span className="aml-Chart-last">
            last {formatShort(last)} · {count.toLocaleString()} points
            {sampled ? (
              <span
                className="aml-Chart-sampled"
                data-testid="aml-chart-sampled"
                title="Downsampled on the server (the smallest and largest value of each stretch). Drag across the chart to see that stretch in full; double-click to see all again."
              >
                {' '}
                ({only.ys.length.toLocaleString()} drawn
                {loaded === 'full' ? ', zoomed window in full' : ', drag to zoom'})
              </span>
            ) : null}
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
