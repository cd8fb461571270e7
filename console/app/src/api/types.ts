// The parts of the Kubernetes and Ferrite API objects that the app reads. Field names follow
// the JSON of apis/*/v1alpha1 (and core/v1 for Events and Secrets).

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** A Kubernetes `Status`: what the API answers on errors and in watch ERROR events. */
export interface Status {
  kind?: "Status";
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: StatusCause[] };
}

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface ListResponse<T> {
  metadata: { resourceVersion: string };
  items: T[];
}

/** WatchEvent is one event of a watch, as the API sends it. */
export type WatchEvent<T extends KubeObject = KubeObject> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: Status };

export type ResourceList = Record<string, string>;
type Ref = { name: string };

export interface Machine extends KubeObject {
  spec: {
    machineClassRef: Ref;
    machinePoolRef?: Ref;
    power?: "On" | "Off";
    image?: string;
    ignitionRef?: { name: string; key?: string };
    volumes?: { name: string; volumeRef?: Ref; ephemeral?: unknown; emptyDisk?: unknown }[];
    networkInterfaces?: {
      name: string;
      networkInterfaceRef?: Ref;
      ephemeral?: { networkRef: Ref };
    }[];
  };
  status?: {
    state?: string;
    conditions?: Condition[];
    networkInterfaces?: { name: string; state?: string; ips?: string[]; virtualIP?: string }[];
    volumes?: { name: string; state?: string }[];
  };
}

export interface Volume extends KubeObject {
  spec: {
    volumeClassRef: Ref;
    volumePoolRef?: Ref;
    resources: ResourceList;
    image?: string;
    claimRef?: Ref;
  };
  status?: { state?: string; conditions?: Condition[] };
}

export interface Network extends KubeObject {
  spec: { peerings?: { name: string; networkRef: { namespace?: string; name: string } }[] };
  status?: { state?: string; vni?: number; peerings?: string[] };
}

export interface NetworkInterface extends KubeObject {
  spec: { networkRef: Ref; machineRef?: Ref; virtualIPRef?: Ref };
  status?: { state?: string; ips?: string[]; virtualIP?: string };
}

export interface VirtualIP extends KubeObject {
  spec: { type?: string; ipFamily?: string; targetRef?: Ref };
  status?: { ip?: string };
}

/** MachinePool and VolumePool: capacity, allocatable and allocated per class name. */
export interface Pool extends KubeObject {
  spec?: { providerID?: string };
  status?: {
    conditions?: Condition[];
    capacity?: ResourceList;
    allocatable?: ResourceList;
    allocated?: ResourceList;
  };
}

/** MachineClass and VolumeClass. */
export interface Class extends KubeObject {
  capabilities?: ResourceList;
}

export interface KubeEvent extends KubeObject {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  series?: { count?: number; lastObservedTime?: string };
}

export interface Session {
  user: string;
  groups?: string[];
  namespace: string;
  csrfToken: string;
}
