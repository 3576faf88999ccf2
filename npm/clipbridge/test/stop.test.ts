// stop(): SIGTERM, the sidecar drains what is in flight and exits, and nothing is left behind,
// neither the sidecar nor a gateway it started. A sidecar that ignores SIGTERM is killed, and
// stop() says so.

import { afterEach, describe, expect, it } from "vitest";

import { ClipbridgeError, startPaperclipBridge } from "../src/index.js";
import { alive, fakeBinary, jsonAnswer, processesWithArg, removeAll, startUpstream, tempDir } from "./helpers.js";
import { targetCases } from "./targets.js";

const readyLine = JSON.stringify({
  event: "ready",
  env: { PAPERCLIP_API_URL: "http://127.0.0.1:9", PAPERCLIP_API_KEY: "k".repeat(32), PAPERCLIP_API_BRIDGE_MODE: "queue_v1" },
  admin_url: "http://127.0.0.1:9",
});

/** fakeSidecar is a stand-in binary: `version` answers like 0.1.0, `serve` runs script. */
function fakeSidecar(dir: string, serve: string) {
  return fakeBinary(dir, `[ "$1" = version ] && { echo "clipbridge 0.1.0 (fake, commit none)"; exit 0; }\n${serve}`);
}

describe.each(targetCases)("stop() for $name", (c) => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it.skipIf(c.skip)("drains the request in flight, then leaves no process behind", async () => {
    const rootDir = await tempDir("clipbridge-stop-", cleanupDirs);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const api = await startUpstream((_req, res) => {
      void held.then(() => jsonAnswer({ slow: true })(_req, res));
    });
    const bridge = await startPaperclipBridge({
      ...(await c.input(rootDir)),
      runId: "run-stop",
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      hostApiUrl: api.url,
    });
    try {
      const gateways = (await processesWithArg("gateway")).filter((p) => p.argv[0]?.startsWith(rootDir));
      expect(gateways).toHaveLength(c.gateway ? 1 : 0);

      const answer = fetch(`${bridge.env.PAPERCLIP_API_URL}/api/agents/me`, {
        headers: { authorization: `Bearer ${bridge.env.PAPERCLIP_API_KEY}` },
      });
      await until(() => api.requests.length === 1);
      const stopped = bridge.stop();
      // The sidecar has the signal and is draining; the upstream answers only now.
      await new Promise((r) => setTimeout(r, 200));
      expect(await alive(bridge.pid)).toBe(true);
      release();

      const response = await answer;
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ slow: true });
      await stopped;
      expect(await alive(bridge.pid)).toBe(false);
      for (const g of gateways) expect(await alive(g.pid), `gateway ${g.pid}`).toBe(false);
      expect(bridge.stop()).toBe(stopped);
    } finally {
      release();
      await bridge.stop().catch(() => {});
      await api.close();
    }
  });
});

describe("stop() of a misbehaving sidecar", () => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it("kills a sidecar that ignores SIGTERM, and says so", async () => {
    const dir = await tempDir("clipbridge-stop-kill-", cleanupDirs);
    const bin = await fakeSidecar(dir, `trap '' TERM\necho '${readyLine}'\nwhile :; do sleep 1; done`);
    const bridge = await startPaperclipBridge({
      runId: "run-kill",
      target: null,
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      clipbridge: { binary: bin, stopTimeoutMs: 300 },
    });
    const err = await bridge.stop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClipbridgeError);
    expect((err as ClipbridgeError).code).toBe("CLIPBRIDGE_STOP_FAILED");
    expect((err as Error).message).toMatch(/did not exit within 300 ms of SIGTERM; killed it with SIGKILL/);
    expect((err as ClipbridgeError).signal).toBe("SIGKILL");
    expect(await alive(bridge.pid)).toBe(false);
  });

  it("reports a sidecar that exited on its own before stop()", async () => {
    const dir = await tempDir("clipbridge-stop-early-", cleanupDirs);
    const bin = await fakeSidecar(dir, `echo '${readyLine}'\necho 'clipbridge: the tunnel died' >&2\nexit 1`);
    const logs: string[] = [];
    const bridge = await startPaperclipBridge({
      runId: "run-early",
      target: null,
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      onLog: async (_stream, chunk) => void logs.push(chunk),
      clipbridge: { binary: bin },
    });
    await until(async () => !(await alive(bridge.pid)));
    await expect(bridge.stop()).rejects.toThrow(/had already exited on its own \(exit status 1\):\nclipbridge: the tunnel died/);
    expect(logs.join("")).toMatch(/the sidecar exited on its own \(exit status 1\)/);
  });
});

/** until polls cond every 10 ms, for at most 10 s. */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not met within 10 s");
    await new Promise((r) => setTimeout(r, 10));
  }
}
