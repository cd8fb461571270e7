import { describe, expect, it } from "vitest";
import { formatBytes, isQuantity, parseQuantity } from "./quantity";

describe("quantities", () => {
  it("parse binary, decimal and exponent forms", () => {
    expect(parseQuantity("20Gi")).toBe(20 * 2 ** 30);
    expect(parseQuantity("1500")).toBe(1500);
    expect(parseQuantity("500m")).toBe(0.5);
    expect(parseQuantity("2k")).toBe(2000);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(parseQuantity("1.5Gi")).toBe(1.5 * 2 ** 30);
    expect(parseQuantity("ten")).toBeNaN();
    expect(isQuantity("10Gi")).toBe(true);
    expect(isQuantity("10 GB")).toBe(false);
  });

  it("format bytes with binary units", () => {
    expect(formatBytes(20 * 2 ** 30)).toBe("20 GiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(12)).toBe("12 B");
  });
});
