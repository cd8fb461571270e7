// One WebSocket per tab (/watch/ws) that carries the watches of all live lists. A browser allows
// six HTTP/1.1 connections per host for all its tabs together; a streaming fetch per watch used
// them up and left the app's other requests waiting forever.
//
// Frames are JSON text. Client: {"type":"watch","id","path"} and {"type":"stop","id"}. Server:
// {"type":"event","id","event"}, {"type":"status","id","code","status"}, {"type":"end","id"}
// and {"type":"error","id","message"}; after status, end or error that watch is over.
import { backoffDelay } from "./backoff";
import { csrf } from "./client";
import type { Status, WatchEvent } from "./types";

/** WatchHandlers receive what happens to one watch; none is called after stop(). */
export interface WatchHandlers {
  /** event gets each watch event as the API sent it, BOOKMARK and ERROR included. */
  event(ev: WatchEvent): void;
  /** status: the API answered the watch request with an error (code) before any event. Over. */
  status(code: number, status: Status): void;
  /** end: the stream ended (API timeout, socket closed); resume from the last resourceVersion. Over. */
  end(): void;
  /** error: the console refused the watch (bad path, too many watches). Over. */
  error(message: string): void;
}

/** Watcher starts watches: path is the API path (what follows /k8s) with its query. */
export interface Watcher {
  /** watch starts a watch and returns the function that stops it. */
  watch(path: string, handlers: WatchHandlers): () => void;
}

/** WatchSocketOptions say where to connect and tune the timing (tests shorten it). */
export interface WatchSocketOptions {
  /** url is the socket's address, asked at each connect (the CSRF token may have changed). */
  url: () => string;
  /** connect opens the WebSocket; new WebSocket(url) unless given (tests pass a fake). */
  connect?: (url: string) => WebSocket;
  /** How long the socket stays open without watches (page changes do not reconnect); 10 s. */
  graceMs?: number;
  /** First and longest wait before reconnecting; 500 ms and 30 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A socket open this long worked: the next reconnect waits backoffMs again; 10 s. */
  stableMs?: number;
}

type ServerFrame =
  | { type: "event"; id: string; event: WatchEvent }
  | { type: "status"; id: string; code: number; status: Status }
  | { type: "end"; id: string }
  | { type: "error"; id: string; message: string };

// WebSocket.OPEN, spelled out: tests run where there is no WebSocket global.
const OPEN = 1;

/**
 * WatchSocket multiplexes watches over one WebSocket: opened with the first watch, closed a
 * grace period after the last one stopped. When the socket closes, every watch on it (or
 * waiting for it) gets end; watches started after that wait for a reconnect with backoff.
 */
export class WatchSocket implements Watcher {
  private readonly opts: Required<WatchSocketOptions>;
  private readonly watches = new Map<string, { path: string; handlers: WatchHandlers }>();
  private socket: WebSocket | undefined;
  private socketURL = "";
  private openedAt = 0;
  private seq = 0;
  private failures = 0;
  private retryAt = 0;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: WatchSocketOptions) {
    this.opts = {
      connect: (url) => new WebSocket(url),
      graceMs: 10_000,
      backoffMs: 500,
      maxBackoffMs: 30_000,
      stableMs: 10_000,
      ...opts,
    };
  }

  watch(path: string, handlers: WatchHandlers): () => void {
    // A socket made for another session (its CSRF token in the URL) is never used for this one.
    if (this.socket && this.socketURL !== this.opts.url()) this.retire();
    // Ids are never reused, so a late frame of a stopped watch cannot reach a new one.
    const id = `w${++this.seq}`;
    this.watches.set(id, { path, handlers });
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (this.socket?.readyState === OPEN) this.send({ type: "watch", id, path });
    else this.ensureSocket();
    return () => {
      if (!this.watches.has(id)) return;
      // While the socket connects, the server knows nothing of this watch yet.
      if (this.socket?.readyState === OPEN) this.send({ type: "stop", id });
      this.forget(id);
    };
  }

  /** ensureSocket connects now, or when the backoff after the last close has passed. */
  private ensureSocket(): void {
    if (this.socket || this.connectTimer !== undefined) return;
    const wait = this.retryAt - Date.now();
    if (wait <= 0) return this.connect();
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      this.connect();
    }, wait);
  }

  private connect(): void {
    if (this.watches.size === 0) return;
    this.socketURL = this.opts.url();
    const ws = this.opts.connect(this.socketURL);
    this.socket = ws;
    this.openedAt = 0;
    ws.onopen = () => {
      this.openedAt = Date.now();
      for (const [id, w] of this.watches) this.send({ type: "watch", id, path: w.path });
    };
    ws.onmessage = (m: MessageEvent) => this.receive(ws, m.data);
    ws.onclose = () => this.closed(ws);
    // An error is always followed by close.
  }

  private receive(ws: WebSocket, data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
      if (typeof frame !== "object" || frame === null) throw new Error("not a frame");
    } catch {
      // A frame that cannot be read may have held an event: start over from a new socket.
      ws.close();
      return this.closed(ws);
    }
    const w = this.watches.get(frame.id);
    if (!w) return; // stopped meanwhile
    switch (frame.type) {
      case "event":
        return w.handlers.event(frame.event);
      case "status":
        this.forget(frame.id);
        return w.handlers.status(frame.code, frame.status ?? {});
      case "end":
        this.forget(frame.id);
        return w.handlers.end();
      case "error":
        this.forget(frame.id);
        return w.handlers.error(frame.message);
    }
  }

  /** closed ends every watch of a socket that closed and sets when to reconnect. */
  private closed(ws: WebSocket): void {
    if (this.socket !== ws) return;
    this.socket = undefined;
    const worked = this.openedAt > 0 && Date.now() - this.openedAt >= this.opts.stableMs;
    this.failures = worked ? 1 : this.failures + 1;
    this.retryAt = Date.now() + backoffDelay(this.failures, this.opts.backoffMs, this.opts.maxBackoffMs);
    // Handlers that watch again (resume) wait for the reconnect.
    this.endAll();
  }

  /** forget drops a watch that is over; the last one starts the grace period. */
  private forget(id: string): void {
    this.watches.delete(id);
    if (this.watches.size > 0 || this.graceTimer !== undefined) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.watches.size === 0) this.shut();
    }, this.opts.graceMs);
  }

  /** retire closes the socket at once and ends its watches (they resume on a new socket). */
  private retire(): void {
    this.shut();
    this.endAll();
  }

  /** endAll ends every watch: the socket they ran on is gone. */
  private endAll(): void {
    const ended = [...this.watches.values()];
    this.watches.clear();
    for (const w of ended) w.handlers.end();
  }

  /** shut closes the socket (idle, or of another session) or stops waiting to reconnect. */
  private shut(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const ws = this.socket;
    this.socket = undefined;
    ws?.close(1000);
  }

  private send(frame: { type: "watch"; id: string; path: string } | { type: "stop"; id: string }): void {
    this.socket!.send(JSON.stringify(frame));
  }
}

/** watchSocketURL is the address of the watch socket on this origin, with the session's CSRF token. */
export function watchSocketURL(loc: Location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/watch/ws?csrf=${encodeURIComponent(csrf())}`;
}

let shared: WatchSocket | undefined;

/** tabWatcher is the tab's one watch socket, made on first use. */
export function tabWatcher(): Watcher {
  return (shared ??= new WatchSocket({ url: () => watchSocketURL(window.location) }));
}
