// The conditions of an object's status as a table.
import type { Condition } from "../api/types";
import { Time } from "./Time";

export function Conditions({ conditions }: { conditions: Condition[] | undefined }) {
  return (
    <table className="list" data-testid="conditions">
      <caption>Conditions</caption>
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col">Status</th>
          <th scope="col">Reason</th>
          <th scope="col">Message</th>
          <th scope="col">Since</th>
        </tr>
      </thead>
      <tbody>
        {(conditions ?? []).map((c) => (
          <tr key={c.type} data-testid={`condition-${c.type}`}>
            <td>{c.type}</td>
            <td>{c.status}</td>
            <td>{c.reason}</td>
            <td>{c.message}</td>
            <td>
              <Time at={c.lastTransitionTime} />
            </td>
          </tr>
        ))}
        {!conditions?.length && (
          <tr>
            <td colSpan={5} className="muted">
              No conditions yet.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
