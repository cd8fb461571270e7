// A Machine's actions: power off and on (a merge patch of spec.power) and its console.
import { lazy, Suspense, useState } from "react";
import { request } from "../api/client";
import { machines, objectPath } from "../api/resources";
import type { Machine } from "../api/types";
import { usePageError } from "./PageErrors";

const SerialConsole = lazy(() => import("./SerialConsole"));

/** patchMerge sends a JSON merge patch to an object. */
export function patchMerge(path: string, patch: unknown): Promise<unknown> {
  return request("PATCH", path, { body: patch, contentType: "application/merge-patch+json" });
}

export function MachineActions({ machine, ns }: { machine: Machine; ns: string }) {
  const report = usePageError();
  const [busy, setBusy] = useState(false);
  const [consoleOpen, setConsoleOpen] = useState(false);
  const name = machine.metadata.name;
  const power = machine.spec.power ?? "On";

  async function setPower(to: "On" | "Off") {
    setBusy(true);
    report("action", null);
    try {
      await patchMerge(objectPath(machines, ns, name), { spec: { power: to } });
    } catch (err) {
      report("action", (err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" data-testid="power-off" disabled={busy || power === "Off"} onClick={() => setPower("Off")}>
        Power off
      </button>
      <button type="button" data-testid="power-on" disabled={busy || power === "On"} onClick={() => setPower("On")}>
        Power on
      </button>
      <button
        type="button"
        data-testid="open-console"
        aria-expanded={consoleOpen}
        onClick={() => setConsoleOpen((o) => !o)}
      >
        {consoleOpen ? "Close console" : "Open console"}
      </button>
      {consoleOpen && (
        <div className="console-box">
          <Suspense fallback={<p className="muted">Loading the terminal…</p>}>
            <SerialConsole ns={ns} name={name} />
          </Suspense>
        </div>
      )}
    </>
  );
}
