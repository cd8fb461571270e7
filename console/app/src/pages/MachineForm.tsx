// The form that creates a Machine: class, image, volumes, a network and user data.
import { useCallback, useState } from "react";
import { ApiError } from "../api/client";
import { CreateError, createMachine, type MachineInput } from "../api/create";
import { formErrors } from "../api/fielderrors";
import { collectionPath, machineClasses, networks, volumes } from "../api/resources";
import type { Network, Volume } from "../api/types";
import { ClassSelect } from "../components/ClassSelect";
import { Field, inputProps } from "../components/Field";
import { FormButtons } from "../components/FormButtons";
import { TextField } from "../components/TextField";
import { useListOnce } from "../hooks/useListOnce";
import { useSubmit } from "../hooks/useSubmit";

/** Which input a server error's field path belongs to, for the Machine and its Secret. */
const machineInputs = {
  "metadata.name": "metadata.name",
  "spec.machineClassRef": "spec.machineClassRef.name",
  "spec.image": "spec.image",
  "spec.volumes": "spec.volumes",
  "spec.networkInterfaces": "network",
  "spec.ignitionRef": "userData",
};
const secretInputs = { "metadata.name": "metadata.name", data: "userData", stringData: "userData" };

const empty: MachineInput = { name: "", machineClass: "", image: "", volumes: [], network: "", userData: "" };

export function MachineForm(props: {
  ns: string;
  onCreated: (name: string, warning?: string) => void;
  onCancel: () => void;
}) {
  const { ns, onCreated, onCancel } = props;
  const [values, setValues] = useState<MachineInput>(empty);
  const volumeList = useListOnce<Volume>(collectionPath(volumes, ns));
  const networkList = useListOnce<Network>(collectionPath(networks, ns));
  const set = useCallback(<K extends keyof MachineInput>(key: K, value: MachineInput[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
  }, []);
  const setClass = useCallback((v: string) => set("machineClass", v), [set]);
  const { submit, busy, errors } = useSubmit({
    run: async () => {
      const { machine, warning } = await createMachine(ns, values);
      onCreated(machine.metadata.name, warning);
    },
    fail: (err) => {
      const failed = err instanceof CreateError ? err : new CreateError("machine", err);
      if (failed.step === "secret" && failed.error instanceof ApiError && failed.error.status === 404) {
        const text = "This API server serves no Secrets (core/v1), which hold user data: leave user data empty.";
        return { fields: { userData: text }, form: "" };
      }
      const mapped = formErrors(failed.error, failed.step === "secret" ? secretInputs : machineInputs);
      const prefix = failed.step === "secret" ? "The user data Secret was refused: " : "";
      const form = [mapped.form && prefix + mapped.form, failed.note].filter(Boolean).join(" ");
      return { fields: mapped.fields, form };
    },
  });
  const e = errors.fields;

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="machine-form-title" noValidate>
      <h2 id="machine-form-title">New machine in {ns}</h2>
      <TextField
        name="metadata.name"
        label="Name"
        error={e["metadata.name"]}
        value={values.name}
        onChange={(v) => set("name", v)}
      />
      <Field name="spec.machineClassRef.name" label="Machine class" error={e["spec.machineClassRef.name"]}>
        <ClassSelect
          name="spec.machineClassRef.name"
          resource={machineClasses}
          value={values.machineClass}
          error={e["spec.machineClassRef.name"]}
          onChange={setClass}
          describe={(c) => `(${c.capabilities?.cpu ?? "?"} CPU, ${c.capabilities?.memory ?? "?"})`}
        />
      </Field>
      <TextField
        name="spec.image"
        label="Image"
        error={e["spec.image"]}
        hint="An OCI image reference; empty to boot from the first volume."
        placeholder="registry.example/guest:latest"
        value={values.image}
        onChange={(v) => set("image", v)}
      />
      <Field
        name="spec.volumes"
        label="Volumes"
        error={e["spec.volumes"]}
        hint="Existing volumes to attach (Ctrl-click to pick several)."
      >
        <select
          multiple
          size={Math.min(5, Math.max(2, volumeList.items.length))}
          {...inputProps("spec.volumes", e["spec.volumes"])}
          value={values.volumes}
          onChange={(x) =>
            set(
              "volumes",
              Array.from(x.target.selectedOptions, (o) => o.value),
            )
          }
        >
          {volumeList.items.map((v) => (
            <option key={v.metadata.name} value={v.metadata.name} disabled={!!v.spec.claimRef}>
              {v.metadata.name} ({v.spec.resources?.storage ?? "?"})
              {v.spec.claimRef ? `, used by ${v.spec.claimRef.name}` : ""}
            </option>
          ))}
        </select>
      </Field>
      <TextField
        name="network"
        label="Network"
        error={e["network"]}
        hint="The machine gets one network interface in this network; empty for none."
        list="network-names"
        value={values.network}
        onChange={(v) => set("network", v)}
      >
        <datalist id="network-names">
          {networkList.items.map((n) => (
            <option key={n.metadata.name} value={n.metadata.name} />
          ))}
        </datalist>
      </TextField>
      <Field
        name="userData"
        label="User data (Ignition JSON)"
        error={e["userData"]}
        hint={`Stored as the Secret ${values.name || "NAME"}-ignition.`}
      >
        <textarea
          rows={5}
          spellCheck={false}
          {...inputProps("userData", e["userData"])}
          value={values.userData}
          onChange={(x) => set("userData", x.target.value)}
        />
      </Field>
      <FormButtons error={errors.form} busy={busy} label="Create machine" onCancel={onCancel} />
    </form>
  );
}
