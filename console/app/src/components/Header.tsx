// The header: the namespace, the user and logout; and the navigation.
import { useEffect, useState, type KeyboardEvent } from "react";
import { Link, withNamespace } from "../router";

const nav = [
  ["machines", "Machines"],
  ["volumes", "Volumes"],
  ["networks", "Networks"],
  ["networkinterfaces", "Network interfaces"],
  ["virtualips", "Virtual IPs"],
  ["pools", "Pools"],
] as const;

export function Header(props: {
  user: string;
  ns: string;
  path: string;
  onNamespace: (ns: string) => void;
  onLogout: () => void;
}) {
  const { user, ns, path, onNamespace, onLogout } = props;
  const [draft, setDraft] = useState(ns);
  useEffect(() => setDraft(ns), [ns]);

  function commit() {
    const next = draft.trim();
    if (next && next !== ns) onNamespace(next);
    else setDraft(ns);
  }
  function key(e: KeyboardEvent<HTMLInputElement>) {
    if (e.key === "Enter") commit();
    if (e.key === "Escape") setDraft(ns);
  }

  const section = path.split("/")[1];
  return (
    <header className="top">
      <div className="bar">
        <Link to={withNamespace("/machines", ns)} className="brand">
          Ferrite
        </Link>
        <label className="ns">
          Namespace{" "}
          <input
            type="text"
            data-testid="namespace-input"
            value={draft}
            size={14}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={key}
            onBlur={commit}
          />
        </label>
        <span className="user">
          <span className="muted">Logged in as</span> <strong data-testid="current-user">{user}</strong>
        </span>
        <button type="button" data-testid="logout" onClick={onLogout}>
          Log out
        </button>
      </div>
      <nav aria-label="Resources">
        {nav.map(([plural, title]) => {
          const current =
            section === plural || (plural === "pools" && (section === "machinepools" || section === "volumepools"));
          return (
            <Link
              key={plural}
              to={withNamespace(`/${plural}`, ns)}
              data-testid={`nav-${plural}`}
              aria-current={current ? "page" : undefined}
            >
              {title}
            </Link>
          );
        })}
      </nav>
    </header>
  );
}
