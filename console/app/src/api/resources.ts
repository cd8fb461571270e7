// The API resources the app shows, and the /k8s/ paths of their collections and objects.

/** Resource names one API resource: its group, version, plural name and scope. */
export interface Resource {
  /** The plural name, as in the URL and in data-testids (list-machines). */
  plural: string;
  /** API group; "" for the core group. */
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
  /** A human title for lists and headings. */
  title: string;
}

function res(plural: string, group: string, kind: string, namespaced: boolean, title: string): Resource {
  return { plural, group, version: group === "" ? "v1" : "v1alpha1", kind, namespaced, title };
}

export const machines = res("machines", "compute.ferrite.dev", "Machine", true, "Machines");
export const machineClasses = res("machineclasses", "compute.ferrite.dev", "MachineClass", false, "Machine classes");
export const machinePools = res("machinepools", "compute.ferrite.dev", "MachinePool", false, "Machine pools");
export const volumes = res("volumes", "storage.ferrite.dev", "Volume", true, "Volumes");
export const volumeClasses = res("volumeclasses", "storage.ferrite.dev", "VolumeClass", false, "Volume classes");
export const volumePools = res("volumepools", "storage.ferrite.dev", "VolumePool", false, "Volume pools");
export const networks = res("networks", "networking.ferrite.dev", "Network", true, "Networks");
export const networkInterfaces = res(
  "networkinterfaces",
  "networking.ferrite.dev",
  "NetworkInterface",
  true,
  "Network interfaces",
);
export const virtualIPs = res("virtualips", "networking.ferrite.dev", "VirtualIP", true, "Virtual IPs");
export const events = res("events", "", "Event", true, "Events");
export const secrets = res("secrets", "", "Secret", true, "Secrets");

/** byPlural finds the resources that have detail pages by their URL name. */
export const byPlural: Record<string, Resource> = Object.fromEntries(
  [machines, machinePools, volumes, volumePools, networks, networkInterfaces, virtualIPs].map((r) => [r.plural, r]),
);

/** apiVersion is the group/version string of objects of the resource. */
export function apiVersion(r: Resource): string {
  return r.group === "" ? r.version : `${r.group}/${r.version}`;
}

/**
 * collectionPath is the console path of the resource's collection: in namespace ns for
 * namespaced resources (all namespaces when ns is empty), cluster-wide otherwise.
 */
export function collectionPath(r: Resource, ns: string): string {
  const base = r.group === "" ? `/k8s/api/${r.version}` : `/k8s/apis/${r.group}/${r.version}`;
  const scope = r.namespaced && ns ? `/namespaces/${encodeURIComponent(ns)}` : "";
  return `${base}${scope}/${r.plural}`;
}

/** objectPath is the console path of one object. */
export function objectPath(r: Resource, ns: string, name: string): string {
  return `${collectionPath(r, ns)}/${encodeURIComponent(name)}`;
}
