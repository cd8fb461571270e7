// startLiveList keeps a list of one resource live: LIST (a plain GET), then WATCH from the
// list's resourceVersion over the tab's watch socket; a watch that ends is resumed from the last
// resourceVersion seen (bookmarks included), 410 Gone relists, a failed watch relists after a
// backoff. Events of a burst are applied together, at most once per batch interval.
import { backoffDelay } from "./backoff";
import { ApiError, request } from "./client";
import { applyEvents, fromList, isGone, type LiveState } from "./livestate";
import type { KubeObject, ListResponse, Status, WatchEvent } from "./types";
import { tabWatcher, type Watcher } from "./watchsocket";

/** LiveListHandlers receive the list's states and errors. */
export interface LiveListHandlers<T extends KubeObject> {
  /** onState gets every new state; null when the list failed and nothing is known. */
  onState(state: LiveState<T> | null): void;
  /** onError gets the error of a failed LIST or WATCH request, and null once one succeeds. */
  onError(err: Error | null): void;
}

/** LiveListOptions tune the timing (tests shorten it) and name the watcher. */
export interface LiveListOptions {
  /** How long events are gathered before they are applied; default 50 ms. */
  batchMs?: number;
  /** First and longest wait before retrying after a failure; default 500 ms and 30 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A watch that ends sooner than this counts as a failure (so a broken server is not hammered). */
  minWatchMs?: number;
  /** Where watches run; the tab's watch socket unless given. */
  watcher?: Watcher;
}

/** listURL is path with the query parameters. */
export function listURL(path: string, query: Record<string, string>): string {
  const q = new URLSearchParams(query).toString();
  return q ? `${path}?${q}` : path;
}

/** startLiveList starts keeping the list at path (a /k8s/ path) live and returns the function that stops it. */
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
  const watcher = opts.watcher ?? tabWatcher();
  const apiPath = path.replace(/^\/k8s/, "");
  const stop = new AbortController();
  let state: LiveState<T> | null = null;
  let pending: WatchEvent<T>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  /** flush applies the pending events and returns the Status of an ERROR event among them. */
  function flush(): Status | undefined {
    clearTimeout(timer);
    timer = undefined;
    if (!state || pending.length === 0) return undefined;
    const result = applyEvents(state, pending);
    pending = [];
    if (result.state !== state) {
      state = result.state;
      handlers.onState(state);
    }
    return result.error;
  }

  /** watchOnce watches until the watch is over: "relist" after 410 Gone, "rewatch" after its end. */
  function watchOnce(): Promise<"relist" | "rewatch"> {
    return new Promise((resolve, reject) => {
      if (stop.signal.aborted) return resolve("rewatch");
      const started = Date.now();
      let over = false;
      // finish ends the watch once: the pending events are applied first.
      function finish(outcome: "relist" | "rewatch" | Error): void {
        if (over) return;
        over = true;
        stop.signal.removeEventListener("abort", aborted);
        stopWatch();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      }
      function failed(code: number, status: Status): void {
        if (code === 410 || isGone(status)) return finish("relist");
        const message = status.message || `${code} watch failed (${apiPath})`;
        finish(new ApiError(code, message, status.reason ?? "", status.details?.causes ?? []));
      }
      const aborted = () => finish("rewatch");
      const stopWatch = watcher.watch(
        listURL(apiPath, { ...query, resourceVersion: state!.resourceVersion, allowWatchBookmarks: "true" }),
        {
          event(ev) {
            pending.push(ev as WatchEvent<T>);
            if (ev.type !== "ERROR") {
              timer ??= setTimeout(flush, batchMs);
              return;
            }
            const status = flush();
            if (status) failed(status.code ?? 500, status);
          },
          status(code, status) {
            flush();
            failed(code, status);
          },
          end() {
            flush();
            finish(Date.now() - started < minWatchMs ? new Error("watch ended at once") : "rewatch");
          },
          error(message) {
            flush();
            // The console refused the watch itself: no HTTP status, but shown like the API's refusals.
            finish(new ApiError(0, message));
          },
        },
      );
      stop.signal.addEventListener("abort", aborted);
    });
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
