// A test fixture written for clipbridge: a reconstruction, from the wire
// facts of Paperclip's http2_v1 gateway (the mode of the .mjs embedded in
// packages/adapter-utils/src/sandbox-callback-bridge.ts), of what the host
// side sees of it. Not Paperclip's code. Node 20, no dependencies.
//
// Wire facts reproduced: the PAPERCLIP_BRIDGE_* environment; bind exactly
// the assigned positive port or exit 1; one READY line
// {"version":2,"type":"ready","nonce":...} on stdout, then at once the
// HTTP/2 client preface (node:http2 connect over a Duplex on stdin/stdout,
// authority bridge.internal); per local request one stream with :method,
// :path = path + query, authorization Bearer <token> and the allowlisted
// headers, the body bytes as they are; the gateway's own token check
// (401); 503 {"error":"bridge_unavailable"} once the session is gone; a
// body over the cap or a stream error 502 {error}; the indeterminate
// outcome mapped to 409; content-length never copied from the host.
import http from "node:http";
import http2 from "node:http2";
import { Duplex } from "node:stream";
import { timingSafeEqual } from "node:crypto";

const env = process.env;
const token = env.PAPERCLIP_BRIDGE_TOKEN;
const host = env.PAPERCLIP_BRIDGE_HOST || "127.0.0.1";
const port = Number(env.PAPERCLIP_BRIDGE_PORT || "0");
const nonce = env.PAPERCLIP_BRIDGE_NONCE || "";
const maxBody = Number(env.PAPERCLIP_BRIDGE_MAX_BODY_BYTES || "10551296");
const allow = new Set(["accept", "content-type", "if-match", "if-none-match", "x-paperclip-github-capability"]);

const say = (m) => process.stderr.write("[paperclip-bridge] " + m + "\n");
if (env.PAPERCLIP_API_BRIDGE_MODE !== "http2_v1") {
  say("Unsupported PAPERCLIP_API_BRIDGE_MODE: " + env.PAPERCLIP_API_BRIDGE_MODE);
  process.exit(1);
}
if (!token) {
  say("PAPERCLIP_BRIDGE_TOKEN is required.");
  process.exit(1);
}
if (!Number.isInteger(port) || port <= 0) {
  say("http2 gateway requires a positive assigned PAPERCLIP_BRIDGE_PORT; got " + String(port));
  process.exit(1);
}

function sameToken(got) {
  const a = Buffer.from(token);
  const b = Buffer.from(typeof got === "string" ? got : "");
  return a.length === b.length && timingSafeEqual(a, b);
}

function answer(res, status, body) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(body));
}

let session = null;
let gone = false;

function stdio() {
  const d = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      if (process.stdout.write(chunk)) cb();
      else process.stdout.once("drain", () => cb());
    },
  });
  process.stdin.on("data", (c) => d.push(c));
  process.stdin.on("end", () => d.push(null));
  process.stdin.on("error", (e) => d.destroy(e));
  return d;
}

function open() {
  const s = stdio();
  session = http2.connect("http://bridge.internal", { createConnection: () => s });
  session.on("error", () => { gone = true; });
  session.on("close", () => { gone = true; });
}

async function readBody(req) {
  const parts = [];
  let n = 0;
  for await (const c of req) {
    n += c.length;
    if (n > maxBody) throw new Error("Bridge request body exceeded the configured size limit.");
    parts.push(c);
  }
  return Buffer.concat(parts);
}

function forward(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const h = { ":method": method, ":path": path, authorization: "Bearer " + token, ...headers };
    let stream;
    try {
      stream = session.request(h, { endStream: body.length === 0 });
    } catch (e) {
      reject(e);
      return;
    }
    let status = 502;
    let rh = {};
    const chunks = [];
    stream.on("response", (hs) => {
      status = Number(hs[":status"]) || 502;
      for (const [k, v] of Object.entries(hs)) if (!k.startsWith(":")) rh[k] = String(v);
    });
    stream.on("data", (c) => chunks.push(c));
    stream.once("end", () => resolve({ status, headers: rh, body: Buffer.concat(chunks) }));
    stream.once("error", reject);
    stream.once("aborted", () => reject(new Error("Bridge HTTP/2 stream aborted.")));
    if (body.length > 0) stream.end(body);
  });
}

const server = http.createServer(async (req, res) => {
  try {
    const auth = req.headers.authorization || "";
    if (!sameToken(auth.startsWith("Bearer ") ? auth.slice(7) : "")) return answer(res, 401, { error: "Invalid bridge token." });
    if (gone) return answer(res, 503, { error: "bridge_unavailable" });
    const url = new URL(req.url || "/", "http://127.0.0.1");
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (allow.has(k)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
    const body = await readBody(req);
    let r;
    try {
      r = await forward(req.method || "GET", url.pathname + url.search, headers, body);
    } catch (e) {
      return answer(res, 502, { error: e.message });
    }
    res.statusCode = r.headers["x-paperclip-bridge-outcome"] === "indeterminate" ? 409 : r.status;
    for (const [k, v] of Object.entries(r.headers)) if (k !== "content-length") res.setHeader(k, v);
    res.end(r.body);
  } catch (e) {
    answer(res, 502, { error: e.message });
  }
});

process.on("SIGTERM", () => process.exit(0));
server.on("error", (e) => {
  say("http2 gateway could not bind port " + port + ": " + e.message);
  process.exit(1);
});
server.listen(port, host, () => {
  process.stdout.write(JSON.stringify({ version: 2, type: "ready", nonce }) + "\n");
  open();
});
