// Login with a bearer token or a kubeconfig (pasted or read from a file).
import { useState, type ChangeEvent, type FormEvent } from "react";
import { errorMessage } from "../api/client";
import { login, type Credentials } from "../api/session";
import type { Session } from "../api/types";

export function LoginPage({ onLogin }: { onLogin: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [kubeconfig, setKubeconfig] = useState("");
  const [context, setContext] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function readFile(ev: ChangeEvent<HTMLInputElement>) {
    const file = ev.target.files?.[0];
    if (file) setKubeconfig(await file.text());
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setError("");
    let credentials: Credentials;
    if (token.trim()) credentials = { token: token.trim() };
    else if (kubeconfig.trim()) credentials = context.trim() ? { kubeconfig, context: context.trim() } : { kubeconfig };
    else {
      setError("Enter a token or a kubeconfig.");
      return;
    }
    setBusy(true);
    try {
      onLogin(await login(credentials));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="panel" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Ferrite console</h1>
        <p className="muted">Log in as yourself: every request is made with your credentials.</p>
        <div className="field">
          <label htmlFor="login-token">Bearer token</label>
          <textarea
            id="login-token"
            data-testid="login-token"
            rows={3}
            spellCheck={false}
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
        </div>
        <p className="or">or</p>
        <div className="field">
          <label htmlFor="login-kubeconfig">Kubeconfig (client certificate or token)</label>
          <textarea
            id="login-kubeconfig"
            data-testid="login-kubeconfig"
            rows={6}
            spellCheck={false}
            autoComplete="off"
            value={kubeconfig}
            onChange={(e) => setKubeconfig(e.target.value)}
          />
          <label className="file">
            Read from a file: <input type="file" data-testid="login-kubeconfig-file" onChange={readFile} />
          </label>
        </div>
        <div className="field">
          <label htmlFor="login-context">Context (optional; the kubeconfig's current context otherwise)</label>
          <input
            id="login-context"
            type="text"
            autoComplete="off"
            value={context}
            onChange={(e) => setContext(e.target.value)}
          />
        </div>
        {error && (
          <p className="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" data-testid="login-submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
