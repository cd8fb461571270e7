// The console's own session endpoints (/auth/...), outside the Kubernetes API.
import { ApiError, request } from "./client";
import type { Session } from "./types";

/** getSession returns the current session, or null when not logged in. */
export async function getSession(): Promise<Session | null> {
  try {
    return await request<Session>("GET", "/auth/session");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Credentials are what the login form sends: a bearer token, or a kubeconfig and its context. */
export type Credentials = { token: string } | { kubeconfig: string; context?: string };

/** login checks the credentials with the API (done by the console) and starts a session. */
export function login(credentials: Credentials): Promise<Session> {
  return request<Session>("POST", "/auth/login", { body: credentials });
}

/** logout ends the session. */
export async function logout(): Promise<void> {
  await request<void>("POST", "/auth/logout");
}
