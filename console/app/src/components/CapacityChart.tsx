// Capacity against allocatable (and what is allocated) per pool and class, as SVG bars. Each
// chart scales to its largest value: machine pools count machines, volume pools bytes.

/** Bar is one pool's figures for one class. */
export interface Bar {
  pool: string;
  cls: string;
  capacity: number;
  allocatable: number;
  allocated: number;
}

const rowHeight = 34;
const labelWidth = 200;
const barWidth = 360;
const valueWidth = 220;

/** CapacityBars draws one chart; format writes a value (a count or bytes). */
export function CapacityBars({ title, bars, format }: { title: string; bars: Bar[]; format: (n: number) => string }) {
  const max = Math.max(1, ...bars.map((b) => Math.max(b.capacity, b.allocatable, b.allocated)));
  const scale = (n: number) => (Number.isFinite(n) && n > 0 ? (n / max) * barWidth : 0);
  const height = rowHeight * bars.length + 8;
  const width = labelWidth + barWidth + valueWidth;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      {bars.length === 0 ? (
        <p className="muted">No pools report capacity.</p>
      ) : (
        <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={title}>
          {bars.map((b, i) => {
            const y = i * rowHeight + 4;
            const label = `${b.pool} / ${b.cls}`;
            return (
              <g key={label} data-testid={`capacity-${b.pool}-${b.cls}`}>
                <title>
                  {`${label}: capacity ${format(b.capacity)}, allocatable ${format(b.allocatable)}, allocated ${format(b.allocated)}`}
                </title>
                <text x={0} y={y + 19} className="chart-label">
                  {label}
                </text>
                <rect x={labelWidth} y={y + 2} width={scale(b.capacity)} height={24} className="bar-capacity" />
                <rect x={labelWidth} y={y + 7} width={scale(b.allocatable)} height={14} className="bar-allocatable" />
                <rect x={labelWidth} y={y + 11} width={scale(b.allocated)} height={6} className="bar-allocated" />
                <text x={labelWidth + barWidth + 8} y={y + 19} className="chart-value">
                  {`${format(b.allocated)} / ${format(b.allocatable)} / ${format(b.capacity)}`}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}

/** ChartLegend names the three bars. */
export function ChartLegend() {
  return (
    <p className="legend">
      <span className="swatch bar-capacity" /> capacity <span className="swatch bar-allocatable" /> allocatable{" "}
      <span className="swatch bar-allocated" /> allocated (values: allocated / allocatable / capacity)
    </p>
  );
}
