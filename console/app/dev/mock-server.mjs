// A stand-in for ferrite-console, for trying the app by hand without a cluster (dev only, not
// shipped). It serves dist/ and mimics the console's HTTP interface (docs: notes of issue 16):
// /auth/*, /k8s/... with list, create (with a few validation rules), merge patch and delete,
// SelfSubjectAccessReviews, the console scrollback, watches over /watch/ws and /console/ws.
// Machines go Pending -> Running, power Off -> Shutdown, and get Events.
//
//   node dev/mock-server.mjs [--port 8091] [--machines 1000]
// Tokens: "admin" may do everything, "viewer" only get/list/watch.
// POST /mock/expire sends every watch an ERROR 410 (to try the relist); POST /mock/burst?state=S
// sets every Machine's status.state to S at once (a burst of watch events).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port ?? 8091);
const dist = new URL("../dist/", import.meta.url).pathname;

// ---- store -------------------------------------------------------------------------------
let rv = 100;
let expiredBelow = 0;
const store = new Map(); // "group/plural" -> Map("ns/name" -> object)
const watchers = new Set();
const consoleLines = new Map(); // machine uid -> text

const kinds = {
  "compute.ferrite.dev/machines": "Machine",
  "compute.ferrite.dev/machineclasses": "MachineClass",
  "compute.ferrite.dev/machinepools": "MachinePool",
  "storage.ferrite.dev/volumes": "Volume",
  "storage.ferrite.dev/volumeclasses": "VolumeClass",
  "storage.ferrite.dev/volumepools": "VolumePool",
  "networking.ferrite.dev/networks": "Network",
  "networking.ferrite.dev/networkinterfaces": "NetworkInterface",
  "networking.ferrite.dev/virtualips": "VirtualIP",
  "/events": "Event",
  "/secrets": "Secret",
};

function coll(res) {
  if (!store.has(res)) store.set(res, new Map());
  return store.get(res);
}
const keyOf = (o) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;

function put(res, obj, type) {
  obj.metadata.resourceVersion = String(++rv);
  coll(res).set(keyOf(obj), obj);
  notify(res, type, obj);
  return obj;
}
function remove(res, obj) {
  coll(res).delete(keyOf(obj));
  obj.metadata.resourceVersion = String(++rv);
  notify(res, "DELETED", obj);
}
function notify(res, type, obj) {
  for (const w of watchers) if (w.res === res && w.match(obj)) w.send({ type, object: obj });
}

function create(res, ns, obj) {
  const [group] = res.split("/");
  obj.apiVersion ??= group ? `${group}/v1alpha1` : "v1";
  obj.kind ??= kinds[res];
  obj.metadata = {
    ...obj.metadata,
    namespace: ns || undefined,
    uid: randomUUID(),
    creationTimestamp: new Date().toISOString(),
    generation: 1,
  };
  return put(res, obj, "ADDED");
}
const get = (res, ns, name) => coll(res).get(`${ns ?? ""}/${name}`);

function event(obj, reason, message, type = "Normal") {
  const ns = obj.metadata.namespace ?? "default";
  const now = new Date().toISOString();
  create("/events", ns, {
    metadata: { name: `${obj.metadata.name}.${randomBytes(4).toString("hex")}` },
    involvedObject: {
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
    },
    reason,
    message,
    type,
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
  });
}

function update(res, obj, change) {
  const cur = get(res, obj.metadata.namespace, obj.metadata.name);
  if (!cur) return;
  const next = structuredClone(cur);
  change(next);
  put(res, next, "MODIFIED");
}

const cond = (type, status, reason, message = "") => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: new Date().toISOString(),
});

