import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeWatchSocket } from "./fakesocket";
import { startLiveList } from "./livelist";
import { itemsOf, type LiveState } from "./livestate";
import type { KubeObject } from "./types";

const m = (name: string, rv: string) => ({ metadata: { name, resourceVersion: rv } });
const list = (rv: string, ...names: string[]) =>
  new Response(JSON.stringify({ metadata: { resourceVersion: rv }, items: names.map((n) => m(n, rv)) }));

/** fakeFetch answers each LIST with the next answer of the script; watches go over the socket. */
function fakeFetch(answers: (() => Response)[]) {
  const urls: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string) => {
      urls.push(url);
      const next = answers.shift();
      if (!next) return new Promise<Response>(() => {}); // hangs: the test is over
      return next();
    }),
  );
  return urls;
}

function recorder() {
  const states: (LiveState<KubeObject> | null)[] = [];
  const errors: (Error | null)[] = [];
  return {
    states,
    errors,
    handlers: {
      onState: (s: LiveState<KubeObject> | null) => states.push(s),
      onError: (e: Error | null) => errors.push(e),
    },
    names: () => {
      const s = states[states.length - 1];
      return s ? itemsOf(s).map((o) => o.metadata.name) : null;
    },
  };
}

const fast = { batchMs: 5, backoffMs: 1, maxBackoffMs: 5, minWatchMs: 0 };

/** setup is a live list of /k8s/x over a fake watch socket whose connections open by themselves. */
function setup(lists: (() => Response)[], query: Record<string, string> = {}, opts = {}) {
  const urls = fakeFetch(lists);
  const socket = fakeWatchSocket({ autoOpen: true, backoffMs: 1, maxBackoffMs: 5 });
  const r = recorder();
  const stop = startLiveList("/k8s/x", query, r.handlers, { ...fast, ...opts, watcher: socket.ws });
  /** watches are the watch frames sent on all sockets so far. */
  const watches = () => socket.sockets.flatMap((s) => s.sent.filter((f) => f.type === "watch"));
  /** send sends a frame for the last watch of the current socket. */
  const send = (f: Record<string, unknown>) => {
    const s = socket.last();
    s.frame({ id: s.idOf("/x"), ...f });
  };
  const event = (type: string, object: unknown) => send({ type: "event", event: { type, object } });
  return { urls, socket, r, stop, watches, send, event };
}

afterEach(() => vi.unstubAllGlobals());

