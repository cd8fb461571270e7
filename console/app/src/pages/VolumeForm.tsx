// The form that creates a Volume: class, size and an optional image.
import { useCallback, useState, type FormEvent } from "react";
import { createObject, volumeFromInput, type VolumeInput } from "../api/create";
import { formErrors, noErrors, type FormErrors } from "../api/fielderrors";
import { isQuantity } from "../api/quantity";
import { collectionPath, volumeClasses, volumes } from "../api/resources";
import { ClassSelect } from "../components/ClassSelect";
import { Field, FormError, inputProps } from "../components/Field";

const volumeInputs = {
  "metadata.name": "metadata.name",
  "spec.volumeClassRef": "spec.volumeClassRef.name",
  "spec.resources": "spec.resources.storage",
  "spec.image": "spec.image",
};

export function VolumeForm(props: { ns: string; onCreated: (name: string) => void; onCancel: () => void }) {
  const { ns, onCreated, onCancel } = props;
  const [values, setValues] = useState<VolumeInput>({ name: "", volumeClass: "", storage: "", image: "" });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const set = useCallback((key: keyof VolumeInput, value: string) => setValues((v) => ({ ...v, [key]: value })), []);
  const setClass = useCallback((v: string) => set("volumeClass", v), [set]);
  const e = errors.fields;

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    // A size that is no quantity fails to decode on the server (400, no field named): say so here.
    if (values.storage.trim() && !isQuantity(values.storage)) {
      setErrors({ fields: { "spec.resources.storage": `"${values.storage}" is not a size such as 10Gi` }, form: "" });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const created = await createObject(collectionPath(volumes, ns), volumeFromInput(ns, values));
      onCreated(created.metadata.name);
    } catch (err) {
      setErrors(formErrors(err, volumeInputs));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="volume-form-title" noValidate>
      <h2 id="volume-form-title">New volume in {ns}</h2>
      <Field name="metadata.name" label="Name" error={e["metadata.name"]}>
        <input
          type="text"
          autoComplete="off"
          {...inputProps("metadata.name", e["metadata.name"])}
          value={values.name}
          onChange={(x) => set("name", x.target.value)}
        />
      </Field>
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
      <Field name="spec.resources.storage" label="Size" error={e["spec.resources.storage"]} hint="For example 10Gi.">
        <input
          type="text"
          autoComplete="off"
          placeholder="10Gi"
          {...inputProps("spec.resources.storage", e["spec.resources.storage"])}
          value={values.storage}
          onChange={(x) => set("storage", x.target.value)}
        />
      </Field>
      <Field
        name="spec.image"
        label="Image"
        error={e["spec.image"]}
        hint="Optional: an OCI image to fill the volume from."
      >
        <input
          type="text"
          autoComplete="off"
          {...inputProps("spec.image", e["spec.image"])}
          value={values.image}
          onChange={(x) => set("image", x.target.value)}
        />
      </Field>
      <FormError message={errors.form} />
      <div className="buttons">
        <button type="submit" className="primary" data-testid="form-submit" disabled={busy}>
          {busy ? "Creating…" : "Create volume"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
