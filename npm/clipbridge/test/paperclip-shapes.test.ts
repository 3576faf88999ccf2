// The launcher is a drop-in at Paperclip's seam: the objects Paperclip builds are accepted as
// they are, and the handle fits where Paperclip's own handle goes. The types below restate the
// fields of Paperclip's adapter-utils types (execution-target.ts, ssh.ts) that matter here,
// with a few of the extra fields Paperclip carries; `tsc --noEmit` checks the assignments.

import { describe, expect, it } from "vitest";

import { startPaperclipBridge } from "../src/index.js";
import type { BridgeHandle, BridgeInput, SandboxRunner, Target } from "../src/index.js";

interface PaperclipSshSpec {
  host: string;
  port: number;
  username: string;
  remoteWorkspacePath: string;
  privateKey: string | null;
  knownHosts: string | null;
  strictHostKeyChecking: boolean;
  remoteCwd: string;
  paperclipApiUrl?: string | null;
}

interface PaperclipRunProcessResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  pid: number | null;
  startedAt: string | null;
}

/** PaperclipRunner is CommandManagedRuntimeRunner (command-managed-runtime.ts). */
interface PaperclipRunner {
  supportsSingleStreamStdinProgress?: boolean;
  execute(input: {
    command: string;
    args?: string[];
    cwd?: string;
    env?: Record<string, string>;
    stdin?: string;
    timeoutMs?: number;
    onLog?: (stream: "stdout" | "stderr", chunk: string) => Promise<void>;
    onSpawn?: (meta: { pid: number; startedAt: string }) => Promise<void>;
  }): Promise<PaperclipRunProcessResult>;
}

type PaperclipTarget =
  | { kind: "local"; environmentId?: string | null; leaseId?: string | null }
  | { kind: "remote"; transport: "ssh"; environmentId?: string | null; remoteCwd: string; spec: PaperclipSshSpec }
  | {
      kind: "remote";
      transport: "sandbox";
      providerKey?: string | null;
      shellCommand?: "bash" | "sh" | null;
      remoteCwd: string;
      timeoutMs?: number | null;
      runner?: PaperclipRunner;
      streamRunLogs?: boolean | null;
    };

interface PaperclipBridgeInput {
  runId: string;
  target: PaperclipTarget | null | undefined;
  runtimeRootDir: string | null | undefined;
  adapterKey: string;
  timeoutSec?: number | null;
  hostApiToken: string | null | undefined;
  hostApiUrl?: string | null;
  onLog?: (stream: "stdout" | "stderr", chunk: string) => Promise<void>;
  maxBodyBytes?: number | null;
}

interface PaperclipBridgeHandle {
  env: Record<string, string>;
  runLogTail?: ((...args: unknown[]) => unknown) | null;
  stop(): Promise<void>;
}

declare function adapterExecutionTargetUsesPaperclipBridge(target: PaperclipTarget | null | undefined): boolean;

/** seam is the README's "Use it from Paperclip" change, kept here so tsc checks it. */
export async function seam(input: PaperclipBridgeInput): Promise<PaperclipBridgeHandle | null> {
  if (!adapterExecutionTargetUsesPaperclipBridge(input.target)) return null;
  if (!input.target || input.target.kind !== "remote") return null;
  // A sandbox target's own runner object drives clipbridge's relay runner.
  const bridge = await startPaperclipBridge(input);
  return { ...bridge, stop: () => bridge.stop().catch((err) => input.onLog?.("stderr", `[clipbridge] ${err.message}\n`)) };
}

/** A sandbox that is this machine, or behind docker exec, can skip the relay's round trips. */
export function dockerSeam(input: PaperclipBridgeInput, container: string) {
  const runner: SandboxRunner = { exec: `docker exec -i ${container}` };
  return startPaperclipBridge({ ...input, clipbridge: { runner } });
}

describe("Paperclip's shapes", () => {
  it("fit the launcher's input and handle", () => {
    const runner: PaperclipRunner = {
      execute: async () => ({ exitCode: 0, signal: null, timedOut: false, stdout: "", stderr: "", pid: 1, startedAt: null }),
    };
    const target: PaperclipTarget = { kind: "remote", transport: "sandbox", remoteCwd: "/w", providerKey: "e2b", runner };
    const input: PaperclipBridgeInput = { runId: "r", target, runtimeRootDir: undefined, adapterKey: "codex", hostApiToken: "t" };
    const ours: BridgeInput = input;
    const t: Target | null | undefined = input.target;
    const handle: BridgeHandle = { env: {}, runLogTail: null, pid: 1, adminUrl: "", stop: async () => {} };
    const theirs: PaperclipBridgeHandle = handle;
    expect([ours.adapterKey, t?.kind, typeof theirs.stop]).toEqual(["codex", "remote", "function"]);
  });
});
