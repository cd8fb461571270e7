// The live table of one resource: one keyed, memoized row per object, so that a watch event
// re-renders only the row of the object it changed.
import { memo, useEffect } from "react";
import { recordListRendered } from "../api/metrics";
import type { Resource } from "../api/resources";
import type { KubeObject } from "../api/types";
import type { LiveList } from "../hooks/useLiveList";
import { columnsFor, stateOf, type Column } from "../pages/columns";
import { withNamespace } from "../router";
import { useReportedError } from "./PageErrors";

interface RowProps {
  obj: KubeObject;
  resource: Resource;
  ns: string;
  columns: Column<KubeObject>[];
}

const Row = memo(function Row({ obj, resource, ns, columns }: RowProps) {
  const name = obj.metadata.name;
  const state = stateOf(resource, obj);
  return (
    <tr data-testid={`row-${name}`}>
      <td>
        <a href={withNamespace(`/${resource.plural}/${encodeURIComponent(name)}`, ns)}>{name}</a>
      </td>
      <td>
        <span className={`state state-${state.toLowerCase()}`} data-testid={`state-${name}`}>
          {state}
        </span>
      </td>
      {columns.map((c) => (
        <td key={c.title}>{c.cell(obj)}</td>
      ))}
    </tr>
  );
});

/** ResourceTable shows a live list, or the API's message when it may not be read. */
export function ResourceTable({ resource, ns, list }: { resource: Resource; ns: string; list: LiveList<KubeObject> }) {
  const columns = columnsFor[resource.plural] ?? [];
  useReportedError(`list:${resource.plural}`, list.error);
  const rows = list.items.length;
  useEffect(() => recordListRendered(rows), [rows]);

  if (list.error && !list.loaded) {
    return (
      <p className="list-error" data-testid={`list-error-${resource.plural}`}>
        {resource.title} cannot be shown: {list.error.message}
      </p>
    );
  }
  if (!list.loaded) return <p className="muted">Loading {resource.title.toLowerCase()}…</p>;
  return (
    <table className="list" data-testid={`list-${resource.plural}`}>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">State</th>
          {columns.map((c) => (
            <th scope="col" key={c.title}>
              {c.title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {list.items.map((obj) => (
          <Row key={obj.metadata.name} obj={obj} resource={resource} ns={ns} columns={columns} />
        ))}
        {rows === 0 && (
          <tr>
            <td colSpan={columns.length + 2} className="muted">
              No {resource.title.toLowerCase()}
              {resource.namespaced ? ` in namespace ${ns}` : ""}.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
