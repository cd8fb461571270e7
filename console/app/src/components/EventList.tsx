// The Events about one object (selected by its UID), live, newest first.
import { useMemo } from "react";
import { ApiError } from "../api/client";
import { collectionPath, events } from "../api/resources";
import type { KubeEvent } from "../api/types";
import { useLiveList } from "../hooks/useLiveList";
import { useReportedError } from "./PageErrors";
import { Time } from "./Time";

function lastSeen(e: KubeEvent): string {
  return (
    e.series?.lastObservedTime ??
    e.lastTimestamp ??
    e.eventTime ??
    e.firstTimestamp ??
    e.metadata.creationTimestamp ??
    ""
  );
}

/** EventList shows the events of the object with uid, in namespace ns ("" for cluster objects). */
export function EventList({ uid, ns }: { uid: string; ns: string }) {
  const list = useLiveList<KubeEvent>(collectionPath(events, ns), { fieldSelector: `involvedObject.uid=${uid}` });
  // An API server without core/v1 (standalone ferrite-apiserver) has no Events: say so here
  // rather than on every page; any other failure, a 403 above all, goes to the page's errors.
  const unserved = list.error instanceof ApiError && list.error.status === 404;
  useReportedError("events", unserved ? null : list.error);
  const sorted = useMemo(() => [...list.items].sort((a, b) => (lastSeen(a) < lastSeen(b) ? 1 : -1)), [list.items]);
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      {list.error && !list.loaded ? (
        <p className={unserved ? "muted" : "list-error"}>
          {unserved ? "This API server serves no Events." : `Events cannot be shown: ${list.error.message}`}
        </p>
      ) : (
        <ol className="events" data-testid="events">
          {sorted.map((e) => (
            <li key={e.metadata.name} className={e.type === "Warning" ? "warning" : undefined}>
              <Time at={lastSeen(e)} /> <strong>{e.reason}</strong> {e.message}
              {(e.series?.count ?? e.count ?? 1) > 1 && <span className="muted"> ×{e.series?.count ?? e.count}</span>}
            </li>
          ))}
          {list.loaded && sorted.length === 0 && <li className="muted">No events.</li>}
        </ol>
      )}
    </section>
  );
}