// ---- seed --------------------------------------------------------------------------------
create("compute.ferrite.dev/machineclasses", "", {
  metadata: { name: "x3-small" },
  capabilities: { cpu: "2", memory: "4Gi" },
});
create("compute.ferrite.dev/machineclasses", "", {
  metadata: { name: "x3-large" },
  capabilities: { cpu: "8", memory: "32Gi" },
});
create("storage.ferrite.dev/volumeclasses", "", { metadata: { name: "fast" }, capabilities: { iops: "2500" } });
for (const [name, cap] of [
  ["local", 12],
  ["host-b", 40],
]) {
  create("compute.ferrite.dev/machinepools", "", {
    metadata: { name },
    spec: { providerID: `libvirt://${name}` },
    status: {
      conditions: [cond("Ready", "True", "Heartbeat")],
      capacity: { "x3-small": String(cap), "x3-large": String(cap / 4) },
      allocatable: { "x3-small": String(cap - 2), "x3-large": String(cap / 4 - 1) },
      allocated: { "x3-small": "3", "x3-large": "1" },
    },
  });
}
create("storage.ferrite.dev/volumepools", "", {
  metadata: { name: "local" },
  spec: { providerID: "ceph://local/rbd" },
  status: {
    conditions: [cond("Ready", "True", "Heartbeat")],
    capacity: { fast: "500Gi" },
    allocatable: { fast: "450Gi" },
    allocated: { fast: "21Gi" },
  },
});
create("networking.ferrite.dev/networks", "default", {
  metadata: { name: "frontend" },
  spec: {},
  status: { state: "Available", vni: 4242 },
});
create("storage.ferrite.dev/volumes", "default", {
  metadata: { name: "data-0" },
  spec: { volumeClassRef: { name: "fast" }, resources: { storage: "20Gi" }, volumePoolRef: { name: "local" } },
  status: { state: "Available" },
});
create("networking.ferrite.dev/virtualips", "default", {
  metadata: { name: "web-public" },
  spec: { type: "Public", ipFamily: "IPv4" },
  status: { ip: "198.51.100.7" },
});
for (let i = 0; i < Number(args.machines ?? 3); i++) {
  const m = create("compute.ferrite.dev/machines", "default", {
    metadata: { name: `vm-${String(i).padStart(4, "0")}` },
    spec: {
      machineClassRef: { name: "x3-small" },
      image: "127.0.0.1:5050/ferrite/guest:latest",
      power: "On",
      machinePoolRef: { name: "local" },
    },
    status: {
      state: "Running",
      conditions: [cond("Ready", "True", "Running")],
      networkInterfaces: [{ name: "primary", ips: [`10.40.${i >> 8}.${i & 255}`] }],
    },
  });
  consoleLines.set(m.metadata.uid, `[    0.000000] Linux version 6.1 (mock)\r\nwelcome to ${m.metadata.name}\r\n`);
}

// ---- controllers -------------------------------------------------------------------------
const M = "compute.ferrite.dev/machines";
function reconcileMachine(m) {
  setTimeout(() => {
    update(M, m, (x) => {
      x.spec.machinePoolRef = { name: "local" };
    });
    event(m, "Scheduled", "scheduled to machine pool local");
  }, 400);
  setTimeout(() => {
    consoleLines.set(
      m.metadata.uid,
      `[    0.000000] Linux version 6.1 (mock)\r\n[    0.310000] booting ${m.metadata.name}\r\nwelcome to ${m.metadata.name}\r\nlogin: `,
    );
    update(M, m, (x) => {
      x.status = {
        state: "Running",
        conditions: [cond("Ready", "True", "Running", "the machine runs")],
        networkInterfaces: (x.spec.networkInterfaces ?? []).map((n, i) => ({
          name: n.name,
          state: "Attached",
          ips: [`10.40.0.${10 + i}`],
        })),
      };
    });
    event(m, "Started", "the machine runs");
    for (const n of m.spec.networkInterfaces ?? []) {
      if (!n.ephemeral) continue;
      create("networking.ferrite.dev/networkinterfaces", m.metadata.namespace, {
        metadata: { name: `${m.metadata.name}-${n.name}` },
        spec: { networkRef: n.ephemeral.networkRef, machineRef: { name: m.metadata.name } },
        status: { state: "Available", ips: ["10.40.0.10"] },
      });
    }
  }, 1500);
}
function powerChanged(m) {
  setTimeout(() => {
    const off = get(M, m.metadata.namespace, m.metadata.name)?.spec.power === "Off";
    update(M, m, (x) => {
      x.status = {
        ...x.status,
        state: off ? "Shutdown" : "Running",
        conditions: [cond("Ready", off ? "False" : "True", off ? "PoweredOff" : "Running")],
      };
    });
    event(m, off ? "Stopped" : "Started", off ? "the machine was powered off" : "the machine runs");
  }, 1000);
}

