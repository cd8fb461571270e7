import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeWatchSocket } from "./fakesocket";
import type { WatchEvent } from "./types";
import type { WatchHandlers } from "./watchsocket";

/** recorder is a watch's handlers that note what they got, in order. */
function recorder(onEnd?: () => void) {
  const got: string[] = [];
  const handlers: WatchHandlers = {
    event: (ev: WatchEvent) => got.push(`event ${ev.type} ${ev.type === "ERROR" ? "" : ev.object.metadata.resourceVersion}`),
    status: (code, status) => got.push(`status ${code} ${status.message}`),
    end: () => {
      got.push("end");
      onEnd?.();
    },
    error: (message) => got.push(`error ${message}`),
  };
  return { got, handlers };
}

const ev = (type: string, rv: string) => ({ type, object: { metadata: { name: "a", resourceVersion: rv } } });

beforeEach(() => {
  vi.useFakeTimers();
  vi.spyOn(Math, "random").mockReturnValue(1); // no jitter: backoffs at their full length
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("WatchSocket", () => {
  it("opens one socket lazily and multiplexes the watches over it by id", () => {
    const { ws, sockets } = fakeWatchSocket();
    expect(sockets.length).toBe(0);
    const a = recorder();
    const b = recorder();
    ws.watch("/apis/g/v/machines?resourceVersion=1", a.handlers);
    ws.watch("/api/v1/events?resourceVersion=2", b.handlers);
    expect(sockets.length).toBe(1);
    expect(sockets[0].url).toBe("ws://console.test/watch/ws?csrf=t0ken");
    expect(sockets[0].sent).toEqual([]); // nothing before it is open
    sockets[0].open();
    const [fa, fb] = sockets[0].sent;
    expect(fa).toMatchObject({ type: "watch", path: "/apis/g/v/machines?resourceVersion=1" });
    expect(fb).toMatchObject({ type: "watch", path: "/api/v1/events?resourceVersion=2" });
    expect(fa.id).not.toBe(fb.id);
    // A watch started on the open socket is sent at once.
    const c = recorder();
    ws.watch("/apis/g/v/volumes", c.handlers);
    expect(sockets[0].sent[2]).toMatchObject({ type: "watch", path: "/apis/g/v/volumes" });
    expect(new Set(sockets[0].sent.map((f) => f.id)).size).toBe(3);

    sockets[0].frame({ type: "event", id: fb.id, event: ev("ADDED", "5") });
    sockets[0].frame({ type: "event", id: fa.id, event: ev("MODIFIED", "6") });
    sockets[0].frame({ type: "event", id: fa.id, event: ev("BOOKMARK", "7") });
    sockets[0].frame({ type: "status", id: fb.id, code: 403, status: { message: "forbidden" } });
    sockets[0].frame({ type: "event", id: fb.id, event: ev("ADDED", "8") }); // over: ignored
    sockets[0].frame({ type: "error", id: sockets[0].sent[2].id, message: "too many watches" });
    sockets[0].frame({ type: "end", id: fa.id });
    expect(a.got).toEqual(["event MODIFIED 6", "event BOOKMARK 7", "end"]);
    expect(b.got).toEqual(["event ADDED 5", "status 403 forbidden"]);
    expect(c.got).toEqual(["error too many watches"]);
    expect(sockets.length).toBe(1);
  });

  it("sends stop for a stopped watch and calls none of its handlers after", () => {
    const { ws, sockets } = fakeWatchSocket();
    const a = recorder();
    const b = recorder();
    const stopA = ws.watch("/a", a.handlers);
    const stopB = ws.watch("/b", b.handlers);
    stopB(); // while connecting: the server never hears of it
    sockets[0].open();
    expect(sockets[0].sent).toEqual([{ type: "watch", id: expect.any(String), path: "/a" }]);
    const id = sockets[0].idOf("/a");
    stopA();
    stopA(); // twice is once
    expect(sockets[0].sent.slice(1)).toEqual([{ type: "stop", id }]);
    sockets[0].frame({ type: "event", id, event: ev("ADDED", "5") });
    sockets[0].drop();
    expect(a.got).toEqual([]);
    expect(b.got).toEqual([]);
  });

  it("closes the socket a grace period after the last watch, and keeps it for a watch within it", () => {
    const { ws, sockets } = fakeWatchSocket({ graceMs: 10_000 });
    const stop1 = ws.watch("/a", recorder().handlers);
    sockets[0].open();
    stop1();
    vi.advanceTimersByTime(9_000);
    expect(sockets[0].closedByApp).toBe(false);
    const stop2 = ws.watch("/b", recorder().handlers); // a page change: same socket
    expect(sockets.length).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(sockets[0].closedByApp).toBe(false);
    stop2();
    vi.advanceTimersByTime(10_000);
    expect(sockets[0].closedByApp).toBe(true);
    // The next watch opens a new socket.
    ws.watch("/c", recorder().handlers);
    expect(sockets.length).toBe(2);
  });

  it("a watch the server ended counts as gone for the grace period too", () => {
    const { ws, sockets } = fakeWatchSocket({ graceMs: 1_000 });
    ws.watch("/a", recorder().handlers);
    sockets[0].open();
    sockets[0].frame({ type: "end", id: sockets[0].idOf("/a") });
    vi.advanceTimersByTime(1_000);
    expect(sockets[0].closedByApp).toBe(true);
  });

  it("ends every watch when the socket closes and reconnects with backoff while watches wait", () => {
    const { ws, sockets } = fakeWatchSocket({ backoffMs: 500, maxBackoffMs: 30_000, stableMs: 10_000 });
    // Watches that resume at once from their end handler, as the live lists do.
    const paths = ["/a", "/b"];
    const logs = paths.map((p) => {
      const r = recorder(() => ws.watch(p, r.handlers));
      ws.watch(p, r.handlers);
      return r;
    });
    sockets[0].open();
    const firstIds = sockets[0].sent.map((f) => f.id);
    vi.advanceTimersByTime(60_000); // a socket that worked for a while
    sockets[0].drop();
    expect(logs.map((l) => l.got)).toEqual([["end"], ["end"]]);

    // Reconnects wait 0.5 s, then 1, 2, 4, ... 30 s while attempts fail.
    const delays = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    for (const expected of delays) {
      const n = sockets.length;
      vi.advanceTimersByTime(expected - 1);
      expect(sockets.length).toBe(n);
      vi.advanceTimersByTime(1);
      expect(sockets.length).toBe(n + 1);
      sockets[n].drop(); // refused before it opened: the waiting watches end and resume
    }
    expect(logs[0].got.length).toBe(1 + delays.length);

    // An attempt that opens carries the waiting watches, with ids not used before.
    vi.advanceTimersByTime(30_000);
    const s = sockets[sockets.length - 1];
    s.open();
    expect(s.sent.map((f) => f.type === "watch" && f.path).sort()).toEqual(paths);
    for (const f of s.sent) expect(firstIds).not.toContain(f.id);
    // Once it has worked for stableMs, the next reconnect waits 0.5 s again.
    vi.advanceTimersByTime(10_000);
    s.drop();
    const n = sockets.length;
    vi.advanceTimersByTime(500);
    expect(sockets.length).toBe(n + 1);
  });

  it("does not reconnect when no watch waits", () => {
    const { ws, sockets } = fakeWatchSocket();
    ws.watch("/a", recorder().handlers); // its end handler does not watch again
    sockets[0].open();
    sockets[0].drop();
    vi.advanceTimersByTime(120_000);
    expect(sockets.length).toBe(1);
  });

  it("starts over on a frame it cannot read", () => {
    const { ws, sockets } = fakeWatchSocket();
    const a = recorder();
    ws.watch("/a", a.handlers);
    sockets[0].open();
    sockets[0].onmessage!({ data: "not json" });
    expect(sockets[0].closedByApp).toBe(true);
    expect(a.got).toEqual(["end"]);
  });

  it("does not use a socket made for another session", () => {
    let token = "one";
    const { ws, sockets } = fakeWatchSocket({ url: () => `ws://console.test/watch/ws?csrf=${token}` });
    const a = recorder();
    ws.watch("/a", a.handlers);
    sockets[0].open();
    token = "two"; // logged out and in again
    ws.watch("/b", recorder().handlers);
    expect(sockets[0].closedByApp).toBe(true);
    expect(a.got).toEqual(["end"]);
    expect(sockets.length).toBe(2);
    expect(sockets[1].url).toBe("ws://console.test/watch/ws?csrf=two");
  });
});
