// The app: the session decides between the login page and the console; the path picks the page.
import { useCallback, useEffect, useState } from "react";
import { forgetAccess } from "./api/access";
import { errorMessage, setCsrfToken, setUnauthorizedHandler } from "./api/client";
import { byPlural, machines, networkInterfaces, networks, virtualIPs, volumes } from "./api/resources";
import { getSession, logout } from "./api/session";
import type { Session } from "./api/types";
import { Header } from "./components/Header";
import { PageErrorBanner, PageErrorProvider, usePageError } from "./components/PageErrors";
import { DetailPage } from "./pages/DetailPage";
import { ListPage } from "./pages/ListPage";
import { LoginPage } from "./pages/LoginPage";
import { PoolsPage } from "./pages/PoolsPage";
import { followLinks, navigate, useLocation, withNamespace } from "./router";

const listPages = Object.fromEntries(
  [machines, volumes, networks, networkInterfaces, virtualIPs].map((r) => [r.plural, r]),
);

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [loadError, setLoadError] = useState("");

  const start = useCallback((s: Session | null) => {
    forgetAccess();
    setCsrfToken(s?.csrfToken ?? "");
    setSession(s);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => start(null));
    getSession().then(start, (err) => setLoadError(errorMessage(err)));
  }, [start]);

  if (loadError) return <p className="page-error">The console cannot be reached: {loadError}</p>;
  if (session === undefined) return <p className="muted">Loading…</p>;
  if (session === null) return <LoginPage onLogin={start} />;
  return (
    <PageErrorProvider>
      <Console session={session} onLogout={() => start(null)} />
    </PageErrorProvider>
  );
}

function Console({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const { path, query } = useLocation();
  const ns = query.get("namespace") || session.namespace || "default";
  const report = usePageError();
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);

  useEffect(() => {
    if (parts.length === 0) navigate(withNamespace("/machines", ns), true);
  }, [parts.length, ns]);

  async function doLogout() {
    try {
      await logout();
      onLogout();
    } catch (err) {
      report("logout", errorMessage(err));
    }
  }

  function switchNamespace(next: string) {
    // A detail page of a namespaced object names one of the old namespace: go to its list.
    const namespacedDetail = parts.length > 1 && byPlural[parts[0]]?.namespaced;
    navigate(withNamespace(namespacedDetail ? `/${parts[0]}` : path, next));
  }

  let page;
  if (parts.length === 1 && listPages[parts[0]])
    page = <ListPage key={parts[0]} resource={listPages[parts[0]]} ns={ns} />;
  else if (parts.length === 1 && parts[0] === "pools") page = <PoolsPage ns={ns} />;
  else if (parts.length === 2 && byPlural[parts[0]])
    page = <DetailPage key={path} resource={byPlural[parts[0]]} name={parts[1]} ns={ns} />;
  else if (parts.length === 0) page = null;
  else page = <p>There is no page {path}.</p>;

  return (
    <div onClick={followLinks}>
      <Header user={session.user} ns={ns} path={path} onNamespace={switchNamespace} onLogout={doLogout} />
      <main className="content">
        <PageErrorBanner />
        {page}
      </main>
    </div>
  );
}
