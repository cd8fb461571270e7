// The wait before retrying something that keeps failing, shared by the live lists and the
// watch socket.

/** backoffDelay is the wait after the n-th failure in a row: doubling from baseMs, capped at
 * maxMs, jittered down by up to half (so that many clients do not retry in step). */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return full / 2 + Math.random() * (full / 2);
}
