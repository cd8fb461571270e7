// What each list shows about an object besides its name and state (the detail page shows
// the same facts). Module constants, so that memoized rows see the same columns each render.
import type { ReactNode } from "react";
import { formatBytes, parseQuantity } from "../api/quantity";
import type { Resource } from "../api/resources";
import type { Condition, KubeObject, Machine, Network, NetworkInterface, Pool, VirtualIP, Volume } from "../api/types";

/** Column is one fact: its heading and how to show it for an object. */
export interface Column<T> {
  title: string;
  cell: (obj: T) => ReactNode;
}

const list = (values: (string | undefined)[] | undefined) => (values ?? []).filter(Boolean).join(", ");

export const machineColumns: Column<Machine>[] = [
  { title: "Class", cell: (m) => m.spec.machineClassRef?.name },
  { title: "Image", cell: (m) => m.spec.image || bootVolume(m) },
  { title: "Pool", cell: (m) => m.spec.machinePoolRef?.name ?? "—" },
  { title: "IPs", cell: (m) => list(m.status?.networkInterfaces?.flatMap((n) => [...(n.ips ?? []), n.virtualIP])) },
  { title: "Power", cell: (m) => m.spec.power ?? "On" },
];

function bootVolume(m: Machine): string {
  return m.spec.volumes?.length ? "(boots from a volume)" : "";
}

export const volumeColumns: Column<Volume>[] = [
  { title: "Class", cell: (v) => v.spec.volumeClassRef?.name },
  { title: "Size", cell: (v) => v.spec.resources?.storage ?? "" },
  { title: "Pool", cell: (v) => v.spec.volumePoolRef?.name ?? "—" },
  { title: "Used by", cell: (v) => v.spec.claimRef?.name ?? "" },
];

export const networkColumns: Column<Network>[] = [
  { title: "VNI", cell: (n) => n.status?.vni ?? "" },
  {
    title: "Peerings",
    cell: (n) =>
      list(
        n.spec.peerings?.map((p) => (p.networkRef.namespace ? `${p.networkRef.namespace}/` : "") + p.networkRef.name),
      ),
  },
  { title: "Peered", cell: (n) => list(n.status?.peerings) },
];

export const networkInterfaceColumns: Column<NetworkInterface>[] = [
  { title: "Network", cell: (n) => n.spec.networkRef?.name },
  { title: "Machine", cell: (n) => n.spec.machineRef?.name ?? "" },
  { title: "IPs", cell: (n) => list(n.status?.ips) },
  { title: "Virtual IP", cell: (n) => n.status?.virtualIP ?? "" },
];

export const virtualIPColumns: Column<VirtualIP>[] = [
  { title: "IP", cell: (v) => v.status?.ip ?? "" },
  { title: "Type", cell: (v) => v.spec.type ?? "" },
  { title: "Target", cell: (v) => v.spec.targetRef?.name ?? "" },
];

/** classes lists a pool's classes with their allocatable amounts. */
function classes(p: Pool, bytes: boolean): string {
  return Object.entries(p.status?.allocatable ?? {})
    .map(([cls, q]) => `${cls}: ${bytes ? formatBytes(parseQuantity(q)) : q}`)
    .join(", ");
}

export const machinePoolColumns: Column<Pool>[] = [
  { title: "Provider", cell: (p) => p.spec?.providerID ?? "" },
  { title: "Allocatable machines", cell: (p) => classes(p, false) },
];

export const volumePoolColumns: Column<Pool>[] = [
  { title: "Provider", cell: (p) => p.spec?.providerID ?? "" },
  { title: "Allocatable bytes", cell: (p) => classes(p, true) },
];

/** columnsFor gives the columns of a resource's list by its plural name. */
export const columnsFor: Record<string, Column<any>[]> = {
  machines: machineColumns,
  volumes: volumeColumns,
  networks: networkColumns,
  networkinterfaces: networkInterfaceColumns,
  virtualips: virtualIPColumns,
  machinepools: machinePoolColumns,
  volumepools: volumePoolColumns,
};

/**
 * stateOf is the text of an object's state cell: status.state, or Pending when empty. Kinds
 * without status.state get one from their status: a VirtualIP is Allocated once it has an IP,
 * a pool shows its Ready condition (Ready, NotReady or Unknown).
 */
export function stateOf(r: Resource, obj: KubeObject): string {
  const status = (obj as { status?: { state?: string; ip?: string; conditions?: Condition[] } }).status;
  if (status?.state) return status.state;
  if (r.plural === "virtualips") return status?.ip ? "Allocated" : "Pending";
  if (r.plural === "machinepools" || r.plural === "volumepools") {
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    if (ready) return ready.status === "True" ? "Ready" : ready.status === "False" ? "NotReady" : "Unknown";
  }
  return "Pending";
}
