// How Paperclip's input becomes the sidecar's settings: every setting an environment variable,
// secrets included (argv is only `serve`), on top of a minimal environment.

import { describe, expect, it } from "vitest";

import { ClipbridgeError } from "../src/errors.js";
import { plan, readyTimeoutMs, sidecarEnv, stopTimeoutMs } from "../src/settings.js";
import type { BridgeInput, SshSpec } from "../src/types.js";

const parent = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/paperclip",
  LANG: "C.UTF-8",
  SSH_AUTH_SOCK: "/tmp/agent.sock",
  DOCKER_HOST: "unix:///run/docker.sock",
  PAPERCLIP_SECRET: "not-for-the-sidecar",
  CLIPBRIDGE_LISTEN: "0.0.0.0:80",
};

const spec: SshSpec = {
  host: " build-7.internal ",
  port: 2222,
  username: "agent",
  privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----\n",
  knownHosts: "[build-7.internal]:2222 ssh-ed25519 AAAA",
  strictHostKeyChecking: true,
};

const base: BridgeInput = { runId: "run-1", target: null, adapterKey: "codex", hostApiToken: " jwt ", hostApiUrl: "http://127.0.0.1:3100" };

const common = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/paperclip",
  LANG: "C.UTF-8",
  CLIPBRIDGE_RUN_ID: "run-1",
  CLIPBRIDGE_RUN_TOKEN: "jwt",
  CLIPBRIDGE_UPSTREAM: "http://127.0.0.1:3100",
  CLIPBRIDGE_LOG_FORMAT: "json",
};