// ---- validation --------------------------------------------------------------------------
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const imageRef = /^[a-z0-9.:\-/_]+(:[\w.-]+)?(@sha256:[a-f0-9]{64})?$/;
function validate(res, obj) {
  const causes = [];
  const bad = (field, message) => causes.push({ reason: "FieldValueInvalid", field, message });
  if (!dnsLabel.test(obj.metadata?.name ?? ""))
    bad(
      "metadata.name",
      `Invalid value: "${obj.metadata?.name ?? ""}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`,
    );
  if (res === M) {
    if (!get("compute.ferrite.dev/machineclasses", "", obj.spec?.machineClassRef?.name))
      bad("spec.machineClassRef.name", `Not found: "${obj.spec?.machineClassRef?.name ?? ""}"`);
    if (obj.spec?.image && !imageRef.test(obj.spec.image))
      bad("spec.image", `Invalid value: "${obj.spec.image}": not an image reference`);
    if (!obj.spec?.image && !obj.spec?.volumes?.length)
      bad("spec.image", "Required value: an image, or a first volume to boot from");
  }
  if (res === "storage.ferrite.dev/volumes" && !obj.spec?.resources?.storage)
    bad("spec.resources[storage]", "Required value");
  return causes;
}

// ---- HTTP --------------------------------------------------------------------------------
const sessions = new Map(); // id -> {user, csrfToken, namespace}
const users = { admin: "admin", viewer: "viewer" };

function json(res, code, body, headers = {}) {
  res.writeHead(code, { "Content-Type": "application/json", ...headers });
  res.end(body === undefined ? "" : JSON.stringify(body));
}
function status(res, code, reason, message, causes) {
  json(res, code, {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code,
    reason,
    message,
    details: causes ? { causes } : undefined,
  });
}
async function body(req) {
  let s = "";
  for await (const c of req) s += c;
  return s ? JSON.parse(s) : undefined;
}
function session(req) {
  const m = /ferrite_session=([^;]+)/.exec(req.headers.cookie ?? "");
  return m ? sessions.get(m[1]) : undefined;
}
function merge(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof target[k] === "object" && target[k])
      merge(target[k], v);
    else target[k] = v;
  }
}
function selector(q) {
  const fs = q.get("fieldSelector");
  if (!fs) return () => true;
  const [field, value] = fs.split("=");
  if (field === "metadata.name") return (o) => o.metadata.name === value;
  if (field === "involvedObject.uid") return (o) => o.involvedObject?.uid === value;
  return () => true;
}

// parsePath splits an API path (what follows /k8s) into the resource ("group/plural"), namespace,
// name and subresource; undefined for paths the mock does not know.
function parsePath(path) {
  const m =
    /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path);
  if (!m) return undefined;
  const [, group = "", ns, plural, name, sub] = m;
  return { group, ns, plural, name, sub, r: `${group}/${plural}` };
}

