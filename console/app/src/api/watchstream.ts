// Parsing of a Kubernetes watch response: newline-delimited JSON, one event per line, that
// arrives in chunks which may split a line (or a UTF-8 character) anywhere.
import type { KubeObject, Status } from "./types";

/** WatchEvent is one line of a watch stream. */
export type WatchEvent<T extends KubeObject = KubeObject> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: Status };

/** LineDecoder turns byte chunks into complete lines; a partial last line waits for more. */
export class LineDecoder {
  private decoder = new TextDecoder();
  private rest = "";

  /** push adds a chunk and returns the lines it completed. */
  push(chunk: Uint8Array): string[] {
    const text = this.rest + this.decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    return lines;
  }

  /** end returns the last line when the stream ended without a newline. */
  end(): string[] {
    const last = this.rest + this.decoder.decode();
    this.rest = "";
    return last.trim() ? [last] : [];
  }
}

/** parseEvents decodes lines into events; blank lines are skipped, a bad line throws. */
export function parseEvents(lines: string[]): WatchEvent[] {
  const events: WatchEvent[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line) as WatchEvent;
    if (!ev || typeof ev.type !== "string" || typeof ev.object !== "object") {
      throw new Error(`watch: not an event: ${line.slice(0, 100)}`);
    }
    events.push(ev);
  }
  return events;
}

/**
 * readWatch reads a watch response body to its end, handing each chunk's events to onEvents
 * together (a burst of events arrives as one call). It returns when the server closes the
 * stream or onEvents returns false (the stream is then cancelled), and throws when the stream
 * breaks.
 */
export async function readWatch(
  body: ReadableStream<Uint8Array>,
  onEvents: (events: WatchEvent[]) => boolean | void,
): Promise<void> {
  const reader = body.getReader();
  const lines = new LineDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const events = parseEvents(lines.push(value));
      if (events.length && onEvents(events) === false) {
        await reader.cancel();
        return;
      }
    }
    const events = parseEvents(lines.end());
    if (events.length) onEvents(events);
  } finally {
    reader.releaseLock();
  }
}
