// A Volume's expand action: a merge patch of spec.resources.storage.
import { useState, type FormEvent } from "react";
import { objectPath, volumes } from "../api/resources";
import type { Volume } from "../api/types";
import { patchMerge } from "./MachineActions";
import { usePageError } from "./PageErrors";

export function VolumeActions({ volume, ns }: { volume: Volume; ns: string }) {
  const report = usePageError();
  const current = volume.spec.resources?.storage ?? "";
  const [size, setSize] = useState(current);
  const [busy, setBusy] = useState(false);

  async function expand(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    report("action", null);
    try {
      await patchMerge(objectPath(volumes, ns, volume.metadata.name), {
        spec: { resources: { storage: size.trim() } },
      });
    } catch (err) {
      report("action", (err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="inline" onSubmit={expand}>
      <label htmlFor="expand-size">New size</label>
      <input
        id="expand-size"
        type="text"
        size={8}
        data-testid="expand-size"
        value={size}
        onChange={(e) => setSize(e.target.value)}
      />
      <button type="submit" data-testid="expand" disabled={busy || !size.trim() || size.trim() === current}>
        Expand
      </button>
    </form>
  );
}
