// useListOnce: the objects of one collection, fetched once, for a form's options (which need
// not be live, and so hold no watch), and again when the window regains focus.
import { useEffect, useState } from "react";
import { request } from "../api/client";
import { compareKeys } from "../api/livestate";
import type { KubeObject, ListResponse } from "../api/types";

/** ListOnce is what useListOnce returns. */
export interface ListOnce<T> {
  /** The objects in name order; empty until listed. */
  items: T[];
  /** The failure of the last LIST; null once one succeeds. */
  error: Error | null;
  /** Whether a LIST has succeeded. */
  loaded: boolean;
}

const notLoaded: ListOnce<never> = { items: [], error: null, loaded: false };

/** useListOnce lists the collection at path when mounted and when the window regains focus. */
export function useListOnce<T extends KubeObject>(path: string): ListOnce<T> {
  const [list, setList] = useState<ListOnce<T>>(notLoaded);
  useEffect(() => {
    setList(notLoaded);
    let current: AbortController | undefined;
    function load() {
      current?.abort();
      const ctrl = (current = new AbortController());
      request<ListResponse<T>>("GET", path, { signal: ctrl.signal }).then(
        (res) => {
          const items = (res.items ?? []).sort((a, b) => compareKeys(a.metadata.name, b.metadata.name));
          setList({ items, error: null, loaded: true });
        },
        (err: Error) => {
          // A failed refetch keeps the options it had.
          if (!ctrl.signal.aborted) setList((l) => ({ ...l, error: err }));
        },
      );
    }
    load();
    window.addEventListener("focus", load);
    return () => {
      window.removeEventListener("focus", load);
      current?.abort();
    };
  }, [path]);
  return list;
}
