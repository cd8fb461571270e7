import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, request, send, setCsrfToken } from "./client";

function captureFetch(answer: () => Response = () => new Response("{}")) {
  const seen: { method: string; headers: Headers; body?: string }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_url: string, init: RequestInit) => {
      seen.push({ method: init.method ?? "GET", headers: new Headers(init.headers), body: init.body as string });
      return answer();
    }),
  );
  return seen;
}

afterEach(() => vi.unstubAllGlobals());

describe("CSRF header", () => {
  it("is sent on every mutating request and not on reads", async () => {
    setCsrfToken("tok-123");
    const seen = captureFetch();
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) await request(method, "/k8s/api/v1/x", { body: {} });
    await request("GET", "/k8s/api/v1/x");
    expect(seen.map((s) => [s.method, s.headers.get("X-CSRF-Token")])).toEqual([
      ["POST", "tok-123"],
      ["PUT", "tok-123"],
      ["PATCH", "tok-123"],
      ["DELETE", "tok-123"],
      ["GET", null],
    ]);
  });

  it("goes with a merge patch's own content type", async () => {
    setCsrfToken("tok-9");
    const seen = captureFetch();
    await request("PATCH", "/k8s/x", { body: { spec: { power: "Off" } }, contentType: "application/merge-patch+json" });
    expect(seen[0].headers.get("Content-Type")).toBe("application/merge-patch+json");
    expect(seen[0].headers.get("X-CSRF-Token")).toBe("tok-9");
    expect(seen[0].body).toBe('{"spec":{"power":"Off"}}');
  });
});

describe("errors", () => {
  it("carry a Status's message, reason and causes", async () => {
    captureFetch(
      () =>
        new Response(
          JSON.stringify({
            kind: "Status",
            code: 422,
            reason: "Invalid",
            message: 'Machine.compute.ferrite.dev "m" is invalid: spec.image: Invalid value',
            details: { causes: [{ field: "spec.image", message: "Invalid value" }] },
          }),
          { status: 422 },
        ),
    );
    const err = (await send("POST", "/k8s/x", { body: {} }).catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.reason).toBe("Invalid");
    expect(err.causes).toEqual([{ field: "spec.image", message: "Invalid value" }]);
  });

  it("carry the console's {message} and plain text", async () => {
    captureFetch(() => new Response('{"message":"csrf token missing"}', { status: 403 }));
    expect((await send("POST", "/k8s/x").catch((e) => e)).message).toBe("csrf token missing");
    captureFetch(() => new Response("upstream down\n", { status: 502 }));
    expect((await send("GET", "/k8s/x").catch((e) => e)).message).toBe("upstream down");
  });
});

describe("errors of paths the API server does not serve", () => {
  it("name the status and the path, not the server's list of paths", async () => {
    captureFetch(() => new Response('{"paths":["/apis","/healthz"]}', { status: 404, statusText: "Not Found" }));
    const err = await send("POST", "/k8s/api/v1/namespaces/default/secrets?dryRun=All").catch((e) => e);
    expect(err.message).toBe("404 Not Found (/api/v1/namespaces/default/secrets)");
  });
});
