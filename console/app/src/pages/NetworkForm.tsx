// The form that creates a Network (the API server gives it its VNI).
import { useState, type FormEvent } from "react";
import { createObject, networkFromInput } from "../api/create";
import { formErrors, noErrors, type FormErrors } from "../api/fielderrors";
import { collectionPath, networks } from "../api/resources";
import { Field, FormError, inputProps } from "../components/Field";

export function NetworkForm(props: { ns: string; onCreated: (name: string) => void; onCancel: () => void }) {
  const { ns, onCreated, onCancel } = props;
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setErrors(noErrors);
    try {
      const created = await createObject(collectionPath(networks, ns), networkFromInput(ns, name));
      onCreated(created.metadata.name);
    } catch (err) {
      setErrors(formErrors(err, { "metadata.name": "metadata.name" }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="network-form-title" noValidate>
      <h2 id="network-form-title">New network in {ns}</h2>
      <Field name="metadata.name" label="Name" error={errors.fields["metadata.name"]}>
        <input
          type="text"
          autoComplete="off"
          {...inputProps("metadata.name", errors.fields["metadata.name"])}
          value={name}
          onChange={(x) => setName(x.target.value)}
        />
      </Field>
      <FormError message={errors.form} />
      <div className="buttons">
        <button type="submit" className="primary" data-testid="form-submit" disabled={busy}>
          {busy ? "Creating…" : "Create network"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
