// A stand-in for the browser's WebSocket in the tests of the watch socket and the live lists
// (only tests import it): it records what the app sends, and the test opens, answers and drops it.
import { WatchSocket, type WatchSocketOptions } from "./watchsocket";

/** A frame the app sent: watch or stop. */
export type SentFrame = { type: "watch"; id: string; path: string } | { type: "stop"; id: string };

/** FakeSocket is one connection attempt. */
export class FakeSocket {
  readyState = 0;
  sent: SentFrame[] = [];
  closedByApp = false;
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data) as SentFrame);
  }

  close(): void {
    this.closedByApp = true;
    this.readyState = 3;
  }

  /** open completes the connection. */
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }

  /** frame sends the app a server frame. */
  frame(f: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(f) });
  }

  /** drop closes the connection from the server's side (or fails the attempt). */
  drop(): void {
    this.readyState = 3;
    this.onclose?.();
  }

  /** idOf is the id of the last watch sent whose path starts with pathPrefix. */
  idOf(pathPrefix: string): string {
    const w = this.sent.filter((f) => f.type === "watch" && f.path.startsWith(pathPrefix)).pop();
    if (!w) throw new Error(`no watch of ${pathPrefix} sent`);
    return w.id;
  }
}

/** fakeWatchSocket is a WatchSocket over FakeSockets; sockets lists every connection attempt. */
export function fakeWatchSocket(opts: Partial<WatchSocketOptions> & { autoOpen?: boolean } = {}) {
  const sockets: FakeSocket[] = [];
  const ws = new WatchSocket({
    url: () => "ws://console.test/watch/ws?csrf=t0ken",
    connect: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      if (opts.autoOpen) queueMicrotask(() => s.readyState === 0 && s.open());
      return s as unknown as WebSocket;
    },
    ...opts,
  });
  return { ws, sockets, last: () => sockets[sockets.length - 1] };
}
