// The detail page of one object: its state and facts, actions, conditions and live Events.
// The object itself is watched too (a list selected by metadata.name), so the page follows it.
import { useEffect, useMemo } from "react";
import { request } from "../api/client";
import { collectionPath, objectPath, type Resource } from "../api/resources";
import type { Condition, KubeObject, Machine, Volume } from "../api/types";
import { Conditions } from "../components/Conditions";
import { DeleteButton } from "../components/DeleteButton";
import { EventList } from "../components/EventList";
import { MachineActions } from "../components/MachineActions";
import { usePageError, useReportedError } from "../components/PageErrors";
import { Time } from "../components/Time";
import { VolumeActions } from "../components/VolumeActions";
import { useLiveList } from "../hooks/useLiveList";
import { Link, navigate, withNamespace } from "../router";
import { columnsFor, stateOf } from "./columns";

/** listPageOf is where the way back from a detail page goes. */
function listPageOf(r: Resource): string {
  return r.namespaced ? `/${r.plural}` : "/pools";
}

export function DetailPage({ resource, name, ns }: { resource: Resource; name: string; ns: string }) {
  const query = useMemo(() => ({ fieldSelector: `metadata.name=${name}` }), [name]);
  const list = useLiveList<KubeObject>(collectionPath(resource, ns), query);
  useReportedError("detail", list.error);
  const obj = list.items[0];
  const back = withNamespace(listPageOf(resource), ns);

  let body;
  if (!list.loaded) {
    body = <p className="muted">{list.error ? `Cannot be shown: ${list.error.message}` : "Loading…"}</p>;
  } else if (!obj) {
    body = (
      <p>
        There is no {resource.kind} {name}
        {resource.namespaced ? ` in namespace ${ns}` : ""}.
      </p>
    );
  } else {
    body = <Detail resource={resource} obj={obj} ns={ns} back={back} />;
  }
  return (
    <section data-testid={`detail-${resource.plural}`} aria-labelledby="detail-title">
      <p>
        <Link to={back}>← {resource.namespaced ? resource.title : "Pools"}</Link>
      </p>
      <h1 id="detail-title">
        {resource.kind} {name}{" "}
        {obj && (
          <span className={`state state-${stateOf(resource, obj).toLowerCase()}`} data-testid={`state-${name}`}>
            {stateOf(resource, obj)}
          </span>
        )}
      </h1>
      {body}
    </section>
  );
}

function Detail({ resource, obj, ns, back }: { resource: Resource; obj: KubeObject; ns: string; back: string }) {
  const report = usePageError();
  // An action's error belongs to this page: leaving it clears the message.
  useEffect(() => () => report("action", null), [report]);
  const name = obj.metadata.name;
  const columns = columnsFor[resource.plural] ?? [];
  const conditions = (obj as { status?: { conditions?: Condition[] } }).status?.conditions;

  async function remove() {
    report("action", null);
    try {
      await request("DELETE", objectPath(resource, ns, name));
      navigate(back);
    } catch (err) {
      report("action", (err as Error).message);
    }
  }

  return (
    <>
      <div className="actions">
        {resource.plural === "machines" && <MachineActions machine={obj as Machine} ns={ns} />}
        {resource.plural === "volumes" && <VolumeActions volume={obj as Volume} ns={ns} />}
        <DeleteButton what={`${resource.kind} ${name}`} onDelete={remove} />
      </div>
      {obj.metadata.deletionTimestamp && (
        <p className="notice">
          Being deleted since <Time at={obj.metadata.deletionTimestamp} />.
        </p>
      )}
      <dl className="facts">
        {columns.map((c) => (
          <div key={c.title}>
            <dt>{c.title}</dt>
            <dd>{c.cell(obj) || "—"}</dd>
          </div>
        ))}
        <div>
          <dt>Created</dt>
          <dd>
            <Time at={obj.metadata.creationTimestamp} />
          </dd>
        </div>
        <div>
          <dt>UID</dt>
          <dd className="mono">{obj.metadata.uid}</dd>
        </div>
      </dl>
      <Conditions conditions={conditions} />
      {obj.metadata.uid && <EventList uid={obj.metadata.uid} ns={resource.namespaced ? ns : ""} />}
      <details>
        <summary>The object as JSON</summary>
        <pre className="mono">{JSON.stringify(obj, null, 2)}</pre>
      </details>
    </>
  );
}
