import { afterEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "./client";
import { CreateError, createMachine, machineFromInput, volumeFromInput, type MachineInput } from "./create";

const input: MachineInput = {
  name: "web-1",
  machineClass: "x3-small",
  image: "registry/guest:1",
  volumes: ["data-0", "Not.A.Label"],
  network: "frontend",
  userData: '{"ignition":{"version":"3.4.0"}}',
};

type Call = { method: string; url: string; body: unknown; csrf: string | null };

function fakeAPI(answer: (c: Call) => Response) {
  const calls: Call[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      const h = new Headers(init.headers);
      const c = {
        method: init.method!,
        url,
        body: init.body ? JSON.parse(init.body as string) : undefined,
        csrf: h.get("X-CSRF-Token"),
      };
      calls.push(c);
      return answer(c);
    }),
  );
  return calls;
}

const invalidImage = () =>
  new Response(
    JSON.stringify({
      kind: "Status",
      code: 422,
      reason: "Invalid",
      message: "invalid",
      details: { causes: [{ field: "spec.image", message: "bad image" }] },
    }),
    { status: 422 },
  );

afterEach(() => vi.unstubAllGlobals());

describe("machineFromInput", () => {
  it("builds volumes, the ephemeral interface and the ignition reference", () => {
    const m = machineFromInput("default", input);
    expect(m.spec).toEqual({
      machineClassRef: { name: "x3-small" },
      image: "registry/guest:1",
      ignitionRef: { name: "web-1-ignition", key: "ignition.json" },
      volumes: [
        { name: "data-0", volumeRef: { name: "data-0" } },
        { name: "volume-1", volumeRef: { name: "Not.A.Label" } },
      ],
      networkInterfaces: [{ name: "primary", ephemeral: { networkRef: { name: "frontend" } } }],
    });
    const bare = machineFromInput("default", { ...input, image: "", volumes: [], network: "", userData: "" });
    expect(bare.spec).toEqual({ machineClassRef: { name: "x3-small" } });
  });

  it("leaves an empty size out of a volume", () => {
    expect(volumeFromInput("ns", { name: "v", volumeClass: "fast", storage: "", image: "" }).spec).toEqual({
      volumeClassRef: { name: "fast" },
      resources: {},
    });
  });
});

describe("createMachine", () => {
  it("validates, makes the Secret, then the Machine, and ties the Secret to it", async () => {
    setCsrfToken("t");
    const calls = fakeAPI(
      (c) =>
        new Response(JSON.stringify(c.url.includes("/machines") ? { metadata: { name: "web-1", uid: "u-1" } } : {}), {
          status: 201,
        }),
    );
    const { machine, warning } = await createMachine("default", input);
    expect(machine.metadata.uid).toBe("u-1");
    expect(warning).toBeUndefined();
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "POST /k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/default/machines?dryRun=All",
      "POST /k8s/api/v1/namespaces/default/secrets",
      "POST /k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/default/machines",
      "PATCH /k8s/api/v1/namespaces/default/secrets/web-1-ignition",
    ]);
    expect(calls[1].body).toMatchObject({
      metadata: { name: "web-1-ignition" },
      stringData: { "ignition.json": input.userData },
    });
    expect(calls[3].body).toMatchObject({
      metadata: { ownerReferences: [{ kind: "Machine", name: "web-1", uid: "u-1" }] },
    });
    expect(calls.every((c) => c.csrf === "t")).toBe(true);
  });

  it("makes no Secret when the dry run refuses the Machine", async () => {
    const calls = fakeAPI(invalidImage);
    const err = await createMachine("default", input).catch((e) => e);
    expect(err).toBeInstanceOf(CreateError);
    expect(err.step).toBe("machine");
    expect(calls.length).toBe(1);
  });

  it("deletes the Secret again when the Machine create fails", async () => {
    const calls = fakeAPI((c) => {
      if (c.method === "POST" && c.url.endsWith("/machines")) return invalidImage();
      return new Response("{}", { status: 201 });
    });
    const err = (await createMachine("default", input).catch((e) => e)) as CreateError;
    expect(err.step).toBe("machine");
    expect(err.note).toBe("");
    expect(calls.map((c) => `${c.method} ${c.url}`).slice(-1)).toEqual([
      "DELETE /k8s/api/v1/namespaces/default/secrets/web-1-ignition",
    ]);
  });

  it("creates a Machine without user data in one request", async () => {
    const calls = fakeAPI(() => new Response('{"metadata":{"name":"web-1"}}', { status: 201 }));
    await createMachine("default", { ...input, userData: " " });
    expect(calls.map((c) => c.method)).toEqual(["POST"]);
    expect(calls[0].body).not.toHaveProperty("spec.ignitionRef");
  });
});
