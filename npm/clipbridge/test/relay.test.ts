// The launcher's side of the relay runner. First against a stand-in sidecar on a unix socket,
// with a runner object that spawns local processes and injected failures: an execute that
// throws, one that never settles, one that returns garbage, more commands than the bound, and
// a sidecar that breaks the protocol. Nothing may hang and every request gets its answer. Then
// against the real binary: `clipbridge check` through `--runner relay`, so the Go relay runner
// and this one speak the same protocol.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import path from "node:path";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";

import { startPaperclipBridge } from "../src/index.js";
import { Relay, type RelayLimits } from "../src/relay.js";
import { jsonAnswer, removeAll, sandboxRunner, startUpstream, tempDir, type Fault } from "./helpers.js";

const limits: RelayLimits = { maxInFlight: 4, maxAbandoned: 2, graceMs: 100 };

/** frame encodes one relay frame. */
function frame(msg: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(msg), "utf8");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** StandIn is the sidecar's end: it sends requests and collects the replies by id. */
class StandIn {
  readonly replies = new Map<number, Record<string, unknown>>();
  private waiters: Array<() => void> = [];
  private buf = Buffer.alloc(0);
  closed = false;

  constructor(readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const n = this.buf.readUInt32BE(0);
        const rep = JSON.parse(this.buf.subarray(4, 4 + n).toString("utf8")) as Record<string, unknown>;
        this.buf = this.buf.subarray(4 + n);
        this.replies.set(rep.id as number, rep);
      }
      this.wake();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  exec(id: number, script: string, o: { stdin?: string; timeoutMs?: number; maxOutputBytes?: number } = {}) {
    this.sock.write(
      frame({ type: "exec", id, command: "sh", args: ["-c", script], stdin: o.stdin ?? "", timeoutMs: o.timeoutMs ?? 5_000, maxOutputBytes: o.maxOutputBytes ?? 1 << 20 }),
    );
  }

