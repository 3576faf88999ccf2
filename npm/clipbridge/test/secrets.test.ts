// Secrets reach the sidecar only through its environment, never argv, and the sidecar's
// environment is minimal: nothing of this process's own beyond the basics. Nothing it starts
// (the gateway in a local sandbox, an exec prefix's client) inherits the run token.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { startPaperclipBridge } from "../src/index.js";
import { BASE_ENV } from "../src/settings.js";
import { jsonAnswer, localSandboxRunner, proc, processesWithArg, removeAll, startUpstream, tempDir } from "./helpers.js";

const jwt = "real-run-jwt-secret-4b1d";

describe("secrets", () => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it.each([
    { name: "the local runner", runner: "local" as const },
    { name: "an exec prefix", runner: { exec: "env" } },
    // The gateway is then a child of the runner object's execute (of this process), not of
    // the sidecar; it must still hold no run token.
    { name: "the relay", runner: "relay" as const },
  ])("keep the run token out of argv, and out of every process the sidecar starts, with $name", async ({ runner }) => {
    const rootDir = await tempDir("clipbridge-secrets-", cleanupDirs);
    const remoteCwd = path.join(rootDir, "workspace");
    await mkdir(remoteCwd, { recursive: true });
    const api = await startUpstream(jsonAnswer({ ok: true }));
    process.env.PAPERCLIP_TEST_PARENT_SECRET = "parent-secret-9f2e";
    let bridge;
    try {
      bridge = await startPaperclipBridge({
        runId: "run-secrets",
        target: { kind: "remote", transport: "sandbox", remoteCwd, runner: localSandboxRunner() },
        runtimeRootDir: null,
        adapterKey: "codex",
        hostApiToken: jwt,
        hostApiUrl: api.url,
        clipbridge: { runner },
      });
    } finally {
      delete process.env.PAPERCLIP_TEST_PARENT_SECRET;
    }
    try {
      const sidecar = await proc(bridge.pid);
      expect(sidecar.argv.slice(1)).toEqual(["serve"]);
      expect(sidecar.environ).toContain(`CLIPBRIDGE_RUN_TOKEN=${jwt}`);
      const names = sidecar.environ.map((kv) => kv.slice(0, kv.indexOf("=")));
      for (const name of names) {
        expect(name.startsWith("CLIPBRIDGE_") || (BASE_ENV as readonly string[]).includes(name), name).toBe(true);
      }

      const gateways = await processesWithArg("gateway");
      const ours = gateways.filter((p) => p.argv[0]?.startsWith(rootDir));
      expect(ours).toHaveLength(1);
      for (const p of [...ours, ...(await descendants(bridge.pid))]) {
        expect(p.argv.join(" "), `argv of ${p.pid}`).not.toContain(jwt);
        expect(p.environ.join("\n"), `environment of ${p.pid} (${p.argv.join(" ")})`).not.toContain(jwt);
        expect(p.environ.join("\n")).not.toContain("parent-secret-9f2e");
      }
    } finally {
      await bridge.stop();
      await api.close();
    }
  });
});

/** descendants lists the live processes below pid. */
async function descendants(pid: number) {
  const { readdir, readFile } = await import("node:fs/promises");
  const parents = new Map<number, number>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out = [];
  const below = new Set([pid]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [p, pp] of parents) {
      if (below.has(pp) && !below.has(p)) {
        below.add(p);
        changed = true;
      }
    }
  }
  below.delete(pid);
  for (const p of below) {
    try {
      out.push(await proc(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
