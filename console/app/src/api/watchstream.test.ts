import { describe, expect, it } from "vitest";
import { LineDecoder, parseEvents, readWatch, type WatchEvent } from "./watchstream";

const enc = new TextEncoder();

function streamOf(chunks: string[] | Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(typeof chunk === "string" ? enc.encode(chunk) : chunk);
      c.close();
    },
  });
}

const added = '{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}';
const deleted = '{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"6"}}}';

describe("LineDecoder", () => {
  it("keeps a line split across chunks until its newline", () => {
    const d = new LineDecoder();
    expect(d.push(enc.encode(added.slice(0, 10)))).toEqual([]);
    expect(d.push(enc.encode(added.slice(10) + "\n" + deleted.slice(0, 3)))).toEqual([added]);
    expect(d.push(enc.encode(deleted.slice(3) + "\n"))).toEqual([deleted]);
    expect(d.end()).toEqual([]);
  });

  it("keeps a UTF-8 character split across chunks", () => {
    const bytes = enc.encode('{"m":"grüß"}\n');
    const d = new LineDecoder();
    const split = bytes.indexOf(0xc3) + 1; // inside the two bytes of ü
    expect(d.push(bytes.slice(0, split))).toEqual([]);
    expect(d.push(bytes.slice(split))).toEqual(['{"m":"grüß"}']);
  });

  it("returns a last line without newline at the end", () => {
    const d = new LineDecoder();
    expect(d.push(enc.encode(added))).toEqual([]);
    expect(d.end()).toEqual([added]);
  });
});

describe("parseEvents", () => {
  it("skips blank lines and rejects what is not an event", () => {
    expect(parseEvents(["", added, "  "]).map((e) => e.type)).toEqual(["ADDED"]);
    expect(() => parseEvents(['{"kind":"Status"}'])).toThrow(/not an event/);
    expect(() => parseEvents(["{broken"])).toThrow();
  });
});

describe("readWatch", () => {
  it("hands over the events of each chunk together", async () => {
    const calls: WatchEvent[][] = [];
    await readWatch(streamOf([added + "\n" + deleted + "\n", added.slice(0, 20), added.slice(20) + "\n"]), (e) => {
      calls.push(e);
    });
    expect(calls.map((c) => c.map((e) => e.type))).toEqual([["ADDED", "DELETED"], ["ADDED"]]);
  });

  it("throws when the stream breaks", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode(added + "\n"));
        c.error(new TypeError("network error"));
      },
    });
    const seen: string[] = [];
    await expect(
      readWatch(body, (e) => {
        seen.push(...e.map((x) => x.type));
      }),
    ).rejects.toThrow("network error");
  });
});
