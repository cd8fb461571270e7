// useSubmit: the submit of a form that creates something, with its busy flag and its errors.
import { useState, type FormEvent } from "react";
import { noErrors, type FormErrors } from "../api/fielderrors";

/** SubmitSteps are what a form does on submit. */
export interface SubmitSteps {
  /** Errors found before anything is sent (nothing is sent then); undefined when none. */
  check?: () => FormErrors | undefined;
  /** Sends the form; it throws when that fails. */
  run: () => Promise<void>;
  /** The errors to show for what run threw. */
  fail: (err: unknown) => FormErrors;
}

/** Submit is what useSubmit returns: the form's onSubmit, whether it runs, and its errors. */
export interface Submit {
  submit: (ev: FormEvent) => Promise<void>;
  busy: boolean;
  errors: FormErrors;
}

/** useSubmit runs steps on submit: busy while run runs, the errors cleared before and set after. */
export function useSubmit(steps: SubmitSteps): Submit {
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const found = steps.check?.();
    if (found) {
      setErrors(found);
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      await steps.run();
    } catch (err) {
      setErrors(steps.fail(err));
    } finally {
      setBusy(false);
    }
  }
  return { submit, busy, errors };
}
