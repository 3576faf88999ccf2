// A test fixture written for clipbridge: a reconstruction, from the wire
// facts of Paperclip's http2_v1 host side (http2-bridge-server.ts and the
// readiness gate it is bound behind), of what a gateway sees of it. Not
// Paperclip's code. Node 20, no dependencies.
//
// Usage: node paperclip-host.mjs <gateway argv...>
// Env: FIXTURE_UPSTREAM (base URL forwarded to), FIXTURE_RUN_TOKEN,
// FIXTURE_RUN_ID, PAPERCLIP_BRIDGE_TOKEN, PAPERCLIP_BRIDGE_PORT.
//
// It starts the gateway with Paperclip's environment and a fresh nonce;
// reads stdout into a bounded buffer until the READY line (strict schema,
// the nonce must match) and the client preface right after it; then binds
// an http2 server that is never listen()ed to the channel with Paperclip's
// bounded options (64 streams, 16 KiB header list, 16 MiB session
// memory). Per stream, in order: constant-time token check (401), one
// canonical :path parse (400 "Invalid request path: <reason>"), route
// allowlist (403 "Route not allowed: M P"), header allowlist; then the
// body is read under the cap and forwarded with the real token and the
// run id. It prints "HOST READY" on its own stdout, or "HOST FALLBACK
// <reason>" when the readiness check fails (where Paperclip falls back to
// queue_v1).
import { spawn } from "node:child_process";
import http2 from "node:http2";
import { Duplex } from "node:stream";
import { randomBytes, timingSafeEqual } from "node:crypto";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const MAX_PRE_READY = 8192;
const token = process.env.PAPERCLIP_BRIDGE_TOKEN;
const upstream = process.env.FIXTURE_UPSTREAM;
const routes = [
  ["GET", /^\/api\/agents\/me$/],
  ["POST", /^\/api\/issues\/[^/]+\/comments$/],
  ["PATCH", /^\/api\/issues\/[^/]+$/],
  ["POST", /^\/api\/companies\/[^/]+\/issues\/[^/]+\/attachments$/],
];
const allow = ["accept", "content-type", "if-match", "if-none-match", "x-paperclip-github-capability"];
const maxBody = 10551296;

const nonce = randomBytes(16).toString("hex");
const [cmd, ...args] = process.argv.slice(2);
const child = spawn(cmd, args, {
  stdio: ["pipe", "pipe", "inherit"],
  env: {
    PATH: process.env.PATH,
    PAPERCLIP_API_BRIDGE_MODE: "http2_v1",
    PAPERCLIP_BRIDGE_TOKEN: token,
    PAPERCLIP_BRIDGE_HOST: "127.0.0.1",
    PAPERCLIP_BRIDGE_PORT: process.env.PAPERCLIP_BRIDGE_PORT,
    PAPERCLIP_BRIDGE_NONCE: nonce,
    PAPERCLIP_BRIDGE_MAX_BODY_BYTES: String(maxBody),
  },
});
child.on("exit", () => process.exit(0));
process.on("SIGTERM", () => { child.kill("SIGTERM"); });

function fallback(reason) {
  process.stdout.write("HOST FALLBACK " + reason + "\n");
  child.kill("SIGKILL");
}

let buf = Buffer.alloc(0);
let bound = false;
const timer = setTimeout(() => fallback("ready_timeout"), 10000);
child.stdout.on("data", onReadiness);

function onReadiness(chunk) {
  if (bound) return;
  buf = Buffer.concat([buf, chunk]);
  const nl = buf.indexOf(0x0a);
  if (nl < 0) {
    if (buf.length > MAX_PRE_READY) fallback("contaminated");
    return;
  }
  let frame;
  try {
    frame = JSON.parse(buf.subarray(0, nl).toString("utf8"));
  } catch {
    return fallback("ready_invalid");
  }
  const keys = frame && typeof frame === "object" ? Object.keys(frame).sort().join(",") : "";
  if (keys !== "nonce,type,version" || frame.version !== 2 || frame.type !== "ready" || typeof frame.nonce !== "string") {
    return fallback("ready_invalid");
  }
  if (frame.nonce !== nonce) return fallback("ready_nonce_mismatch");
  const rest = buf.subarray(nl + 1);
  const seen = rest.subarray(0, PREFACE.length);
  if (!PREFACE.subarray(0, seen.length).equals(seen)) return fallback("preface_missing");
  if (seen.length < PREFACE.length) {
    if (buf.length > MAX_PRE_READY + PREFACE.length) fallback("preface_missing");
    return;
  }
  clearTimeout(timer);
  bound = true;
  child.stdout.off("data", onReadiness);
  bind(rest);
}

