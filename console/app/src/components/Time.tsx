// A timestamp shown as local time, with the exact value on hover.

export function Time({ at }: { at: string | undefined }) {
  if (!at) return null;
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return <>{at}</>;
  return (
    <time dateTime={at} title={at}>
      {d.toLocaleString()}
    </time>
  );
}
