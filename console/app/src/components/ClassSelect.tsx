// A select of the cluster's MachineClasses or VolumeClasses (listed, not watched); a text input
// when they cannot be listed (the user may create in a namespace without being allowed to list
// classes).
import { useEffect } from "react";
import { collectionPath, type Resource } from "../api/resources";
import type { Class } from "../api/types";
import { useListOnce } from "../hooks/useListOnce";
import { inputProps } from "./Field";

export function ClassSelect(props: {
  name: string;
  resource: Resource;
  value: string;
  error?: string;
  onChange: (value: string) => void;
  describe: (c: Class) => string;
}) {
  const { name, resource, value, error, onChange, describe } = props;
  const classes = useListOnce<Class>(collectionPath(resource, ""));
  const first = classes.items[0]?.metadata.name;
  useEffect(() => {
    if (!value && first) onChange(first);
  }, [value, first, onChange]);

  if (classes.error && !classes.loaded) {
    return <input type="text" {...inputProps(name, error)} value={value} onChange={(e) => onChange(e.target.value)} />;
  }
  return (
    <select {...inputProps(name, error)} value={value} onChange={(e) => onChange(e.target.value)}>
      {!value && <option value="">{classes.loaded ? "Choose a class" : "Loading…"}</option>}
      {value && !classes.items.some((c) => c.metadata.name === value) && <option value={value}>{value}</option>}
      {classes.items.map((c) => (
        <option key={c.metadata.name} value={c.metadata.name}>
          {c.metadata.name} {describe(c)}
        </option>
      ))}
    </select>
  );
}
