// Kubernetes resource quantities ("20Gi", "1500", "500m", "1e3") as numbers, and back to text.

const suffixes: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const pattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)$/;

/** isQuantity says whether text is a quantity the API accepts. */
export function isQuantity(text: string): boolean {
  return pattern.test(text.trim());
}

/** parseQuantity returns the quantity's value, or NaN when it is not a quantity. */
export function parseQuantity(text: string | undefined): number {
  const m = pattern.exec((text ?? "").trim());
  if (!m) return NaN;
  const value = Number(m[1]);
  if (m[2]) return value * 10 ** Number(m[2].slice(1));
  return value * suffixes[m[3] ?? ""];
}

/** formatBytes writes a byte count with a binary unit: 21474836480 -> "20 GiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}
