import * as React from 'react';

import { statusGlyph } from './format';

/** A run's status as a coloured glyph (its name in the tooltip and for screen readers). */
export function StatusBadge(props: { status: string; testId?: string }): JSX.Element {
  const { status } = props;
  return (
    <span
      className={`aml-Status aml-Status-${status}`}
      data-testid={props.testId ?? 'aml-status'}
      data-status={status}
      title={status}
      aria-label={status}
      role="img"
    >
      {statusGlyph(status)}
    </span>
  );
}

/** The status as a badge with its name, for panel headers. */
export function StatusLabel(props: { status: string; testId?: string }): JSX.Element {
  const { status } = props;
  return (
    <span
      className={`aml-StatusLabel aml-Status-${status}`}
      data-testid={props.testId ?? 'aml-status'}
      data-status={status}
    >
      <span className="aml-StatusGlyph" aria-hidden="true">
        {statusGlyph(status)}
      </span>
      {status}
    </span>
  );
}