  /** until waits for cond, failing after ms. */
  async until(cond: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out; replies: ${JSON.stringify([...this.replies.values()])}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  reply(id: number): Record<string, unknown> {
    return this.replies.get(id)!;
  }
}

/** pair connects a Relay (serving runner) and a stand-in sidecar over a unix socket. */
async function pair(dir: string, fault?: (n: number) => Fault) {
  const sockPath = path.join(dir, "relay.sock");
  const runner = sandboxRunner(fault ? (_i, n) => fault(n) : undefined);
  const problems: string[] = [];
  const accepted = new Promise<Socket>((resolve) => {
    const srv = createServer((s) => {
      srv.close();
      resolve(s);
    });
    srv.listen(sockPath);
  });
  const client = createConnection(sockPath);
  const relay = new Relay(await accepted, runner, limits, (m) => problems.push(m));
  return { relay, runner, problems, side: new StandIn(client) };
}

describe("the relay", () => {
  const cleanupDirs: string[] = [];
  const open: Relay[] = [];
  afterEach(async () => {
    for (const r of open.splice(0)) r.close();
    await removeAll(cleanupDirs);
  });

  async function setUp(fault?: (n: number) => Fault) {
    const p = await pair(await tempDir("clipbridge-relay-", cleanupDirs), fault);
    open.push(p.relay);
    return p;
  }

  it("runs each request with one execute and answers it by id", async () => {
    const { side, runner } = await setUp();
    side.exec(1, 'read a; printf "%s|%s" "$a" "$(cat)"; echo oops >&2; exit 3', { stdin: "first\nrest é" });
    side.exec(2, "printf 0123456789", { maxOutputBytes: 4 });
    await side.until(() => side.replies.size === 2);
    expect(side.reply(1)).toMatchObject({ exitCode: 3, stdout: "first|rest é", stderr: "oops\n", timedOut: false });
    expect(side.reply(2)).toMatchObject({ exitCode: 0, stdout: "0123", stdoutTruncated: true });
    expect(runner.calls).toHaveLength(2);
    expect(runner.calls[0]).toEqual({ command: "sh", args: ["-c", expect.any(String)], stdin: "first\nrest é", timeoutMs: 5_000 });
  });

  it("answers a command that outlives its timeout as timed out, even when execute never returns", async () => {
    const { side } = await setUp((n) => (n === 0 ? "run" : "hang"));
    const started = Date.now();
    side.exec(1, "sleep 30", { timeoutMs: 200 }); // the runner kills it itself
    side.exec(2, "true", { timeoutMs: 200 }); // execute never settles: the relay gives up
    await side.until(() => side.replies.size === 2);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(side.reply(1)).toMatchObject({ timedOut: true, exitCode: null });
    expect(side.reply(2)).toMatchObject({ timedOut: true, exitCode: null });
  });

  it("reports an execute that throws or returns garbage as an error, never as a result", async () => {
    const { side } = await setUp((n) => (n === 0 ? "throw" : "garbage"));
    side.exec(1, "true");
    side.exec(2, "true");
    await side.until(() => side.replies.size === 2);
    expect(side.reply(1).error).toMatch(/runner.execute failed: sandbox provider API: 503/);
    expect(side.reply(2).error).toMatch(/no result object/);
    expect(side.reply(1).exitCode).toBeNull();
  });

  it("bounds commands running at once, and those abandoned after their timeout", async () => {
    const { side, runner, relay } = await setUp(() => "hang");
    for (let id = 1; id <= 6; id++) side.exec(id, "true", { timeoutMs: 60_000 });
    await side.until(() => side.replies.size === 2);
    // Four run (the bound), two are refused at once.
    expect(runner.calls).toHaveLength(4);
    expect(side.reply(5).error).toMatch(/relay busy: 4 commands already running/);
    expect(relay.stats.refused).toBe(2);

    // Abandoned executes still count: past maxAbandoned, requests are refused, not piled up.
    const { side: s2, runner: r2 } = await setUp(() => "hang");
    for (let id = 1; id <= 2; id++) s2.exec(id, "true", { timeoutMs: 50 });
    await s2.until(() => s2.replies.size === 2);
    s2.exec(3, "true", { timeoutMs: 50 });
    await s2.until(() => s2.replies.size === 3);
    expect(s2.reply(3).error).toMatch(/relay wedged: 2 commands outlived their timeout/);
    expect(r2.calls).toHaveLength(2);
  });

  it("refuses a malformed request with an id, and closes on a frame it cannot trust", async () => {
    const { side } = await setUp();
    side.sock.write(frame({ type: "exec", id: 9, command: "sh", args: "not a list", stdin: "", timeoutMs: 1, maxOutputBytes: 1 }));
    await side.until(() => side.replies.size === 1);
    expect(side.reply(9).error).toMatch(/invalid request: bad args/);

    for (const bad of [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from("abc")]), frame({ type: "exec" })]) {
      const { side: s, problems } = await setUp();
      s.sock.write(bad);
      await s.until(() => s.closed);
      expect(problems.join("")).toMatch(/relay: the sidecar sent .*; closing the relay/);
    }
  });
});

// The real sidecar's relay runner against this one: `clipbridge check` proves the queue dir
// writable with one command, which goes sidecar -> fd 3 -> runner.execute -> sh.
const binary = process.env.CLIPBRIDGE_BINARY;

