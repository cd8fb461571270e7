// The form that creates a Network (the API server gives it its VNI).
import { useState } from "react";
import { createObject, networkFromInput } from "../api/create";
import { formErrors } from "../api/fielderrors";
import { collectionPath, networks } from "../api/resources";
import { FormButtons } from "../components/FormButtons";
import { TextField } from "../components/TextField";
import { useSubmit } from "../hooks/useSubmit";

export function NetworkForm(props: { ns: string; onCreated: (name: string) => void; onCancel: () => void }) {
  const { ns, onCreated, onCancel } = props;
  const [name, setName] = useState("");
  const { submit, busy, errors } = useSubmit({
    run: async () => {
      const created = await createObject(collectionPath(networks, ns), networkFromInput(ns, name));
      onCreated(created.metadata.name);
    },
    fail: (err) => formErrors(err, { "metadata.name": "metadata.name" }),
  });

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="network-form-title" noValidate>
      <h2 id="network-form-title">New network in {ns}</h2>
      <TextField
        name="metadata.name"
        label="Name"
        error={errors.fields["metadata.name"]}
        value={name}
        onChange={setName}
      />
      <FormButtons error={errors.form} busy={busy} label="Create network" onCancel={onCancel} />
    </form>
  );
}
