// The target kinds every behaviour test runs against: what Paperclip would pass for a sandbox
// (here reached by clipbridge's local runner, through its own runner object, and by an exec
// prefix), an SSH host (the real sshd the Go test starts) and a local run.

import { mkdir } from "node:fs/promises";
import path from "node:path";

import type { BridgeInput, SandboxRunnerObject } from "../src/types.js";
import { localSandboxRunner, realSshd, sandboxRunner } from "./helpers.js";

const sshd = await realSshd();

/** TargetCase builds the target part of the launcher input, given a fresh directory. */
export interface TargetCase {
  name: string;
  /** Whether clipbridge starts a gateway process for it (in rootDir). */
  gateway: boolean;
  skip: boolean;
  input(rootDir: string): Promise<Pick<BridgeInput, "target" | "runtimeRootDir" | "clipbridge">>;
}

async function sandbox(rootDir: string, runner: SandboxRunnerObject = localSandboxRunner()) {
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
      runner,
      timeoutMs: 30_000,
    },
  };
}

export const targetCases: TargetCase[] = [
  {
    name: "a sandbox target with a local runner",
    gateway: true,
    skip: false,
    input: async (rootDir) => ({ ...(await sandbox(rootDir)), clipbridge: { runner: "local" } }),
  },
  {
    name: "a sandbox target through its own runner object (the relay)",
    gateway: true,
    skip: false,
    // No clipbridge.runner: the target's runner object drives the sidecar's relay runner, and
    // each of its execute calls spawns a local process, as Paperclip's own test runner does.
    // A short long poll: the one still running in the "sandbox" after stop ends soon.
    input: async (rootDir) => ({ ...(await sandbox(rootDir, sandboxRunner())), clipbridge: { relayPollSec: 1 } }),
  },
  {
    name: "a sandbox target reached through an exec prefix",
    gateway: true,
    skip: false,
    // `env` runs the prefixed command here, as `docker exec -i C` would in a container.
    input: async (rootDir) => ({ ...(await sandbox(rootDir)), clipbridge: { runner: { exec: "env" } } }),
  },
  {
    name: "an SSH target (real sshd)",
    gateway: false,
    skip: sshd === null,
    input: async () => ({
      runtimeRootDir: null,
      target: { kind: "remote", transport: "ssh", remoteCwd: "/tmp", spec: { ...sshd!, remoteCwd: "/tmp", remoteWorkspacePath: "/tmp" } },
    }),
  },
  {
    name: "a local target",
    gateway: false,
    skip: false,
    input: async () => ({ runtimeRootDir: null, target: { kind: "local" } }),
  },
];
