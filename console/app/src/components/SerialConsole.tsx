// A Machine's serial console in xterm.js: first the console's scrollback (?logs=true), then
// the interactive WebSocket (/console/ws) with binary frames both ways. Loaded on demand:
// xterm.js is most of the app's weight and only this page needs it.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef } from "react";
import { csrf, send } from "../api/client";
import { machines, objectPath } from "../api/resources";
import { usePageError } from "./PageErrors";

/** consoleSocketURL is the WebSocket address of a machine's console on this origin. */
export function consoleSocketURL(loc: Location, ns: string, name: string): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams({ namespace: ns, name, csrf: csrf() });
  return `${scheme}//${loc.host}/console/ws?${q}`;
}

const red = (s: string) => `\r\n\x1b[31m${s}\x1b[0m\r\n`;
const dim = (s: string) => `\r\n\x1b[2m${s}\x1b[0m\r\n`;

export default function SerialConsole({ ns, name }: { ns: string; name: string }) {
  const box = useRef<HTMLDivElement>(null);
  const report = usePageError();

  useEffect(() => {
    const term = new Terminal({ convertEol: true, cursorBlink: true, fontSize: 13, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current!);
    fit.fit();
    const onResize = () => fit.fit();
    window.addEventListener("resize", onResize);
    const stop = new AbortController();
    let socket: WebSocket | undefined;
    const encoder = new TextEncoder();
    const input = term.onData((data) => socket?.readyState === WebSocket.OPEN && socket.send(encoder.encode(data)));
    const binaryInput = term.onBinary((data) => {
      if (socket?.readyState !== WebSocket.OPEN) return;
      socket.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
    });

    async function scrollback() {
      try {
        const res = await send("GET", `${objectPath(machines, ns, name)}/console?logs=true`, {
          headers: { Accept: "text/plain, */*" },
          signal: stop.signal,
        });
        term.write(new Uint8Array(await res.arrayBuffer()));
      } catch (err) {
        if (stop.signal.aborted) return;
        const message = (err as Error).message;
        term.write(red(`scrollback: ${message}`));
        report("console-logs", message);
      }
    }

    function attach() {
      socket = new WebSocket(consoleSocketURL(window.location, ns, name));
      socket.binaryType = "arraybuffer";
      socket.onopen = () => term.focus();
      socket.onmessage = (ev) => {
        if (typeof ev.data !== "string") {
          term.write(new Uint8Array(ev.data as ArrayBuffer));
          return;
        }
        let message = ev.data;
        try {
          const msg = JSON.parse(ev.data) as { type?: string; message?: string };
          if (msg.type === "error") message = msg.message ?? ev.data;
        } catch {
          // not JSON: show the text as it came
        }
        term.write(red(message));
        report("console", message);
      };
      socket.onclose = (ev) => {
        if (stop.signal.aborted) return;
        term.write(dim(`[console closed${ev.reason ? `: ${ev.reason}` : ""}]`));
      };
    }

    void scrollback().then(() => stop.signal.aborted || attach());

    return () => {
      stop.abort();
      socket?.close();
      input.dispose();
      binaryInput.dispose();
      window.removeEventListener("resize", onResize);
      term.dispose();
      report("console", null);
      report("console-logs", null);
    };
  }, [ns, name, report]);

  return <div className="terminal" data-testid="terminal" ref={box} />;
}
