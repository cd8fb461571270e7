// A labelled one-line text input with its hint and server error: the input most form fields are.
import type { ReactNode } from "react";
import { Field, inputProps } from "./Field";

/**
 * TextField is a Field around a text input for field name whose value is value; onChange gets
 * the new text. list names a datalist of suggestions, given as children.
 */
export function TextField(props: {
  name: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  error?: string;
  hint?: string;
  placeholder?: string;
  list?: string;
  children?: ReactNode;
}) {
  const { name, label, value, onChange, error, hint, placeholder, list, children } = props;
  return (
    <Field name={name} label={label} error={error} hint={hint}>
      <input
        type="text"
        list={list}
        autoComplete="off"
        placeholder={placeholder}
        {...inputProps(name, error)}
        value={value}
        onChange={(x) => onChange(x.target.value)}
      />
      {children}
    </Field>
  );
}
