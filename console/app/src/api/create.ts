// What the create forms send: the objects built from the form's values, and the Machine's
// create sequence with its user-data Secret.
import { request } from "./client";
import { apiVersion, collectionPath, machines, networks, objectPath, secrets, volumes } from "./resources";
import type { KubeObject, Machine, Network, Volume } from "./types";

/** MachineInput are the Machine form's values. */
export interface MachineInput {
  name: string;
  machineClass: string;
  image: string;
  volumes: string[];
  network: string;
  userData: string;
}

/** userDataKey is the Secret key a Machine's ignitionRef points at by default. */
export const userDataKey = "ignition.json";

/** userDataSecretName names the Secret that holds a Machine's user data. */
export function userDataSecretName(machine: string): string {
  return `${machine}-ignition`;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** machineFromInput builds the Machine; empty optional values are left out for the server's defaults. */
export function machineFromInput(ns: string, input: MachineInput): Machine {
  const spec: Machine["spec"] = { machineClassRef: { name: input.machineClass } };
  if (input.image.trim()) spec.image = input.image.trim();
  if (input.userData.trim()) spec.ignitionRef = { name: userDataSecretName(input.name), key: userDataKey };
  if (input.volumes.length) {
    // A machine's volume names are DNS labels; a Volume's name usually is one, else number them.
    spec.volumes = input.volumes.map((v, i) => ({
      name: dnsLabel.test(v) ? v : `volume-${i}`,
      volumeRef: { name: v },
    }));
  }
  if (input.network.trim()) {
    spec.networkInterfaces = [{ name: "primary", ephemeral: { networkRef: { name: input.network.trim() } } }];
  }
  return { apiVersion: apiVersion(machines), kind: "Machine", metadata: { name: input.name, namespace: ns }, spec };
}

/** CreateStep names the request that failed, for mapping its errors onto the form. */
export type CreateStep = "machine" | "secret";

/** CreateError is a failed create: which step failed, the error it returned and a note. */
export class CreateError extends Error {
  constructor(
    readonly step: CreateStep,
    readonly error: unknown,
    /** What else went wrong while cleaning up, if anything. */
    readonly note = "",
  ) {
    super(messageOf(error));
    this.name = "CreateError";
  }
}

/**
 * createMachine creates the Machine and, with user data, first its Secret: the Machine is
 * validated with a dry run, the Secret made, then the Machine; when the Machine is refused the
 * Secret is deleted again. Once the Machine exists the Secret is made its dependent, so the
 * garbage collector removes it with the Machine; that failing is returned as a warning.
 */
export async function createMachine(ns: string, input: MachineInput): Promise<{ machine: Machine; warning?: string }> {
  const machine = machineFromInput(ns, input);
  const path = collectionPath(machines, ns);
  if (!machine.spec.ignitionRef) {
    return { machine: await step("machine", () => request<Machine>("POST", path, { body: machine })) };
  }
  await step("machine", () => request("POST", `${path}?dryRun=All`, { body: machine }));
  const secretName = userDataSecretName(input.name);
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secretName, namespace: ns },
    type: "Opaque",
    stringData: { [userDataKey]: input.userData },
  };
  await step("secret", () => request("POST", collectionPath(secrets, ns), { body: secret }));
  let created: Machine;
  try {
    created = await request<Machine>("POST", path, { body: machine });
  } catch (err) {
    let note = "";
    try {
      await request("DELETE", objectPath(secrets, ns, secretName));
    } catch (cleanup) {
      note = `The Secret ${secretName} could not be deleted again: ${messageOf(cleanup)}`;
    }
    throw new CreateError("machine", err, note);
  }
  try {
    await request("PATCH", objectPath(secrets, ns, secretName), {
      contentType: "application/merge-patch+json",
      body: {
        metadata: {
          ownerReferences: [
            {
              apiVersion: apiVersion(machines),
              kind: "Machine",
              name: created.metadata.name,
              uid: created.metadata.uid,
            },
          ],
        },
      },
    });
  } catch (err) {
    return { machine: created, warning: `The Secret ${secretName} was not tied to the machine: ${messageOf(err)}` };
  }
  return { machine: created };
}

async function step<T>(name: CreateStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new CreateError(name, err);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** VolumeInput are the Volume form's values. */
export interface VolumeInput {
  name: string;
  volumeClass: string;
  storage: string;
  image: string;
}

/** volumeFromInput builds the Volume. */
export function volumeFromInput(ns: string, input: VolumeInput): Volume {
  const spec: Volume["spec"] = { volumeClassRef: { name: input.volumeClass }, resources: {} };
  if (input.storage.trim()) spec.resources.storage = input.storage.trim();
  if (input.image.trim()) spec.image = input.image.trim();
  return { apiVersion: apiVersion(volumes), kind: "Volume", metadata: { name: input.name, namespace: ns }, spec };
}

/** networkFromInput builds the Network. */
export function networkFromInput(ns: string, name: string): Network {
  return { apiVersion: apiVersion(networks), kind: "Network", metadata: { name, namespace: ns }, spec: {} };
}

/** createObject posts obj to its collection. */
export function createObject<T extends KubeObject>(path: string, obj: T): Promise<T> {
  return request<T>("POST", path, { body: obj });
}