describe("startLiveList", () => {
  it("lists with a GET, watches from the list's resourceVersion over the socket and applies a burst at once", async () => {
    const t = setup([() => list("7", "a", "b")], { fieldSelector: "a=b" });
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    expect(t.urls).toEqual(["/k8s/x?fieldSelector=a%3Db"]);
    expect(t.watches()[0].path).toBe("/x?fieldSelector=a%3Db&resourceVersion=7&allowWatchBookmarks=true");
    expect(t.r.names()).toEqual(["a", "b"]);
    const before = t.r.states.length;
    t.event("ADDED", m("c", "8"));
    t.event("DELETED", m("a", "9"));
    t.event("BOOKMARK", m("", "10"));
    await vi.waitFor(() => expect(t.r.names()).toEqual(["b", "c"]));
    expect(t.r.states.length).toBe(before + 1); // one state for the whole burst
    expect(t.r.states[t.r.states.length - 1]!.resourceVersion).toBe("10");
    t.stop();
    expect(t.socket.last().sent.pop()).toEqual({ type: "stop", id: t.watches()[0].id });
  });

  it("resumes a watch that ended from the last resourceVersion, bookmark included, without relisting", async () => {
    const t = setup([() => list("7", "a")]);
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    t.event("BOOKMARK", m("", "42"));
    t.send({ type: "end" });
    await vi.waitFor(() => expect(t.watches().length).toBe(2));
    expect(t.watches()[1].path).toBe("/x?resourceVersion=42&allowWatchBookmarks=true");
    expect(t.urls.length).toBe(1);
    t.stop();
  });

  it("resumes from the last resourceVersion on a new socket when the socket closes", async () => {
    const t = setup([() => list("7", "a")]);
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    t.event("MODIFIED", m("a", "12"));
    await vi.waitFor(() => expect(t.r.states.length).toBe(2));
    t.socket.last().drop();
    await vi.waitFor(() => expect(t.socket.sockets.length).toBe(2));
    await vi.waitFor(() => expect(t.watches().length).toBe(2));
    expect(t.watches()[1].path).toBe("/x?resourceVersion=12&allowWatchBookmarks=true");
    expect(t.urls.length).toBe(1);
    t.stop();
  });

  it("relists on a watch answered 410 Gone and on an ERROR event with code 410", async () => {
    const t = setup([() => list("7", "a"), () => list("20", "a", "b"), () => list("30", "z")]);
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    t.send({ type: "status", code: 410, status: { kind: "Status", code: 410, reason: "Expired", message: "gone" } });
    await vi.waitFor(() => expect(t.r.names()).toEqual(["a", "b"]));
    await vi.waitFor(() => expect(t.watches().length).toBe(2));
    expect(t.watches()[1].path).toContain("resourceVersion=20");
    t.event("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" });
    await vi.waitFor(() => expect(t.r.names()).toEqual(["z"]));
    expect(t.urls.length).toBe(3);
    expect(t.r.errors.filter((e) => e)).toEqual([]);
    t.stop();
  });

  it("shows the API's refusal of the watch (status 403) instead of the list, and recovers", async () => {
    const t = setup([() => list("7", "a"), () => list("9", "b")]);
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    const forbidden = { kind: "Status", code: 403, reason: "Forbidden", message: 'machines is forbidden: User "bob"' };
    t.send({ type: "status", code: 403, status: forbidden });
    await vi.waitFor(() => expect(t.r.errors.filter((e) => e).length).toBe(1));
    const err = t.r.errors.find((e) => e)!;
    expect(err.message).toBe('machines is forbidden: User "bob"');
    expect(err).toMatchObject({ status: 403, reason: "Forbidden" });
    expect(t.r.states).toContain(null);
    await vi.waitFor(() => expect(t.r.names()).toEqual(["b"]));
    expect(t.r.errors[t.r.errors.length - 1]).toBeNull();
    t.stop();
  });

  it("shows the console's refusal of the watch (error frame)", async () => {
    const t = setup([() => list("7", "a")]);
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    t.send({ type: "error", message: "too many watches on this socket" });
    await vi.waitFor(() => expect(t.r.errors[t.r.errors.length - 1]?.message).toBe("too many watches on this socket"));
    expect(t.r.names()).toBeNull();
    t.stop();
  });

  it("shows the API's refusal of the list, and recovers", async () => {
    const forbidden = () =>
      new Response(
        JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden", message: 'machines is forbidden: User "bob"' }),
        { status: 403 },
      );
    const t = setup([forbidden, () => list("5", "a")]);
    await vi.waitFor(() => expect(t.r.errors[0]?.message).toBe('machines is forbidden: User "bob"'));
    expect(t.r.states[0]).toBeNull();
    await vi.waitFor(() => expect(t.r.names()).toEqual(["a"]));
    expect(t.r.errors[t.r.errors.length - 1]).toBeNull();
    t.stop();
  });

  it("relists after a backoff, keeping the objects, when a watch ends at once", async () => {
    const t = setup([() => list("7", "a"), () => list("9", "a", "b")], {}, { minWatchMs: 60_000 });
    await vi.waitFor(() => expect(t.watches().length).toBe(1));
    t.send({ type: "end" });
    await vi.waitFor(() => expect(t.r.names()).toEqual(["a", "b"]));
    expect(t.r.states).not.toContain(null);
    expect(t.r.errors.filter((e) => e)).toEqual([]);
    t.stop();
  });
});
