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

interface PaperclipRunner {
  execute(input: { command: string; args?: string[]; cwd?: string; env?: Record<string, string> }): Promise<{ exitCode: number | null }>;
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

type PaperclipSandboxTarget = Extract<PaperclipTarget, { transport: "sandbox" }>;
declare function adapterExecutionTargetUsesPaperclipBridge(target: PaperclipTarget | null | undefined): boolean;
declare function clipbridgeRunnerFor(target: PaperclipSandboxTarget): SandboxRunner | undefined;
declare function startPaperclipQueueBridge(input: PaperclipBridgeInput): Promise<PaperclipBridgeHandle | null>;

/** seam is the README's "Use it from Paperclip" change, kept here so tsc checks it. */
export async function seam(input: PaperclipBridgeInput): Promise<PaperclipBridgeHandle | null> {
  if (!adapterExecutionTargetUsesPaperclipBridge(input.target)) return null;
  if (!input.target || input.target.kind !== "remote") return null;
  const runner = input.target.transport === "sandbox" ? clipbridgeRunnerFor(input.target) : undefined;
  if (input.target.transport === "sandbox" && !runner) return startPaperclipQueueBridge(input);
  const bridge = await startPaperclipBridge({ ...input, clipbridge: { runner } });
  return { ...bridge, stop: () => bridge.stop().catch((err) => input.onLog?.("stderr", `[clipbridge] ${err.message}\n`)) };
}

describe("Paperclip's shapes", () => {
  it("fit the launcher's input and handle", () => {
    const target: PaperclipTarget = { kind: "remote", transport: "sandbox", remoteCwd: "/w", providerKey: "e2b" };
    const input: PaperclipBridgeInput = { runId: "r", target, runtimeRootDir: undefined, adapterKey: "codex", hostApiToken: "t" };
    const ours: BridgeInput = input;
    const t: Target | null | undefined = input.target;
    const handle: BridgeHandle = { env: {}, runLogTail: null, pid: 1, adminUrl: "", stop: async () => {} };
    const theirs: PaperclipBridgeHandle = handle;
    expect([ours.adapterKey, t?.kind, typeof theirs.stop]).toEqual(["codex", "remote", "function"]);
  });
});
