// startLiveList keeps a list of one resource live: LIST, then WATCH from the list's
// resourceVersion; a watch that ends is resumed from the last resourceVersion seen (bookmarks
// included), 410 Gone relists, a broken stream relists after a backoff. Events of a burst are
// applied together, at most once per batch interval.
import { ApiError, errorFrom, request } from "./client";
import { applyEvents, fromList, isGone, type LiveState } from "./livestate";
import type { KubeObject, ListResponse, Status } from "./types";
import { readWatch, type WatchEvent } from "./watchstream";

/** LiveListHandlers receive the list's states and errors. */
export interface LiveListHandlers<T extends KubeObject> {
  /** onState gets every new state; null when the list failed and nothing is known. */
  onState(state: LiveState<T> | null): void;
  /** onError gets the error of a failed LIST or WATCH request, and null once one succeeds. */
  onError(err: Error | null): void;
}

/** LiveListOptions tune the timing (tests shorten it). */
export interface LiveListOptions {
  /** How long events are gathered before they are applied; default 50 ms. */
  batchMs?: number;
  /** First and longest wait before retrying after a failure; default 500 ms and 30 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A watch that ends sooner than this counts as a failure (so a broken server is not hammered). */
  minWatchMs?: number;
}

/** listURL is path with the query parameters. */
export function listURL(path: string, query: Record<string, string>): string {
  const q = new URLSearchParams(query).toString();
  return q ? `${path}?${q}` : path;
}

/** backoffDelay is the wait after the n-th failure in a row: doubling, capped, jittered. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return full / 2 + Math.random() * (full / 2);
}

/** startLiveList starts keeping the list live and returns the function that stops it. */
export function startLiveList<T extends KubeObject>(
  path: string,
  query: Record<string, string>,
  handlers: LiveListHandlers<T>,
  opts: LiveListOptions = {},
): () => void {
  const batchMs = opts.batchMs ?? 50;
  const backoffMs = opts.backoffMs ?? 500;
  const maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  const minWatchMs = opts.minWatchMs ?? 1_000;
  const stop = new AbortController();
  let state: LiveState<T> | null = null;
  let pending: WatchEvent<T>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watchError: Status | undefined;

  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    if (!state || pending.length === 0) return;
    const result = applyEvents(state, pending);
    pending = [];
    if (result.state !== state) {
      state = result.state;
      handlers.onState(state);
    }
    if (result.error) watchError = result.error;
  }

  // deliver queues a chunk's events; an ERROR event is applied at once and ends the read.
  function deliver(events: WatchEvent[]): boolean {
    pending.push(...(events as WatchEvent<T>[]));
    if (events.some((e) => e.type === "ERROR")) flush();
    else timer ??= setTimeout(flush, batchMs);
    return watchError === undefined;
  }

  async function watchOnce(): Promise<"relist" | "rewatch"> {
    watchError = undefined;
    const started = Date.now();
    const url = listURL(path, {
      ...query,
      watch: "1",
      resourceVersion: state!.resourceVersion,
      allowWatchBookmarks: "true",
    });
    const res = await fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: stop.signal,
    });
    if (res.status === 410) return "relist";
    if (!res.ok || !res.body) throw await errorFrom(res, path);
    await readWatch(res.body, deliver);
    flush();
    // Set by flush() through deliver(), which TypeScript cannot see from here.
    const failed = watchError as Status | undefined;
    if (failed) {
      if (isGone(failed)) return "relist";
      throw new ApiError(failed.code ?? 500, failed.message ?? "watch failed", failed.reason);
    }
    if (Date.now() - started < minWatchMs) throw new Error("watch ended at once");
    return "rewatch";
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stop.signal.aborted) {
      try {
        const list = await request<ListResponse<T>>("GET", listURL(path, query), { signal: stop.signal });
        pending = [];
        state = fromList(list.items ?? [], list.metadata.resourceVersion);
        handlers.onState(state);
        handlers.onError(null);
        let outcome: "relist" | "rewatch";
        do {
          outcome = await watchOnce();
          if (outcome === "rewatch") failures = 0;
        } while (outcome === "rewatch" && !stop.signal.aborted);
        // 410 Gone is normal after a long pause; relist at once unless it keeps happening.
        failures++;
        if (failures > 1) await sleep(backoffDelay(failures - 1, backoffMs, maxBackoffMs), stop.signal);
      } catch (err) {
        if (stop.signal.aborted) return;
        failures++;
        if (err instanceof ApiError || !state) {
          // The API refused (or cannot be reached for the list): show it, not stale data.
          state = null;
          handlers.onState(null);
          handlers.onError(err as Error);
        }
        await sleep(backoffDelay(failures, backoffMs, maxBackoffMs), stop.signal);
      }
    }
  }

  void run();
  return () => {
    stop.abort();
    clearTimeout(timer);
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