// watch starts a watch of the collection at path with query q: send gets its events, end is
// called when the mock ends it. It returns the function that stops it, or the Status that refuses it.
function watch(path, q, send, end) {
  const p = parsePath(path);
  if (!p || p.name || !kinds[p.r]) return { code: 404, reason: "NotFound", message: `no collection at ${path}` };
  const match = selector(q);
  const from = Number(q.get("resourceVersion") ?? 0);
  if (from < expiredBelow)
    return { code: 410, reason: "Expired", message: `too old resource version: ${from} (${expiredBelow})` };
  const w = { res: p.r, match: (o) => (!p.ns || o.metadata.namespace === p.ns) && match(o), send };
  watchers.add(w);
  const bookmark = setInterval(
    () => send({ type: "BOOKMARK", object: { kind: kinds[p.r], metadata: { resourceVersion: String(rv) } } }),
    15000,
  );
  const stop = () => {
    watchers.delete(w);
    clearInterval(bookmark);
  };
  w.expire = () => {
    send({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" } });
    stop();
    end();
  };
  return stop;
}

async function k8s(req, res, path, q, s) {
  const p = parsePath(path.slice("/k8s".length));
  if (!p) return status(res, 404, "NotFound", `the server could not find the requested resource (${path})`);
  const { group, ns, plural, name, sub, r } = p;
  const viewer = s.user === "viewer";
  if (r === "authorization.k8s.io/selfsubjectaccessreviews") {
    const review = await body(req);
    const verb = review.spec.resourceAttributes.verb;
    return json(res, 201, { ...review, status: { allowed: !viewer || ["get", "list", "watch"].includes(verb) } });
  }
  if (!kinds[r]) return status(res, 404, "NotFound", `the server could not find the requested resource`);
  if (viewer && req.method !== "GET") {
    return status(
      res,
      403,
      "Forbidden",
      `${plural}.${group || "core"} "${name ?? ""}" is forbidden: User "viewer" cannot ${req.method === "POST" ? "create" : req.method.toLowerCase()} resource "${plural}" in API group "${group}" in the namespace "${ns}"`,
    );
  }
  if (req.method === "GET" && sub === "console") {
    const obj = get(r, ns, name);
    if (!obj) return status(res, 404, "NotFound", `machines "${name}" not found`);
    res.writeHead(200, { "Content-Type": "text/plain" });
    return res.end(consoleLines.get(obj.metadata.uid) ?? "");
  }
  if (req.method === "GET" && !name) {
    if (q.get("watch") === "1") return status(res, 400, "BadRequest", "the mock serves watches over /watch/ws only");
    const match = selector(q);
    const inNs = (o) => !ns || o.metadata.namespace === ns;
    const items = [...coll(r).values()].filter((o) => inNs(o) && match(o));
    return json(res, 200, { kind: `${kinds[r]}List`, metadata: { resourceVersion: String(rv) }, items });
  }
  if (req.method === "GET") {
    const obj = get(r, ns, name);
    return obj ? json(res, 200, obj) : status(res, 404, "NotFound", `${plural} "${name}" not found`);
  }
  if (req.method === "POST" && !name) {
    const obj = await body(req);
    const causes = r === "/secrets" ? [] : validate(r, obj);
    if (causes.length)
      return status(
        res,
        422,
        "Invalid",
        `${kinds[r]}.${group} "${obj.metadata?.name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`,
        causes,
      );
    if (get(r, ns, obj.metadata.name))
      return status(res, 409, "AlreadyExists", `${plural} "${obj.metadata.name}" already exists`);
    if (q.get("dryRun") === "All") return json(res, 201, obj);
    const created = create(r, ns, obj);
    if (r === M) {
      created.status = { state: "Pending" };
      reconcileMachine(created);
      event(created, "Created", "the machine was created");
    }
    if (r === "storage.ferrite.dev/volumes")
      setTimeout(
        () =>
          update(r, created, (x) => {
            x.spec.volumePoolRef = { name: "local" };
            x.status = { state: "Available" };
          }),
        800,
      );
    if (r === "networking.ferrite.dev/networks")
      setTimeout(
        () =>
          update(r, created, (x) => {
            x.status = { state: "Available", vni: 4000 + (rv % 1000) };
          }),
        500,
      );
    return json(res, 201, created);
  }
  const obj = get(r, ns, name);
  if (!obj) return status(res, 404, "NotFound", `${plural} "${name}" not found`);
  if (req.method === "PATCH") {
    const next = structuredClone(obj);
    merge(next, await body(req));
    put(r, next, "MODIFIED");
    if (r === M && next.spec.power !== obj.spec.power) powerChanged(next);
    return json(res, 200, next);
  }
  if (req.method === "DELETE") {
    if (r === M) {
      update(r, obj, (x) => {
        x.metadata.deletionTimestamp = new Date().toISOString();
        x.status = { ...x.status, state: "Terminating" };
      });
      setTimeout(() => remove(r, get(r, ns, name)), 1500);
    } else remove(r, obj);
    return json(res, 200, { kind: "Status", status: "Success" });
  }
  status(res, 405, "MethodNotAllowed", "method not allowed");
}

const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };
const csp = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const path = url.pathname;
  try {
    if (path === "/auth/login" && req.method === "POST") {
      const b = await body(req);
      const token = b.token ?? /token:\s*(\S+)/.exec(b.kubeconfig ?? "")?.[1];
      const user = users[token];
      if (!user) return json(res, 401, { message: "Unauthorized: the token was not accepted" });
      const id = randomBytes(32).toString("hex");
      const s = {
        user,
        groups: ["system:authenticated"],
        namespace: "default",
        csrfToken: randomBytes(16).toString("hex"),
      };
      sessions.set(id, s);
      return json(res, 200, s, { "Set-Cookie": `ferrite_session=${id}; Path=/; HttpOnly; SameSite=Strict` });
    }
    if (path === "/mock/expire" && req.method === "POST") {
      expiredBelow = rv + 1;
      for (const w of watchers) w.expire?.();
      return json(res, 200, { expiredBelow });
    }
    if (path === "/mock/burst" && req.method === "POST") {
      const state = url.searchParams.get("state") ?? "Running";
      const all = [...coll(M).values()];
      for (const m of all)
        update(M, m, (x) => {
          x.status = { ...x.status, state };
        });
      return json(res, 200, { changed: all.length });
    }
    if (path.startsWith("/auth/") || path.startsWith("/k8s/")) {
      const s = session(req);
      if (!s) return json(res, 401, { message: "not logged in" });
      if (req.method !== "GET" && req.headers["x-csrf-token"] !== s.csrfToken)
        return json(res, 403, { message: "missing or wrong CSRF token" });
      if (path === "/auth/session") return json(res, 200, s);
      if (path === "/auth/logout") {
        sessions.delete(/ferrite_session=([^;]+)/.exec(req.headers.cookie)[1]);
        return json(res, 204, undefined, { "Set-Cookie": "ferrite_session=; Path=/; Max-Age=0" });
      }
      return await k8s(req, res, path, url.searchParams, s);
    }
    const file = normalize(join(dist, path));
    const target = file.startsWith(dist) && extname(file) ? file : join(dist, "index.html");
    const data = await readFile(target).catch(() => null);
    if (!data) return json(res, 404, { message: "not found" });
    res.writeHead(200, {
      "Content-Type": types[extname(target)] ?? "application/octet-stream",
      "Content-Security-Policy": csp,
      "X-Content-Type-Options": "nosniff",
    });
    res.end(data);
  } catch (err) {
    json(res, 500, { message: String(err) });
  }
});

