// The one place the app talks HTTP to ferrite-console: it adds the session's CSRF token to
// every mutating request and turns error answers (a Kubernetes Status or the console's
// {"message"}) into an ApiError.
import type { Status, StatusCause } from "./types";

let csrfToken = "";
let onUnauthorized: () => void = () => {};

/** setCsrfToken stores the session's token; mutating requests carry it as X-CSRF-Token. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** csrf returns the session's token (the console WebSocket passes it in its URL). */
export function csrf(): string {
  return csrfToken;
}

/** setUnauthorizedHandler is called when an API request answers 401 (the session ended). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

/** ApiError is a failed request: the HTTP status, the server's message and Status details. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly causes: StatusCause[];

  constructor(status: number, message: string, reason = "", causes: StatusCause[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
    this.causes = causes;
  }
}

/** isMutating says whether a method changes state, and so needs the CSRF token. */
export function isMutating(method: string): boolean {
  const m = method.toUpperCase();
  return m !== "GET" && m !== "HEAD" && m !== "OPTIONS";
}

export interface RequestOptions {
  body?: unknown;
  /** Content-Type of the JSON body; application/json unless given (patches name their type). */
  contentType?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** headersFor builds the request headers: JSON by default and the CSRF token on mutations. */
export function headersFor(method: string, opts: RequestOptions = {}): Headers {
  const headers = new Headers(opts.headers);
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (opts.body !== undefined) headers.set("Content-Type", opts.contentType ?? "application/json");
  if (isMutating(method)) headers.set("X-CSRF-Token", csrfToken);
  return headers;
}

/** send makes a request and returns the raw response; failed ones throw an ApiError. */
export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const res = await fetch(path, {
    method,
    headers: headersFor(method, opts),
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: "same-origin",
    signal: opts.signal,
  });
  if (!res.ok) {
    const err = await errorFrom(res, path);
    if (res.status === 401 && path.startsWith("/k8s/")) onUnauthorized();
    throw err;
  }
  return res;
}

/** request sends a JSON request and returns the decoded answer (undefined for no body). */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, opts);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * errorFrom reads an error response: a Status, the console's {"message"} or plain text. Other
 * JSON (an API server's list of paths for a path it does not serve) is named by status and path.
 */
export async function errorFrom(res: Response, path = ""): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let body: Status | undefined;
  let json = false;
  try {
    body = JSON.parse(text) as Status;
    json = true;
  } catch {
    body = undefined;
  }
  const plain = json ? "" : text.trim().slice(0, 500);
  const where = path ? ` (${path.replace(/^\/k8s/, "").replace(/\?.*$/, "")})` : "";
  const message = body?.message || plain || `${res.status} ${res.statusText || "error"}${where}`;
  return new ApiError(res.status, message, body?.reason ?? "", body?.details?.causes ?? []);
}

/** errorMessage is the text to show for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
