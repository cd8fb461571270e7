import { afterEach, describe, expect, it, vi } from "vitest";
import { startLiveList } from "./livelist";
import { itemsOf, type LiveState } from "./livestate";
import type { KubeObject } from "./types";

const enc = new TextEncoder();

/** A watch body the test writes to. */
function controlledStream() {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  return {
    body,
    send: (type: string, object: unknown) => ctrl.enqueue(enc.encode(JSON.stringify({ type, object }) + "\n")),
    close: () => ctrl.close(),
    fail: () => ctrl.error(new TypeError("network error")),
  };
}

const m = (name: string, rv: string) => ({ metadata: { name, resourceVersion: rv } });
const list = (rv: string, ...names: string[]) =>
  new Response(JSON.stringify({ metadata: { resourceVersion: rv }, items: names.map((n) => m(n, rv)) }));

/** fakeFetch answers each request with the next answer of the script for its kind. */
function fakeFetch(answers: { list: (() => Response)[]; watch: (() => Response)[] }) {
  const urls: string[] = [];
  const fn = vi.fn(async (url: string) => {
    urls.push(url);
    const next = (url.includes("watch=1") ? answers.watch : answers.list).shift();
    if (!next) return new Promise<Response>(() => {}); // hangs: the test is over
    return next();
  });
  vi.stubGlobal("fetch", fn);
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

afterEach(() => vi.unstubAllGlobals());

describe("startLiveList", () => {
  it("lists, watches from the list's resourceVersion and applies a burst at once", async () => {
    const w = controlledStream();
    const urls = fakeFetch({ list: [() => list("7", "a", "b")], watch: [() => new Response(w.body)] });
    const r = recorder();
    const stop = startLiveList("/k8s/x", { fieldSelector: "a=b" }, r.handlers, fast);
    await vi.waitFor(() => expect(urls.length).toBe(2));
    expect(urls[0]).toBe("/k8s/x?fieldSelector=a%3Db");
    expect(urls[1]).toBe("/k8s/x?fieldSelector=a%3Db&watch=1&resourceVersion=7&allowWatchBookmarks=true");
    expect(r.names()).toEqual(["a", "b"]);
    const before = r.states.length;
    w.send("ADDED", m("c", "8"));
    w.send("DELETED", m("a", "9"));
    w.send("BOOKMARK", m("", "10"));
    await vi.waitFor(() => expect(r.names()).toEqual(["b", "c"]));
    expect(r.states.length).toBe(before + 1); // one state for the whole burst
    expect(r.states[r.states.length - 1]!.resourceVersion).toBe("10");
    stop();
  });

  it("resumes a watch that ended from the last resourceVersion, bookmark included", async () => {
    const w1 = controlledStream();
    const urls = fakeFetch({ list: [() => list("7", "a")], watch: [() => new Response(w1.body)] });
    const r = recorder();
    const stop = startLiveList("/k8s/x", {}, r.handlers, fast);
    await vi.waitFor(() => expect(urls.length).toBe(2));
    w1.send("BOOKMARK", m("", "42"));
    w1.close();
    await vi.waitFor(() => expect(urls.length).toBe(3));
    expect(urls[2]).toContain("resourceVersion=42");
    stop();
  });

  it("relists on a watch answered 410 Gone and on an ERROR event with code 410", async () => {
    const w2 = controlledStream();
    const urls = fakeFetch({
      list: [() => list("7", "a"), () => list("20", "a", "b"), () => list("30", "z")],
      watch: [() => new Response("{}", { status: 410 }), () => new Response(w2.body)],
    });
    const r = recorder();
    const stop = startLiveList("/k8s/x", {}, r.handlers, fast);
    await vi.waitFor(() => expect(r.names()).toEqual(["a", "b"]));
    await vi.waitFor(() => expect(urls.length).toBe(4));
    w2.send("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" });
    await vi.waitFor(() => expect(r.names()).toEqual(["z"]));
    expect(urls.filter((u) => !u.includes("watch=1")).length).toBe(3);
    expect(r.errors.filter((e) => e)).toEqual([]);
    stop();
  });

  it("relists after a broken stream, keeping the objects meanwhile", async () => {
    const w1 = controlledStream();
    const urls = fakeFetch({
      list: [() => list("7", "a"), () => list("9", "a", "b")],
      watch: [() => new Response(w1.body)],
    });
    const r = recorder();
    const stop = startLiveList("/k8s/x", {}, r.handlers, fast);
    await vi.waitFor(() => expect(urls.length).toBe(2));
    w1.fail();
    await vi.waitFor(() => expect(r.names()).toEqual(["a", "b"]));
    expect(r.states.includes(null)).toBe(false);
    expect(r.errors.filter((e) => e)).toEqual([]);
    stop();
  });

  it("shows the API's refusal instead of a list, and recovers", async () => {
    const forbidden = () =>
      new Response(
        JSON.stringify({
          kind: "Status",
          code: 403,
          reason: "Forbidden",
          message: 'machines is forbidden: User "bob"',
        }),
        { status: 403 },
      );
    fakeFetch({ list: [forbidden, () => list("5", "a")], watch: [] });
    const r = recorder();
    const stop = startLiveList("/k8s/x", {}, r.handlers, fast);
    await vi.waitFor(() => expect(r.errors[0]?.message).toBe('machines is forbidden: User "bob"'));
    expect(r.states[0]).toBeNull();
    await vi.waitFor(() => expect(r.names()).toEqual(["a"]));
    expect(r.errors[r.errors.length - 1]).toBeNull();
    stop();
  });
});