describe("sidecar settings", () => {
  it.each<{ name: string; input: BridgeInput; gateway?: string; want: Record<string, string> }>([
    { name: "a local target", input: { ...base, target: { kind: "local" } }, want: common },
    { name: "no target", input: base, want: common },
    {
      name: "an SSH target",
      input: { ...base, target: { kind: "remote", transport: "ssh", remoteCwd: "/w", spec } },
      want: {
        ...common,
        CLIPBRIDGE_SSH_HOST: "build-7.internal",
        CLIPBRIDGE_SSH_PORT: "2222",
        CLIPBRIDGE_SSH_USER: "agent",
        CLIPBRIDGE_SSH_KEY: spec.privateKey!,
        CLIPBRIDGE_SSH_KNOWN_HOSTS: spec.knownHosts!,
      },
    },
    {
      name: "an SSH target without a key, known_hosts or host-key checking",
      input: {
        ...base,
        target: { kind: "remote", transport: "ssh", remoteCwd: "/w", spec: { ...spec, privateKey: null, knownHosts: null, strictHostKeyChecking: false } },
      },
      want: {
        ...common,
        SSH_AUTH_SOCK: "/tmp/agent.sock",
        CLIPBRIDGE_SSH_HOST: "build-7.internal",
        CLIPBRIDGE_SSH_PORT: "2222",
        CLIPBRIDGE_SSH_USER: "agent",
        CLIPBRIDGE_SSH_INSECURE_IGNORE_HOST_KEY: "true",
      },
    },
    {
      name: "a sandbox on this machine, with Paperclip's default runtime dir",
      input: { ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/workspace" }, clipbridge: { runner: "local" }, maxBodyBytes: 32.7 },
      want: {
        ...common,
        CLIPBRIDGE_MAX_BODY_BYTES: "32",
        CLIPBRIDGE_QUEUE_DIR: "/workspace/.paperclip-runtime/codex/paperclip-bridge/queue",
        CLIPBRIDGE_START_GATEWAY: "true",
        CLIPBRIDGE_RUNNER: "local",
      },
    },
    {
      name: "a sandbox behind docker exec",
      input: {
        ...base,
        runtimeRootDir: "/rt/",
        target: { kind: "remote", transport: "sandbox", remoteCwd: "/workspace" },
        clipbridge: { runner: { exec: " docker exec -i c1 " }, passEnv: ["DOCKER_HOST"], drainTimeoutSec: 2.5 },
      },
      gateway: "/pkg/linux-x64/bin/clipbridge",
      want: {
        ...common,
        DOCKER_HOST: "unix:///run/docker.sock",
        CLIPBRIDGE_DRAIN_TIMEOUT: "2500ms",
        CLIPBRIDGE_QUEUE_DIR: "/rt/paperclip-bridge/queue",
        CLIPBRIDGE_START_GATEWAY: "true",
        CLIPBRIDGE_RUNNER: "exec",
        CLIPBRIDGE_RUNNER_EXEC: "docker exec -i c1",
        CLIPBRIDGE_GATEWAY_BINARY: "/pkg/linux-x64/bin/clipbridge",
      },
    },
    {
      name: "a sandbox reached through its own runner object (the relay)",
      input: { ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/workspace", runner: { execute: async () => ({ exitCode: 0 }) } } },
      gateway: "/pkg/linux-arm64/bin/clipbridge",
      want: {
        ...common,
        CLIPBRIDGE_QUEUE_DIR: "/workspace/.paperclip-runtime/codex/paperclip-bridge/queue",
        CLIPBRIDGE_START_GATEWAY: "true",
        CLIPBRIDGE_RUNNER: "relay",
        CLIPBRIDGE_RELAY_FD: "3",
        CLIPBRIDGE_GATEWAY_BINARY: "/pkg/linux-arm64/bin/clipbridge",
      },
    },
  ])("for $name", ({ input, gateway, want }) => {
    expect(sidecarEnv(input, plan(input), parent, gateway)).toEqual(want);
  });

  it("finds the upstream as Paperclip does, and leaves the sidecar's default otherwise", () => {
    const input = { ...base, hostApiUrl: null };
    const env = (p: Record<string, string>) => sidecarEnv(input, plan(input), p).CLIPBRIDGE_UPSTREAM;
    expect(env({ PAPERCLIP_RUNTIME_API_URL: "http://rt:1", PAPERCLIP_API_URL: "http://api:2" })).toBe("http://rt:1");
    expect(env({ PAPERCLIP_API_URL: "http://api:2" })).toBe("http://api:2");
    expect(env({})).toBeUndefined();
  });

  it("never passes on a CLIPBRIDGE_ variable of this process", () => {
    const input = { ...base, clipbridge: { passEnv: ["CLIPBRIDGE_LISTEN"] } };
    expect(() => sidecarEnv(input, plan(input), parent)).toThrow(/passEnv cannot carry CLIPBRIDGE_LISTEN/);
  });

  it.each<{ name: string; input: BridgeInput; code: string; msg: RegExp }>([
    { name: "no token", input: { ...base, hostApiToken: "  " }, code: "CLIPBRIDGE_INVALID_INPUT", msg: /hostApiToken .* is required/ },
    { name: "no run id", input: { ...base, runId: "" }, code: "CLIPBRIDGE_INVALID_INPUT", msg: /runId is required/ },
    {
      name: "a bad runner",
      input: { ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/w" }, clipbridge: { runner: { exec: "" } } },
      code: "CLIPBRIDGE_INVALID_INPUT",
      msg: /clipbridge.runner must be "relay", "local" or \{ exec/,
    },
    {
      name: "the relay without a runner object",
      input: { ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/w", runner: {} as never }, clipbridge: { runner: "relay" } },
      code: "CLIPBRIDGE_INVALID_INPUT",
      msg: /"relay" needs the sandbox target's runner object/,
    },
    {
      name: "a sandbox target with no way to reach it",
      input: { ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/w" } },
      code: "CLIPBRIDGE_UNSUPPORTED_TARGET",
      msg: /cannot bridge a sandbox target without a runner object/,
    },
    {
      name: "an unknown transport",
      input: { ...base, target: { kind: "remote", transport: "plugin", remoteCwd: "/w" } as unknown as BridgeInput["target"] },
      code: "CLIPBRIDGE_UNSUPPORTED_TARGET",
      msg: /cannot bridge transport "plugin"/,
    },
  ])("refuses $name", ({ input, code, msg }) => {
    let err: unknown;
    try {
      plan(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClipbridgeError);
    expect((err as ClipbridgeError).code).toBe(code);
    expect((err as Error).message).toMatch(msg);
  });

  it("bounds the start by Paperclip's timeout, and stop() by the drain plus 5 s", () => {
    expect(readyTimeoutMs({ ...base, timeoutSec: 7 })).toBe(7000);
    expect(readyTimeoutMs({ ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/w", timeoutMs: 30_000 } })).toBe(30_000);
    expect(readyTimeoutMs(base)).toBe(60_000);
    expect(stopTimeoutMs(base)).toBe(15_000);
    expect(stopTimeoutMs({ ...base, clipbridge: { drainTimeoutSec: 1 } })).toBe(6_000);
    expect(stopTimeoutMs({ ...base, clipbridge: { stopTimeoutMs: 250 } })).toBe(250);
  });
});
