// The end of a create form: its error that belongs to no input, submit and cancel.
import { FormError } from "./Field";

/** FormButtons shows error, the submit button (label, or "Creating…" while busy) and Cancel. */
export function FormButtons(props: { error: string; busy: boolean; label: string; onCancel: () => void }) {
  const { error, busy, label, onCancel } = props;
  return (
    <>
      <FormError message={error} />
      <div className="buttons">
        <button type="submit" className="primary" data-testid="form-submit" disabled={busy}>
          {busy ? "Creating…" : label}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  );
}
