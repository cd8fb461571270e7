// Delete with a confirmation dialog.
import { useState } from "react";

/** DeleteButton asks before it calls onDelete; busy while it runs. */
export function DeleteButton({ what, onDelete }: { what: string; onDelete: () => Promise<void> }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);

  async function confirm() {
    setBusy(true);
    try {
      await onDelete();
    } finally {
      setBusy(false);
      setAsking(false);
    }
  }

  return (
    <>
      <button type="button" className="danger" data-testid="delete" onClick={() => setAsking(true)}>
        Delete
      </button>
      {asking && (
        <div className="backdrop">
          <div role="alertdialog" aria-modal="true" aria-labelledby="delete-title" className="dialog">
            <h2 id="delete-title">Delete {what}?</h2>
            <p>This cannot be undone.</p>
            <div className="buttons">
              <button type="button" onClick={() => setAsking(false)} disabled={busy} autoFocus>
                Cancel
              </button>
              <button type="button" className="danger" data-testid="confirm-delete" onClick={confirm} disabled={busy}>
                {busy ? "Deleting…" : "Delete"}
              </button>
            </div>
          </div>
        </div>
      )}
    </>
  );
}
