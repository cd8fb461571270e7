// Pools: machine pools and volume pools (cluster objects), live, with their capacity charts.
import { useMemo } from "react";
import { formatBytes, parseQuantity } from "../api/quantity";
import { collectionPath, machinePools, volumePools } from "../api/resources";
import type { Pool } from "../api/types";
import { CapacityBars, ChartLegend, type Bar } from "../components/CapacityChart";
import { ResourceTable } from "../components/ResourceTable";
import { useLiveList } from "../hooks/useLiveList";

/** barsOf lists, per pool and class, the pool's capacity, allocatable and allocated. */
export function barsOf(pools: Pool[]): Bar[] {
  const bars: Bar[] = [];
  for (const p of pools) {
    const s = p.status ?? {};
    const classes = new Set([...Object.keys(s.capacity ?? {}), ...Object.keys(s.allocatable ?? {})]);
    for (const cls of [...classes].sort()) {
      const value = (l: Record<string, string> | undefined) => parseQuantity(l?.[cls] ?? "0");
      bars.push({
        pool: p.metadata.name,
        cls,
        capacity: value(s.capacity),
        allocatable: value(s.allocatable),
        allocated: value(s.allocated),
      });
    }
  }
  return bars;
}

const count = (n: number) => (Number.isFinite(n) ? String(n) : "?");

export function PoolsPage({ ns }: { ns: string }) {
  const machinePoolList = useLiveList<Pool>(collectionPath(machinePools, ""));
  const volumePoolList = useLiveList<Pool>(collectionPath(volumePools, ""));
  const machineBars = useMemo(() => barsOf(machinePoolList.items), [machinePoolList.items]);
  const volumeBars = useMemo(() => barsOf(volumePoolList.items), [volumePoolList.items]);
  return (
    <>
      <h1>Pools</h1>
      <section aria-labelledby="capacity-heading">
        <h2 id="capacity-heading">Capacity</h2>
        <ChartLegend />
        <div className="charts" data-testid="capacity-chart">
          <CapacityBars title="Machine pools: machines per class" bars={machineBars} format={count} />
          <CapacityBars title="Volume pools: bytes per class" bars={volumeBars} format={formatBytes} />
        </div>
      </section>
      <section aria-labelledby="machinepools-heading">
        <h2 id="machinepools-heading">{machinePools.title}</h2>
        <ResourceTable resource={machinePools} ns={ns} list={machinePoolList} />
      </section>
      <section aria-labelledby="volumepools-heading">
        <h2 id="volumepools-heading">{volumePools.title}</h2>
        <ResourceTable resource={volumePools} ns={ns} list={volumePoolList} />
      </section>
    </>
  );
}
