// Turning Paperclip's bridge input into the sidecar's settings. Everything goes into the child's
// environment as CLIPBRIDGE_* variables and argv is only `serve`: argv is visible to every local
// user in ps, and the sidecar reads secrets only from its environment or files. The child gets a
// minimal environment, not this process's: Paperclip's server holds credentials of its own that
// the sidecar (and, through it, a local gateway) has no business seeing.

import path from "node:path";

import { ClipbridgeError } from "./errors.js";
import type { BridgeInput, SandboxRunner, SandboxRunnerObject, SshSpec } from "./types.js";

/** Plan is the transport the input selects, with what that transport needs. */
export type Plan =
  | { mode: "local" }
  | { mode: "ssh"; spec: SshSpec }
  | { mode: "queue"; queueDir: string; runner: SandboxRunner; relay?: SandboxRunnerObject };

/** BASE_ENV names the variables of this process every sidecar gets, when set. */
export const BASE_ENV = ["PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ"] as const;

const defaultPath = "/usr/local/bin:/usr/bin:/bin";
const defaultDrainSec = 10;
const defaultReadyTimeoutMs = 60_000;

/**
 * plan checks the input and picks the transport: a local listener for a local target (or none),
 * the SSH remote forward for an SSH target, and the queue_v1 channel with clipbridge's gateway
 * started in the sandbox for a sandbox target.
 */
export function plan(input: BridgeInput): Plan {
  if (typeof input.runId !== "string" || input.runId.trim() === "") {
    throw invalid("runId is required");
  }
  if (!input.hostApiToken?.trim()) {
    throw invalid("hostApiToken (the run's Paperclip API token) is required: the bridge forwards with it");
  }
  const target = input.target;
  if (target === null || target === undefined || target.kind === "local") return { mode: "local" };
  if (target.kind !== "remote") throw unsupported(`target kind ${JSON.stringify((target as { kind: unknown }).kind)}`);
  switch (target.transport) {
    case "ssh": {
      const spec = target.spec;
      if (!spec || typeof spec.host !== "string" || spec.host.trim() === "" || !Number.isInteger(spec.port)) {
        throw invalid("an SSH target needs spec.host and spec.port");
      }
      return { mode: "ssh", spec };
    }
    case "sandbox": {
      const object = hasExecute(target.runner) ? target.runner : undefined;
      const runner = input.clipbridge?.runner ?? (object ? "relay" : undefined);
      if (runner === undefined) {
        throw unsupported(
          "a sandbox target without a runner object: give the target its runner ({ execute }), " +
            'or pass clipbridge: { runner: "local" } when the sandbox is this machine, or ' +
            'clipbridge: { runner: { exec: "docker exec -i CONTAINER" } } for a command prefix that reaches it',
        );
      }
      if (runner === "relay" && !object) {
        throw invalid('clipbridge.runner "relay" needs the sandbox target\'s runner object (with an execute method)');
      }
      if (runner !== "local" && runner !== "relay" && (typeof runner !== "object" || typeof runner.exec !== "string" || runner.exec.trim() === "")) {
        throw invalid('clipbridge.runner must be "relay", "local" or { exec: "<command prefix>" }');
      }
      if (typeof target.remoteCwd !== "string" || target.remoteCwd.trim() === "") {
        throw invalid("a sandbox target needs remoteCwd");
      }
      // Paperclip's layout, so its tooling finds the queue where it expects it.
      const root = input.runtimeRootDir?.trim() || path.posix.join(target.remoteCwd, ".paperclip-runtime", input.adapterKey);
      const queueDir = path.posix.join(root, "paperclip-bridge", "queue");
      return runner === "relay" ? { mode: "queue", queueDir, runner, relay: object } : { mode: "queue", queueDir, runner };
    }
    default:
      throw unsupported(`transport ${JSON.stringify((target as { transport: unknown }).transport)}`);
  }
}

/**
 * sidecarEnv is the whole environment of the sidecar for plan p: the base variables taken from
 * parent, then the settings (which win). gatewayBinary is the Linux binary for the exec and relay runners.
 */
