// The state of a live list, and the pure reducer that applies watch events to it. Objects are
// kept by name with the names in sorted order: an event costs a binary search (and an array
// insert or removal for ADDED/DELETED), not a re-sort of the whole list.
import type { KubeObject, Status, WatchEvent } from "./types";

/** LiveState is a list's objects by key, their keys in order and the last resourceVersion. */
export interface LiveState<T extends KubeObject = KubeObject> {
  byKey: ReadonlyMap<string, T>;
  keys: readonly string[];
  resourceVersion: string;
}

/** keyOf identifies an object within one list: namespace/name (lists may span namespaces). */
export function keyOf(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : obj.metadata.name;
}

/** fromList is the state right after a LIST. */
export function fromList<T extends KubeObject>(items: T[], resourceVersion: string): LiveState<T> {
  const byKey = new Map<string, T>();
  for (const item of items) byKey.set(keyOf(item), item);
  const keys = [...byKey.keys()].sort(compareKeys);
  return { byKey, keys, resourceVersion };
}

/** compareKeys orders keys by code point, as the API server orders names. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** searchKey returns the index of key in sorted keys, or where it would be inserted. */
export function searchKey(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ApplyResult is the state after a batch of events, and the ERROR event's Status, if any. */
export interface ApplyResult<T extends KubeObject> {
  state: LiveState<T>;
  /** Set when the batch held an ERROR event; events after it are not applied. */
  error?: Status;
}

/** isGone says whether a Status means the resourceVersion is too old: relist. */
export function isGone(status: Status | undefined): boolean {
  return status?.code === 410 || status?.reason === "Expired" || status?.reason === "Gone";
}

/**
 * applyEvents applies a batch of watch events. It copies the state once per batch (never
 * mutating the given one), so a burst of events costs one copy and one render, and objects
 * that did not change keep their identity (their rows need no re-render).
 */
export function applyEvents<T extends KubeObject>(state: LiveState<T>, events: WatchEvent<T>[]): ApplyResult<T> {
  let byKey: Map<string, T> | undefined;
  let keys: string[] | undefined;
  let resourceVersion = state.resourceVersion;
  for (const ev of events) {
    if (ev.type === "ERROR") {
      return { state: finish(), error: ev.object };
    }
    const rv = ev.object.metadata?.resourceVersion;
    if (rv) resourceVersion = rv;
    if (ev.type === "BOOKMARK") continue;
    byKey ??= new Map(state.byKey);
    const key = keyOf(ev.object);
    if (ev.type === "DELETED") {
      if (byKey.delete(key)) {
        keys ??= state.keys.slice();
        const i = searchKey(keys, key);
        if (keys[i] === key) keys.splice(i, 1);
      }
      continue;
    }
    // ADDED and MODIFIED both mean "this is the object now" (an ADDED may repeat a known object).
    if (!byKey.has(key)) {
      keys ??= state.keys.slice();
      keys.splice(searchKey(keys, key), 0, key);
    }
    byKey.set(key, ev.object);
  }
  return { state: finish() };

  function finish(): LiveState<T> {
    if (!byKey && resourceVersion === state.resourceVersion) return state;
    return { byKey: byKey ?? state.byKey, keys: keys ?? state.keys, resourceVersion };
  }
}

/** itemsOf lists the state's objects in key order. */
export function itemsOf<T extends KubeObject>(state: LiveState<T>): T[] {
  return state.keys.map((k) => state.byKey.get(k) as T);
}