// ---- WebSockets (RFC 6455, just enough): /console/ws echoes keystrokes, /watch/ws carries watches
function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) head = Buffer.from([0x80 | opcode, 126, len >> 8, len & 255]);
  else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}
const text = (socket, obj) => socket.writable && socket.write(frame(1, Buffer.from(JSON.stringify(obj))));

// readFrames hands each (masked, unfragmented) client frame's opcode and payload to onFrame.
function readFrames(socket, onFrame) {
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 6) {
      const opcode = buf[0] & 15;
      let len = buf[1] & 127;
      let off = 2;
      if (len === 126) {
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const data = Buffer.from(buf.subarray(off + 4, off + 4 + len).map((b, i) => b ^ mask[i % 4]));
      buf = buf.subarray(off + 4 + len);
      if (opcode === 8) {
        socket.end(frame(8, Buffer.alloc(0)));
        return;
      }
      onFrame(opcode, data);
    }
  });
  socket.on("error", () => {});
}

function consoleSocket(socket, s, url) {
  if (s.user === "viewer") {
    text(socket, {
      type: "error",
      message: `machines "${url.searchParams.get("name")}" is forbidden: an interactive console session needs create on machines/console`,
    });
    socket.end(frame(8, Buffer.alloc(0)));
    return;
  }
  socket.write(frame(2, Buffer.from("\r\n[attached to the serial console]\r\n")));
  readFrames(socket, (opcode, data) => {
    if (opcode === 2 || opcode === 1) socket.write(frame(2, Buffer.from(data.toString().replace(/\r/g, "\r\n"))));
  });
}

function watchSocket(socket) {
  const stops = new Map(); // id -> stop
  readFrames(socket, (opcode, data) => {
    if (opcode !== 1) return;
    const f = JSON.parse(data.toString());
    if (f.type === "stop") {
      stops.get(f.id)?.();
      stops.delete(f.id);
      return;
    }
    if (f.type !== "watch") return;
    if (stops.has(f.id)) return text(socket, { type: "error", id: f.id, message: `watch id ${f.id} is in use` });
    const url = new URL(f.path, "http://x");
    const result = watch(
      url.pathname,
      url.searchParams,
      (event) => text(socket, { type: "event", id: f.id, event }),
      () => {
        stops.delete(f.id);
        text(socket, { type: "end", id: f.id });
      },
    );
    if (typeof result === "function") stops.set(f.id, result);
    else text(socket, { type: "status", id: f.id, code: result.code, status: { kind: "Status", ...result } });
  });
  socket.on("close", () => {
    for (const stop of stops.values()) stop();
  });
}

server.on("upgrade", (req, socket) => {
  const url = new URL(req.url, "http://x");
  const s = session(req);
  const known = url.pathname === "/console/ws" || url.pathname === "/watch/ws";
  if (!known || !s || url.searchParams.get("csrf") !== s.csrfToken) {
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
    return;
  }
  const accept = createHash("sha1")
    .update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    .digest("base64");
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  if (url.pathname === "/watch/ws") watchSocket(socket);
  else consoleSocket(socket, s, url);
});

server.listen(port, "127.0.0.1", () =>
  console.log(`mock ferrite-console on http://127.0.0.1:${port}/ (tokens: admin, viewer)`),
);
