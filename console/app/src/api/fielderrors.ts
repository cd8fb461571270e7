// Maps a server's validation error (a 422 Status whose details.causes name fields such as
// `spec.image` or `spec.resources[storage]`) onto a form's inputs.
import { ApiError, errorMessage } from "./client";

/** FormErrors are the messages per input name, and the rest for the whole form. */
export interface FormErrors {
  fields: Record<string, string>;
  form: string;
}

export const noErrors: FormErrors = { fields: {}, form: "" };

/**
 * fieldFor finds the input a cause's field path belongs to: the longest prefix in inputs that
 * matches whole path segments (spec.volumes matches spec.volumes[0].volumeRef.name, not
 * spec.volumesX). inputs maps field path prefixes to input names.
 */
export function fieldFor(path: string, inputs: Record<string, string>): string | undefined {
  let best: string | undefined;
  for (const prefix of Object.keys(inputs)) {
    const next = path.charAt(prefix.length);
    const matches = path === prefix || (path.startsWith(prefix) && (next === "." || next === "["));
    if (matches && (!best || prefix.length > best.length)) best = prefix;
  }
  return best === undefined ? undefined : inputs[best];
}

/**
 * formErrors turns any error into messages for the form: each cause that names one of the
 * inputs goes next to it; causes that name none, and errors without causes (403, 409, a
 * broken connection), go to the form as a whole.
 */
export function formErrors(err: unknown, inputs: Record<string, string>): FormErrors {
  if (!(err instanceof ApiError) || err.causes.length === 0) {
    return { fields: {}, form: errorMessage(err) };
  }
  const fields: Record<string, string> = {};
  const rest: string[] = [];
  for (const cause of err.causes) {
    const message = cause.message || cause.reason || "invalid";
    const input = cause.field ? fieldFor(cause.field, inputs) : undefined;
    if (input) {
      fields[input] = fields[input] ? `${fields[input]}; ${message}` : message;
    } else {
      rest.push(cause.field ? `${cause.field}: ${message}` : message);
    }
  }
  return { fields, form: rest.join("; ") };
}
