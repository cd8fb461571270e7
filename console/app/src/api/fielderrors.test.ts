import { describe, expect, it } from "vitest";
import { ApiError } from "./client";
import { fieldFor, formErrors } from "./fielderrors";

const machineInputs = {
  "metadata.name": "metadata.name",
  "spec.machineClassRef": "spec.machineClassRef.name",
  "spec.image": "spec.image",
  "spec.volumes": "spec.volumes",
  "spec.networkInterfaces": "network",
  "spec.ignitionRef": "userData",
};

describe("fieldFor", () => {
  it("matches whole path segments, the longest prefix first", () => {
    expect(fieldFor("spec.image", machineInputs)).toBe("spec.image");
    expect(fieldFor("spec.machineClassRef.name", machineInputs)).toBe("spec.machineClassRef.name");
    expect(fieldFor("spec.volumes[1].volumeRef.name", machineInputs)).toBe("spec.volumes");
    expect(fieldFor("spec.networkInterfaces[0].ephemeral.networkRef.name", machineInputs)).toBe("network");
    expect(fieldFor("spec.imageX", machineInputs)).toBeUndefined();
    expect(fieldFor("spec.power", machineInputs)).toBeUndefined();
    expect(fieldFor("spec.resources[storage]", { "spec.resources": "spec.resources.storage" })).toBe(
      "spec.resources.storage",
    );
  });
});

describe("formErrors", () => {
  it("puts each cause next to its input and the others on the form", () => {
    const err = new ApiError(422, 'Machine "x" is invalid: ...', "Invalid", [
      { field: "spec.image", message: 'Invalid value: "::": not an image reference' },
      { field: "metadata.name", message: "Invalid value: must be a DNS label" },
      { field: "metadata.name", message: "Too long" },
      { field: "spec.tolerations[0]", message: "bad" },
    ]);
    expect(formErrors(err, machineInputs)).toEqual({
      fields: {
        "spec.image": 'Invalid value: "::": not an image reference',
        "metadata.name": "Invalid value: must be a DNS label; Too long",
      },
      form: "spec.tolerations[0]: bad",
    });
  });

  it("puts errors without causes on the form", () => {
    const forbidden = new ApiError(
      403,
      'machines.compute.ferrite.dev is forbidden: User "v" cannot create',
      "Forbidden",
    );
    expect(formErrors(forbidden, machineInputs)).toEqual({ fields: {}, form: forbidden.message });
    expect(formErrors(new TypeError("Failed to fetch"), machineInputs)).toEqual({
      fields: {},
      form: "Failed to fetch",
    });
  });
});