function bind(first) {
  const d = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once("drain", () => cb());
    },
  });
  d.push(first);
  child.stdout.on("data", (c) => d.push(c));
  child.stdout.on("end", () => d.push(null));
  const server = http2.createServer({
    settings: { enablePush: false, maxConcurrentStreams: 64, maxHeaderListSize: 16384, headerTableSize: 4096 },
    maxSessionMemory: 16,
    maxHeaderListPairs: 128,
  });
  server.on("session", (s) => s.on("error", () => {}));
  server.on("stream", (stream, headers) => handle(stream, headers).catch(() => stream.destroy()));
  server.emit("connection", d);
  process.stdout.write("HOST READY\n");
}

function sameToken(got) {
  const a = Buffer.from(token);
  const b = Buffer.from(typeof got === "string" ? got : "");
  return a.length === b.length && timingSafeEqual(a, b);
}

function canonical(raw) {
  if (typeof raw !== "string" || raw.length === 0) return { reason: "missing_path" };
  if (!raw.startsWith("/") || raw.startsWith("//") || raw.includes("://")) return { reason: "non_origin_form" };
  if (/%2f/i.test(raw)) return { reason: "encoded_slash" };
  if (raw.includes("\\")) return { reason: "backslash" };
  if (raw.includes("\0") || /%00/i.test(raw)) return { reason: "nul_byte" };
  const q = raw.indexOf("?");
  const p = q < 0 ? raw : raw.slice(0, q);
  for (const seg of p.split("/")) {
    let dec;
    try { dec = decodeURIComponent(seg); } catch { return { reason: "non_origin_form" }; }
    if (dec === "." || dec === "..") return { reason: "dot_segment" };
  }
  const u = new URL(raw, "http://bridge.internal");
  return { pathname: u.pathname, query: u.search };
}

function reply(stream, status, body) {
  if (stream.destroyed) return;
  stream.respond({ ":status": status, "content-type": "application/json" });
  stream.end(JSON.stringify(body));
}

async function handle(stream, headers) {
  const auth = typeof headers.authorization === "string" && headers.authorization.startsWith("Bearer ")
    ? headers.authorization.slice(7) : undefined;
  if (!sameToken(auth)) return reply(stream, 401, { error: "Invalid bridge token." });
  const path = canonical(headers[":path"]);
  if (path.reason) return reply(stream, 400, { error: "Invalid request path: " + path.reason });
  const method = String(headers[":method"] || "GET").toUpperCase();
  if (!routes.some(([m, re]) => m === method && re.test(path.pathname))) {
    return reply(stream, 403, { error: "Route not allowed: " + method + " " + path.pathname });
  }
  const fwd = {};
  for (const k of allow) if (headers[k] !== undefined) fwd[k] = String(headers[k]);
  const parts = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > maxBody) return reply(stream, 413, { error: "Bridge request body exceeded the configured size limit." });
    parts.push(c);
  }
  const body = Buffer.concat(parts);
  const res = await fetch(upstream + path.pathname + path.query, {
    method,
    headers: { ...fwd, authorization: "Bearer " + process.env.FIXTURE_RUN_TOKEN, "x-paperclip-run-id": process.env.FIXTURE_RUN_ID },
    body: body.length > 0 ? body : undefined,
  });
  const out = Buffer.from(await res.arrayBuffer());
  const rh = { ":status": res.status };
  for (const k of ["content-type", "etag", "last-modified", "x-paperclip-bridge-outcome"]) {
    const v = res.headers.get(k);
    if (v !== null) rh[k] = v;
  }
  stream.respond(rh);
  stream.end(out);
}
