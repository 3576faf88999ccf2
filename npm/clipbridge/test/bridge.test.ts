// Paperclip's own two bridge cases from execution-target.test.ts, with the same assertions,
// run against clipbridge's launcher for each kind of target: a sandbox (reached by the local
// runner, and by an exec prefix), an SSH host (a real OpenSSH sshd on loopback) and a local
// target.

import { afterEach, describe, expect, it } from "vitest";

import { startPaperclipBridge } from "../src/index.js";
import { removeAll, startUpstream, tempDir } from "./helpers.js";
import { targetCases } from "./targets.js";

describe.each(targetCases)("clipbridge bridge for $name", (c) => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it.skipIf(c.skip)("starts a localhost Paperclip bridge in bridge mode", async () => {
    const rootDir = await tempDir("clipbridge-bridge-", cleanupDirs);
    const api = await startUpstream((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true }));
    });
    const logs: string[] = [];
    const bridge = await startPaperclipBridge({
      ...(await c.input(rootDir)),
      runId: "run-bridge",
      adapterKey: "codex",
      hostApiToken: "real-run-jwt",
      hostApiUrl: api.url,
      onLog: async (stream, chunk) => void logs.push(`${stream}: ${chunk}`),
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
    // onLog got the launcher's lines and the sidecar's own log records, and never a credential.
    const all = logs.join("");
    expect(all).toMatch(/^stdout: \[clipbridge\] Starting clipbridge \d+\.\d+\.\d+ /);
    expect(all).toMatch(/stderr: \{.*"msg":"serving"/);
    expect(all).toMatch(/stderr: \{.*"msg":"drained"/);
    expect(all).not.toContain("real-run-jwt");
    expect(all).not.toContain(bridge.env.PAPERCLIP_API_KEY);
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
