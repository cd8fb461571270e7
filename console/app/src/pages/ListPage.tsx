// The list page of one namespaced resource, with its create button and form.
import { useState } from "react";
import { machines, networks, volumes, collectionPath, type Resource } from "../api/resources";
import type { KubeObject } from "../api/types";
import { usePageError } from "../components/PageErrors";
import { ResourceTable } from "../components/ResourceTable";
import { useCanI } from "../hooks/useCanI";
import { useLiveList } from "../hooks/useLiveList";
import { navigate, withNamespace } from "../router";
import { MachineForm } from "./MachineForm";
import { NetworkForm } from "./NetworkForm";
import { VolumeForm } from "./VolumeForm";

/** forms are the resources the console creates, with their create button's test id. */
const forms: Record<string, { testid: string; label: string; Form: typeof NetworkForm }> = {
  [machines.plural]: { testid: "create-machine", label: "New machine", Form: MachineForm },
  [volumes.plural]: { testid: "create-volume", label: "New volume", Form: VolumeForm },
  [networks.plural]: { testid: "create-network", label: "New network", Form: NetworkForm },
};

export function ListPage({ resource, ns }: { resource: Resource; ns: string }) {
  const list = useLiveList<KubeObject>(collectionPath(resource, ns));
  const [creating, setCreating] = useState(false);
  const form = forms[resource.plural];
  return (
    <>
      <div className="title-row">
        <h1>
          {resource.title} <span className="muted">in {ns}</span>
        </h1>
        {form && !creating && <CreateButton resource={resource} ns={ns} {...form} onClick={() => setCreating(true)} />}
      </div>
      {form && creating && (
        <CreateForm resource={resource} ns={ns} Form={form.Form} onClose={() => setCreating(false)} />
      )}
      <ResourceTable resource={resource} ns={ns} list={list} />
    </>
  );
}

/** CreateButton shows only when a SelfSubjectAccessReview allows creating in the namespace. */
function CreateButton(props: { resource: Resource; ns: string; testid: string; label: string; onClick: () => void }) {
  const allowed = useCanI("create", props.resource, props.ns);
  if (!allowed) return null;
  return (
    <button type="button" className="primary" data-testid={props.testid} onClick={props.onClick}>
      {props.label}
    </button>
  );
}

function CreateForm(props: { resource: Resource; ns: string; Form: typeof NetworkForm; onClose: () => void }) {
  const { resource, ns, Form, onClose } = props;
  const report = usePageError();
  function created(name: string, warning?: string) {
    if (warning) report("create", warning);
    onClose();
    navigate(withNamespace(`/${resource.plural}/${encodeURIComponent(name)}`, ns));
  }
  return <Form ns={ns} onCreated={created} onCancel={onClose} />;
}
