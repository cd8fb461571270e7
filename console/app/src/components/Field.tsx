// A labelled form input with its server error next to it. The input is the child; inputProps
// gives it the id, test id and ARIA attributes that tie label, input and error together.
import type { ReactNode } from "react";

/** inputProps are the attributes of the input for field name. */
export function inputProps(name: string, error?: string) {
  return {
    id: `field-${name}`,
    name,
    "data-testid": `field-${name}`,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": error ? `error-${name}` : undefined,
  };
}

/** Field lays out a label, the input (children), a hint and the field's error. */
export function Field(props: { name: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  const { name, label, error, hint, children } = props;
  return (
    <div className="field">
      <label htmlFor={`field-${name}`}>{label}</label>
      {children}
      {hint && <small className="muted">{hint}</small>}
      {error && (
        <span className="field-error" id={`error-${name}`} data-testid={`error-${name}`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** FormError shows the errors of a form that belong to no single input. */
export function FormError({ message }: { message: string }) {
  if (!message) return null;
  return (
    <p className="form-error" data-testid="form-error" role="alert">
      {message}
    </p>
  );
}
