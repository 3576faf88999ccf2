// Paperclip's own two bridge cases from execution-target.test.ts, with the same assertions,
// run against clipbridge's launcher for each kind of target: a sandbox (reached by the local
// runner, and by an exec prefix), an SSH host (a real OpenSSH sshd on loopback) and a local
// target.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { startPaperclipBridge } from "../src/index.js";
import type { BridgeInput } from "../src/types.js";
import { localSandboxRunner, realSshd, removeAll, startUpstream, tempDir } from "./helpers.js";

const sshd = await realSshd();

/** A case builds the launcher input for one target kind, given a fresh directory. */
interface Case {
  name: string;
  skip?: boolean;
  input(rootDir: string): Promise<Omit<BridgeInput, "runId" | "hostApiToken" | "hostApiUrl" | "adapterKey">>;
}

async function sandbox(rootDir: string) {
  const remoteCwd = path.join(rootDir, "workspace");
  const runtimeRootDir = path.join(remoteCwd, ".paperclip-runtime", "codex");
  await mkdir(runtimeRootDir, { recursive: true });
  return {
    runtimeRootDir,
    target: {
      kind: "remote" as const,
      transport: "sandbox" as const,
      providerKey: "e2b",
      environmentId: "env-1",
      leaseId: "lease-1",
      remoteCwd,
      runner: localSandboxRunner(),
      timeoutMs: 30_000,
    },
  };
}

const cases: Case[] = [
  {
    name: "a sandbox target with a local runner",
    input: async (rootDir) => ({ ...(await sandbox(rootDir)), clipbridge: { runner: "local" } }),
  },
  {
    name: "a sandbox target reached through an exec prefix",
    // `env` runs the prefixed command here, as `docker exec -i C` would in a container.
    input: async (rootDir) => ({ ...(await sandbox(rootDir)), clipbridge: { runner: { exec: "env" } } }),
  },
  {
    name: "an SSH target (real sshd)",
    skip: sshd === null,
    input: async () => ({
      runtimeRootDir: null,
      target: { kind: "remote", transport: "ssh", remoteCwd: "/tmp", spec: { ...sshd!, remoteCwd: "/tmp", remoteWorkspacePath: "/tmp" } },
    }),
  },
  {
    name: "a local target",
    input: async () => ({ runtimeRootDir: null, target: { kind: "local" } }),
  },
];

describe.each(cases)("clipbridge bridge for $name", (c) => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it.skipIf(c.skip)("starts a localhost Paperclip bridge in bridge mode", async () => {
    const rootDir = await tempDir("clipbridge-bridge-", cleanupDirs);
    const api = await startUpstream((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true }));
    });
    const bridge = await startPaperclipBridge({
      ...(await c.input(rootDir)),
      runId: "run-bridge",
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      hostApiUrl: api.url,
    });
    try {
      expect(bridge).not.toBeNull();
      expect(bridge.env.PAPERCLIP_API_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(bridge.env.PAPERCLIP_API_KEY).not.toBe("real-run-jwt");
      expect(bridge.env.PAPERCLIP_API_BRIDGE_MODE).toBe("queue_v1");

      const response = await fetch(`${bridge.env.PAPERCLIP_API_URL}/api/agents/me`, {
        headers: { authorization: `Bearer ${bridge.env.PAPERCLIP_API_KEY}`, accept: "application/json" },
      });

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
      expect(api.requests).toEqual([{ method: "GET", url: "/api/agents/me", auth: "Bearer real-run-jwt", runId: "run-bridge" }]);
    } finally {
      await bridge.stop();
      await api.close();
    }
  });

  it.skipIf(c.skip)("fails oversized host responses with a 502 before returning them to the agent", async () => {
    const rootDir = await tempDir("clipbridge-bridge-limit-", cleanupDirs);
    const largeBody = "x".repeat(64);
    const api = await startUpstream((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(largeBody, "utf8")) });
      res.end(largeBody);
    });
    const bridge = await startPaperclipBridge({
      ...(await c.input(rootDir)),
      runId: "run-bridge-limit",
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      hostApiUrl: api.url,
      maxBodyBytes: 32,
    });
    try {
      const response = await fetch(`${bridge.env.PAPERCLIP_API_URL}/api/agents/me`, {
        headers: { authorization: `Bearer ${bridge.env.PAPERCLIP_API_KEY}`, accept: "application/json" },
      });

      expect(response.status).toBe(502);
      await expect(response.json()).resolves.toEqual({
        error: "Bridge response body exceeded the configured size limit of 32 bytes.",
      });
      expect(api.requests).toEqual([{ method: "GET", url: "/api/agents/me", auth: "Bearer real-run-jwt", runId: "run-bridge-limit" }]);
    } finally {
      await bridge.stop();
      await api.close();
    }
  });
});
