// useLiveList: the objects of one collection, kept live (see api/livelist.ts).
import { useEffect, useMemo, useState } from "react";
import { startLiveList } from "../api/livelist";
import { itemsOf, type LiveState } from "../api/livestate";
import type { KubeObject } from "../api/types";

/** LiveList is what a live list hook returns. */
export interface LiveList<T> {
  /** The objects in name order; empty until listed. */
  items: T[];
  /** The API's refusal or the failure of the last LIST/WATCH; null while it works. */
  error: Error | null;
  /** Whether a LIST has succeeded (an empty list is then really empty). */
  loaded: boolean;
}

const noQuery: Record<string, string> = {};

/** useLiveList lists and watches the collection at path (nothing while path is null). */
export function useLiveList<T extends KubeObject>(
  path: string | null,
  query: Record<string, string> = noQuery,
): LiveList<T> {
  const [state, setState] = useState<LiveState<T> | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const queryKey = JSON.stringify(query);
  useEffect(() => {
    setState(null);
    setError(null);
    if (!path) return;
    return startLiveList<T>(path, JSON.parse(queryKey), { onState: setState, onError: setError });
  }, [path, queryKey]);
  const items = useMemo(() => (state ? itemsOf(state) : []), [state]);
  return { items, error, loaded: state !== null };
}
