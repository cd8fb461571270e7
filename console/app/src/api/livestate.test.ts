import { describe, expect, it } from "vitest";
import { applyEvents, fromList, isGone, itemsOf, searchKey } from "./livestate";
import type { KubeObject, WatchEvent } from "./types";

function obj(name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { name, namespace: "default", resourceVersion: rv }, ...extra };
}

const names = (s: { keys: readonly string[] }) => s.keys.map((k) => k.split("/")[1]);

describe("live list reducer", () => {
  const start = fromList([obj("b", "2"), obj("a", "1"), obj("c", "3")], "10");

  it("lists in name order with the list's resourceVersion", () => {
    expect(names(start)).toEqual(["a", "b", "c"]);
    expect(start.resourceVersion).toBe("10");
  });

  it("adds in order, modifies in place and deletes", () => {
    const events: WatchEvent[] = [
      { type: "ADDED", object: obj("bb", "11") },
      { type: "MODIFIED", object: obj("a", "12", { status: { state: "Running" } }) },
      { type: "DELETED", object: obj("c", "13") },
      { type: "ADDED", object: obj("0", "14") },
    ];
    const { state, error } = applyEvents(start, events);
    expect(error).toBeUndefined();
    expect(names(state)).toEqual(["0", "a", "b", "bb"]);
    expect(state.byKey.get("default/a")).toMatchObject({ status: { state: "Running" } });
    expect(state.resourceVersion).toBe("14");
    // The old state is untouched, and unchanged objects keep their identity.
    expect(names(start)).toEqual(["a", "b", "c"]);
    expect(state.byKey.get("default/b")).toBe(start.byKey.get("default/b"));
  });

  it("treats a repeated ADDED as a change and a MODIFIED of an unknown object as an add", () => {
    const { state } = applyEvents(start, [
      { type: "ADDED", object: obj("a", "11", { spec: { power: "Off" } }) },
      { type: "MODIFIED", object: obj("d", "12") },
      { type: "DELETED", object: obj("zz", "13") },
    ]);
    expect(names(state)).toEqual(["a", "b", "c", "d"]);
    expect(state.byKey.get("default/a")).toMatchObject({ spec: { power: "Off" } });
  });

  it("takes only the resourceVersion of a bookmark, without copying the list", () => {
    const { state } = applyEvents(start, [{ type: "BOOKMARK", object: obj("", "20") }]);
    expect(state.resourceVersion).toBe("20");
    expect(state.byKey).toBe(start.byKey);
    expect(state.keys).toBe(start.keys);
    expect(applyEvents(start, []).state).toBe(start);
  });

  it("stops at an ERROR event and reports 410 Gone", () => {
    const { state, error } = applyEvents(start, [
      { type: "ADDED", object: obj("d", "11") },
      { type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old" } },
      { type: "ADDED", object: obj("e", "12") },
    ]);
    expect(names(state)).toEqual(["a", "b", "c", "d"]);
    expect(isGone(error)).toBe(true);
    expect(isGone({ code: 500 })).toBe(false);
  });

  it("keeps a large list sorted through many random events", () => {
    let state = fromList<KubeObject>([], "1");
    const live = new Set<string>();
    let rv = 1;
    for (let round = 0; round < 50; round++) {
      const batch: WatchEvent[] = [];
      for (let i = 0; i < 100; i++) {
        const name = `m-${Math.floor(Math.random() * 2000)}`;
        const type = Math.random() < 0.3 ? "DELETED" : Math.random() < 0.5 ? "MODIFIED" : "ADDED";
        batch.push({ type, object: obj(name, String(++rv)) });
        if (type === "DELETED") live.delete(name);
        else live.add(name);
      }
      state = applyEvents(state, batch).state;
    }
    expect(names(state)).toEqual([...live].sort());
    expect(itemsOf(state).map((o) => o.metadata.name)).toEqual([...live].sort());
  });

  it("finds insertion points by binary search", () => {
    expect(searchKey([], "a")).toBe(0);
    expect(searchKey(["a", "c"], "b")).toBe(1);
    expect(searchKey(["a", "c"], "c")).toBe(1);
    expect(searchKey(["a", "c"], "d")).toBe(2);
  });
});