describe("the relay with the real binary", () => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it.skipIf(!binary)("carries the sidecar's commands out with runner.execute, secrets in stdin only", async () => {
    const dir = await tempDir("clipbridge-relay-check-", cleanupDirs);
    const queueDir = path.join(dir, "q");
    const runner = sandboxRunner();
    const child = spawn(binary!, ["check", "--json", "--queue-dir", queueDir, "--runner", "relay"], {
      env: { PATH: process.env.PATH!, CLIPBRIDGE_RUN_TOKEN: "real-run-jwt", CLIPBRIDGE_RUN_ID: "run-relay", CLIPBRIDGE_UPSTREAM: "http://127.0.0.1:9" },
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    const relay = new Relay(child.stdio[3] as Duplex, runner);
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    await new Promise<void>((r) => child.once("exit", () => r()));
    relay.close();
    const report = JSON.parse(out) as { steps: { name: string; status: string; problem?: string }[] };
    expect(report.steps.find((s) => s.name === "queue dir writable through the relay runner")).toEqual({
      name: "queue dir writable through the relay runner",
      status: "pass",
    });
    expect(existsSync(path.join(queueDir, "requests"))).toBe(true);
    expect(runner.calls).toHaveLength(1);
    const call = runner.calls[0]!;
    expect(call.command).toBe("sh");
    expect([call.command, ...(call.args ?? [])].join(" ")).not.toContain(queueDir);
    expect(call.stdin).toContain(queueDir);
    expect(JSON.stringify(call)).not.toContain("real-run-jwt");
  });
});

// The whole bridge through the relay, as Paperclip would use it for E2B or Daytona: the
// target's runner object is all clipbridge gets. Execs are counted on that object.
describe("the bridge through a sandbox's runner object", () => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  async function bridgeFor(runner: ReturnType<typeof sandboxRunner>, apiUrl: string) {
    const rootDir = await tempDir("clipbridge-relay-bridge-", cleanupDirs);
    const remoteCwd = path.join(rootDir, "workspace");
    await mkdir(remoteCwd, { recursive: true });
    return startPaperclipBridge({
      runId: "run-relay",
      target: { kind: "remote", transport: "sandbox", remoteCwd, runner },
      runtimeRootDir: null,
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      hostApiUrl: apiUrl,
      clipbridge: { relayPollSec: 2 },
    });
  }

  const call = (bridge: { env: Record<string, string> }, method = "GET") =>
    fetch(`${bridge.env.PAPERCLIP_API_URL}/api/${method === "GET" ? "agents/me" : "issues/i1/comments"}`, {
      method,
      headers: { authorization: `Bearer ${bridge.env.PAPERCLIP_API_KEY}`, "content-type": "application/json" },
      body: method === "GET" ? undefined : JSON.stringify({ body: "hi" }),
    });

  it.skipIf(!binary)("costs at most one execute per call and one per long poll while idle", async () => {
    const api = await startUpstream(jsonAnswer({ ok: true }));
    const runner = sandboxRunner();
    const bridge = await bridgeFor(runner, api.url);
    try {
      expect((await call(bridge)).status).toBe(200);
      const before = runner.calls.length;
      for (let i = 0; i < 5; i++) expect((await call(bridge)).status).toBe(200);
      expect(runner.calls.length - before).toBeLessThanOrEqual(5);

      await new Promise((r) => setTimeout(r, 2_500)); // the last answer's poll runs out
      const idleStart = runner.calls.length;
      await new Promise((r) => setTimeout(r, 6_000)); // three long polls of 2 s
      const idle = runner.calls.length - idleStart;
      expect(idle).toBeGreaterThanOrEqual(1);
      expect(idle).toBeLessThanOrEqual(4);
      // Every execute is the constant bootstrap: no value of the sidecar's in argv.
      for (const c of runner.calls) {
        expect([c.command, ...(c.args ?? [])].join(" ")).not.toMatch(/real-run-jwt|PAPERCLIP_BRIDGE_TOKEN|CB_Q=/);
        expect(c.stdin ?? "").not.toContain("real-run-jwt");
      }
    } finally {
      await bridge.stop();
      await api.close();
    }
  }, 60_000);

  it.skipIf(!binary)("answers a mutation for real although executes fail, return garbage or die", async () => {
    const api = await startUpstream(jsonAnswer({ id: "c1" }));
    // Fail the first three executes that write a response (its P line), each a different way.
    let writes = 0;
    const faults: Fault[] = ["throw", "garbage", "run"];
    const runner = sandboxRunner((input) => {
      if (!/\nP [^ ]+\.json /.test(input.stdin ?? "")) return "run";
      return faults[writes++] ?? "run";
    });
    const bridge = await bridgeFor(runner, api.url);
    try {
      const response = await call(bridge, "POST");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ id: "c1" });
      expect(api.requests.filter((r) => r.method === "POST")).toHaveLength(1);
      expect(writes).toBeGreaterThanOrEqual(3);
    } finally {
      await bridge.stop();
      await api.close();
    }
  }, 60_000);
});