export function sidecarEnv(input: BridgeInput, p: Plan, parent: NodeJS.ProcessEnv, gatewayBinary?: string): Record<string, string> {
  const env: Record<string, string> = {};
  const pass = [...BASE_ENV, ...(input.clipbridge?.passEnv ?? [])];
  if (p.mode === "ssh" && !p.spec.privateKey) pass.push("SSH_AUTH_SOCK"); // the agent then holds the key
  for (const name of pass) {
    if (name.startsWith("CLIPBRIDGE_")) {
      throw invalid(`passEnv cannot carry ${name}: the launcher sets the sidecar's settings itself`);
    }
    const v = parent[name];
    if (v !== undefined && v !== "") env[name] = v;
  }
  env.PATH ??= defaultPath;

  const set = (name: string, value: string | number | boolean | null | undefined) => {
    // The sidecar treats an empty variable as unset; never send one.
    if (value !== null && value !== undefined && value !== "") env[name] = String(value);
  };
  set("CLIPBRIDGE_RUN_ID", input.runId.trim());
  set("CLIPBRIDGE_RUN_TOKEN", input.hostApiToken?.trim());
  set("CLIPBRIDGE_UPSTREAM", upstream(input, parent));
  const max = input.maxBodyBytes;
  if (typeof max === "number" && Number.isFinite(max) && max > 0) set("CLIPBRIDGE_MAX_BODY_BYTES", Math.trunc(max));
  const drain = input.clipbridge?.drainTimeoutSec;
  if (typeof drain === "number" && Number.isFinite(drain) && drain > 0) set("CLIPBRIDGE_DRAIN_TIMEOUT", `${Math.ceil(drain * 1000)}ms`);
  // JSON lines: the launcher forwards them to onLog, and they are what log tooling parses.
  set("CLIPBRIDGE_LOG_FORMAT", "json");

  switch (p.mode) {
    case "ssh":
      set("CLIPBRIDGE_SSH_HOST", p.spec.host.trim());
      set("CLIPBRIDGE_SSH_PORT", p.spec.port);
      set("CLIPBRIDGE_SSH_USER", p.spec.username?.trim());
      set("CLIPBRIDGE_SSH_KEY", p.spec.privateKey);
      set("CLIPBRIDGE_SSH_KNOWN_HOSTS", p.spec.knownHosts);
      if (p.spec.strictHostKeyChecking === false) set("CLIPBRIDGE_SSH_INSECURE_IGNORE_HOST_KEY", true);
      break;
    case "queue":
      set("CLIPBRIDGE_QUEUE_DIR", p.queueDir);
      set("CLIPBRIDGE_START_GATEWAY", true);
      if (p.runner === "local") {
        // The gateway runs on this machine: the sidecar copies its own binary.
        set("CLIPBRIDGE_RUNNER", "local");
      } else if (p.runner === "relay") {
        // The launcher serves the relay socket on the sidecar's fd 3 (see relay.ts).
        set("CLIPBRIDGE_RUNNER", "relay");
        set("CLIPBRIDGE_RELAY_FD", 3);
        const poll = input.clipbridge?.relayPollSec;
        if (typeof poll === "number" && Number.isFinite(poll) && poll > 0) set("CLIPBRIDGE_ONE_SHOT_POLL", `${Math.ceil(poll * 1000)}ms`);
        set("CLIPBRIDGE_GATEWAY_BINARY", gatewayBinary);
      } else {
        set("CLIPBRIDGE_RUNNER", "exec");
        set("CLIPBRIDGE_RUNNER_EXEC", p.runner.exec.trim());
        set("CLIPBRIDGE_GATEWAY_BINARY", gatewayBinary);
      }
      break;
    case "local":
      break;
  }
  return env;
}

/** hasExecute reports whether v looks like a runner object. */
function hasExecute(v: unknown): v is SandboxRunnerObject {
  return typeof v === "object" && v !== null && typeof (v as { execute?: unknown }).execute === "function";
}

/**
 * upstream is the control plane's URL, found as Paperclip finds it: the input, then
 * PAPERCLIP_RUNTIME_API_URL, then PAPERCLIP_API_URL; unset leaves the sidecar's default.
 */
function upstream(input: BridgeInput, parent: NodeJS.ProcessEnv): string | undefined {
  return input.hostApiUrl?.trim() || parent.PAPERCLIP_RUNTIME_API_URL?.trim() || parent.PAPERCLIP_API_URL?.trim() || undefined;
}

/** readyTimeoutMs bounds the wait for the ready line: Paperclip's timeoutSec, else the target's, else 60 s. */
export function readyTimeoutMs(input: BridgeInput): number {
  const sec = input.timeoutSec;
  if (typeof sec === "number" && Number.isFinite(sec) && sec > 0) return Math.trunc(sec * 1000);
  const t = input.target;
  if (t && t.kind === "remote" && t.transport === "sandbox" && typeof t.timeoutMs === "number" && t.timeoutMs > 0) {
    return Math.trunc(t.timeoutMs);
  }
  return defaultReadyTimeoutMs;
}

/**
 * stopTimeoutMs bounds the wait for the exit after SIGTERM. It must outlast the sidecar's own
 * drain (and the few seconds it gives a gateway to exit), or a healthy drain would be cut short.
 */
export function stopTimeoutMs(input: BridgeInput): number {
  const given = input.clipbridge?.stopTimeoutMs;
  if (typeof given === "number" && Number.isFinite(given) && given > 0) return Math.trunc(given);
  const drain = input.clipbridge?.drainTimeoutSec;
  const drainSec = typeof drain === "number" && Number.isFinite(drain) && drain > 0 ? drain : defaultDrainSec;
  return Math.ceil(drainSec * 1000) + 5_000;
}

function invalid(msg: string): ClipbridgeError {
  return new ClipbridgeError("CLIPBRIDGE_INVALID_INPUT", `clipbridge: ${msg}`);
}

function unsupported(what: string): ClipbridgeError {
  return new ClipbridgeError("CLIPBRIDGE_UNSUPPORTED_TARGET", `clipbridge cannot bridge ${what}`);
}
