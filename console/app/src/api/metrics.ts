// Figures the end-to-end test reads from the page: window.__ferriteMetrics.

/** FerriteMetrics are milliseconds since navigation start (performance.now()). */
export interface FerriteMetrics {
  /** When a list with at least one row was first rendered; null until then. */
  firstListRenderedMs: number | null;
  /** How many rows that first list had. */
  firstListRows: number | null;
}

declare global {
  interface Window {
    __ferriteMetrics: FerriteMetrics;
  }
}

/** initMetrics makes window.__ferriteMetrics with nothing measured yet. */
export function initMetrics(): void {
  window.__ferriteMetrics = { firstListRenderedMs: null, firstListRows: null };
}

/** recordListRendered notes the first render of a non-empty list; later ones are ignored. */
export function recordListRendered(rows: number): void {
  const m = window.__ferriteMetrics;
  if (!m || m.firstListRenderedMs !== null || rows === 0) return;
  m.firstListRenderedMs = Math.round(performance.now());
  m.firstListRows = rows;
}
