// The shapes the launcher accepts and returns. They mirror the input and the
// handle of Paperclip's startAdapterExecutionTargetPaperclipBridge (in
// packages/adapter-utils/src/execution-target.ts) field for field, so the
// objects Paperclip already builds type-check here unchanged; only the fields
// the launcher reads are declared, and TypeScript's structural typing lets
// Paperclip's richer objects through.

/** LogSink receives the launcher's and the sidecar's log output, as Paperclip's onLog does. */
export type LogSink = (stream: "stdout" | "stderr", chunk: string) => Promise<void>;

/** SshSpec is Paperclip's SshRemoteExecutionSpec: how to reach an SSH execution host. */
export interface SshSpec {
  host: string;
  port: number;
  username: string;
  /** Private key text (OpenSSH or PEM). Secret: it reaches the sidecar only through its environment. */
  privateKey: string | null;
  /** known_hosts text pinning the host key; null falls back to ~/.ssh/known_hosts. */
  knownHosts: string | null;
  /** false skips host-key verification (the sidecar warns on every connect). */
  strictHostKeyChecking: boolean;
  remoteCwd?: string;
  remoteWorkspacePath?: string;
}

/** LocalTarget runs the agent on this machine: the bridge is a local listener. */
export interface LocalTarget {
  kind: "local";
}

/** SshTarget is an SSH execution host: the bridge is a remote port forward over one SSH connection. */
export interface SshTarget {
  kind: "remote";
  transport: "ssh";
  remoteCwd: string;
  spec: SshSpec;
}

/** ExecuteInput is what the relay passes to runner.execute (Paperclip's input, in part). */
export interface ExecuteInput {
  command: string;
  args?: string[];
  /** The command's whole stdin. The relay puts the command's env, cwd and script here too. */
  stdin?: string;
  timeoutMs?: number;
}

/** ExecuteResult is the part of Paperclip's RunProcessResult the relay reads. */
export interface ExecuteResult {
  exitCode: number | null;
  timedOut?: boolean;
  stdout?: string;
  stderr?: string;
}

/**
 * SandboxRunnerObject is Paperclip's CommandManagedRuntimeRunner (adapter-utils), reduced to
 * the one method the relay calls: a sandbox provider plugin's way to run one command.
 */
export interface SandboxRunnerObject {
  execute(input: ExecuteInput): Promise<ExecuteResult>;
}

/**
 * SandboxTarget is a sandbox reached through Paperclip's command runner: the bridge is the
 * queue_v1 file channel with clipbridge's gateway inside the sandbox.
 */
export interface SandboxTarget {
  kind: "remote";
  transport: "sandbox";
  remoteCwd: string;
  /**
   * Paperclip's runner object. With it, clipbridge reaches the sandbox through the relay runner
   * (each command it needs there is one runner.execute), unless LaunchOptions.runner says
   * otherwise.
   */
  runner?: SandboxRunnerObject;
  timeoutMs?: number | null;
}

/** Target is Paperclip's AdapterExecutionTarget, reduced to what the launcher reads. */
export type Target = LocalTarget | SshTarget | SandboxTarget;

/**
 * SandboxRunner says how clipbridge reaches a sandbox's filesystem and processes: "relay"
 * through the target's own runner object (the default when the target has one), "local" when
 * the sandbox is this machine, or an exec prefix such as `{ exec: "docker exec -i CONTAINER" }`.
 */
export type SandboxRunner = "relay" | "local" | { exec: string };

/** LaunchOptions are clipbridge's own settings, beyond Paperclip's input. */
export interface LaunchOptions {
  /** How to reach a sandbox target; default "relay" when the target has a runner object. */
  runner?: SandboxRunner;
  /** The clipbridge binary to run; default CLIPBRIDGE_BINARY, then the installed platform package. */
  binary?: string;
  /**
   * The Linux binary copied into the sandbox for the exec and relay runners; default
   * CLIPBRIDGE_GATEWAY_BINARY, then this binary on a matching Linux host, then the
   * installed @clipbridge/linux-<sandboxArch> package.
   */
  gatewayBinary?: string;
  /** The sandbox's CPU for the exec and relay runners' gateway binary; default this machine's. */
  sandboxArch?: "x64" | "arm64";
  /**
   * With the relay: how long each execute waits in the sandbox for the agent's next request
   * (the sidecar's --one-shot-poll, default 25 s). An idle run costs one execute per period.
   */
  relayPollSec?: number;
  /** How long in-flight requests may finish after stop(); the sidecar's --drain-timeout (default 10 s). */
  drainTimeoutSec?: number;
  /** How long stop() waits for the exit after SIGTERM before SIGKILL; default drain timeout + 5 s. */
  stopTimeoutMs?: number;
  /** Names of further variables of this process to pass to the sidecar (e.g. DOCKER_HOST). */
  passEnv?: string[];
}

/** BridgeInput is Paperclip's bridge input, plus clipbridge's own options. */
export interface BridgeInput {
  runId: string;
  target: Target | null | undefined;
  runtimeRootDir?: string | null;
  adapterKey: string;
  timeoutSec?: number | null;
  /** The run's real JWT. Secret: it reaches the sidecar only through its environment. */
  hostApiToken: string | null | undefined;
  hostApiUrl?: string | null;
  onLog?: LogSink;
  maxBodyBytes?: number | null;
  clipbridge?: LaunchOptions;
}

/** BridgeHandle is what Paperclip's adapters use: env to merge into the agent's, and stop(). */
export interface BridgeHandle {
  /** PAPERCLIP_API_URL, PAPERCLIP_API_KEY, PAPERCLIP_API_BRIDGE_MODE (and the queue dir in queue mode). */
  env: Record<string, string>;
  /** Paperclip's sandbox run-log tail; clipbridge does not stream run logs. */
  runLogTail: null;
  /** The sidecar's process id. */
  pid: number;
  /** The sidecar's admin listener (/metrics, /healthz, /readyz), never reachable from the agent. */
  adminUrl: string;
  /**
   * stop sends SIGTERM and resolves once the sidecar has drained and exited with status 0. It
   * rejects when the sidecar exited otherwise, or had to be killed with SIGKILL after
   * stopTimeoutMs; either way no process is left. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
}
