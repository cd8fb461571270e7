// The form that creates a Volume: class, size and an optional image.
import { useCallback, useState } from "react";
import { createObject, volumeFromInput, type VolumeInput } from "../api/create";
import { formErrors } from "../api/fielderrors";
import { isQuantity } from "../api/quantity";
import { collectionPath, volumeClasses, volumes } from "../api/resources";
import { ClassSelect } from "../components/ClassSelect";
import { Field } from "../components/Field";
import { FormButtons } from "../components/FormButtons";
import { TextField } from "../components/TextField";
import { useSubmit } from "../hooks/useSubmit";

const volumeInputs = {
  "metadata.name": "metadata.name",
  "spec.volumeClassRef": "spec.volumeClassRef.name",
  "spec.resources": "spec.resources.storage",
  "spec.image": "spec.image",
};

export function VolumeForm(props: { ns: string; onCreated: (name: string) => void; onCancel: () => void }) {
  const { ns, onCreated, onCancel } = props;
  const [values, setValues] = useState<VolumeInput>({ name: "", volumeClass: "", storage: "", image: "" });
  const set = useCallback((key: keyof VolumeInput, value: string) => setValues((v) => ({ ...v, [key]: value })), []);
  const setClass = useCallback((v: string) => set("volumeClass", v), [set]);
  const { submit, busy, errors } = useSubmit({
    // A size that is no quantity fails to decode on the server (400, no field named): say so here.
    check: () =>
      values.storage.trim() && !isQuantity(values.storage)
        ? { fields: { "spec.resources.storage": `"${values.storage}" is not a size such as 10Gi` }, form: "" }
        : undefined,
    run: async () => {
      const created = await createObject(collectionPath(volumes, ns), volumeFromInput(ns, values));
      onCreated(created.metadata.name);
    },
    fail: (err) => formErrors(err, volumeInputs),
  });
  const e = errors.fields;

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="volume-form-title" noValidate>
      <h2 id="volume-form-title">New volume in {ns}</h2>
      <TextField
        name="metadata.name"
        label="Name"
        error={e["metadata.name"]}
        value={values.name}
        onChange={(v) => set("name", v)}
      />
      <Field name="spec.volumeClassRef.name" label="Volume class" error={e["spec.volumeClassRef.name"]}>
        <ClassSelect
          name="spec.volumeClassRef.name"
          resource={volumeClasses}
          value={values.volumeClass}
          error={e["spec.volumeClassRef.name"]}
          onChange={setClass}
          describe={(c) => (c.capabilities?.iops ? `(${c.capabilities.iops} IOPS)` : "")}
        />
      </Field>
      <TextField
        name="spec.resources.storage"
        label="Size"
        error={e["spec.resources.storage"]}
        hint="For example 10Gi."
        placeholder="10Gi"
        value={values.storage}
        onChange={(v) => set("storage", v)}
      />
      <TextField
        name="spec.image"
        label="Image"
        error={e["spec.image"]}
        hint="Optional: an OCI image to fill the volume from."
        value={values.image}
        onChange={(v) => set("image", v)}
      />
      <FormButtons error={errors.form} busy={busy} label="Create volume" onCancel={onCancel} />
    </form>
  );
}
