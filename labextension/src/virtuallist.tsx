/**
 * A virtualized list of fixed-height rows: only the rows in view (plus a few
 * around them) are in the DOM, so 100,000 rows scroll like 20.
 */
import * as React from 'react';

export interface IVirtualListProps {
  /** How many rows the list has. */
  count: number;
  /** Every row's height in pixels. */
  rowHeight: number;
  /** Draws row `index` (absolutely positioned by the list). */
  renderRow: (index: number, style: React.CSSProperties) => React.ReactNode;
  /** Told which rows are in view (inclusive), whenever that changes. */
  onRange?: (first: number, last: number) => void;
  /** A new value scrolls back to the top (new filters). */
  resetKey?: unknown;
  /** Rows drawn beyond each edge of the view. */
  overscan?: number;
  className?: string;
}

export function VirtualList(props: IVirtualListProps): JSX.Element {
  const { count, rowHeight, renderRow, onRange, resetKey, overscan = 6 } = props;
  const ref = React.useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = React.useState(0);
  const [height, setHeight] = React.useState(0);
  const frame = React.useRef(0);

  // Follow the viewport's size.
  React.useEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    setHeight(node.clientHeight);
    const observer = new ResizeObserver(() => setHeight(node.clientHeight));
    observer.observe(node);
    return () => observer.disconnect();
  }, []);

  // New filters: back to the top.
  React.useEffect(() => {
    if (ref.current) {
      ref.current.scrollTop = 0;
    }
    setScrollTop(0);
  }, [resetKey]);

  React.useEffect(() => () => cancelAnimationFrame(frame.current), []);

  const onScroll = React.useCallback(() => {
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => {
      if (ref.current) {
        setScrollTop(ref.current.scrollTop);
      }
    });
  }, []);

  const visibleFirst = Math.floor(scrollTop / rowHeight);
  const visibleLast = Math.min(
    count - 1,
    Math.ceil((scrollTop + Math.max(height, rowHeight)) / rowHeight)
  );
  const first = Math.max(0, visibleFirst - overscan);
  const last = Math.min(count - 1, visibleLast + overscan);

  React.useEffect(() => {
    if (onRange) {
      onRange(first, Math.max(first, last));
    }
  }, [first, last, onRange]);

  const rows: React.ReactNode[] = [];
  for (let i = first; i <= last; i++) {
    rows.push(
      renderRow(i, {
        position: 'absolute',
        top: i * rowHeight,
        height: rowHeight,
        left: 0,
        right: 0
      })
    );
  }
  return (
    <div
      ref={ref}
      className={props.className}
      onScroll={onScroll}
      style={{ overflowY: 'auto', position: 'relative' }}
    >
      <div style={{ height: count * rowHeight, position: 'relative' }}>{rows}</div>
    </div>
  );
}
