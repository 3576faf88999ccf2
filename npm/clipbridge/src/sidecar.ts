// One clipbridge `serve` process: started with its settings in its environment, considered up
// once it prints its ready line on stdout, and stopped with SIGTERM (it then drains in-flight
// requests and exits) or, past a bound, SIGKILL. Its stderr (JSON log lines, and its own
// message when it fails to start) goes to onLog as it comes. With a relay runner object it also
// gets a private socket on its fd 3, on which it asks for commands to run (relay.ts).

import { spawn, type ChildProcess } from "node:child_process";

import type { Duplex } from "node:stream";

import { ClipbridgeError } from "./errors.js";
import { eachLine, Tail } from "./lines.js";
import { defaultRelayLimits, Relay, type RelayLimits } from "./relay.js";
import type { LogSink, SandboxRunnerObject } from "./types.js";

/** SidecarOptions configures Sidecar.start. */
export interface SidecarOptions {
  binary: string;
  /** The whole environment of the child. */
  env: Record<string, string>;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
  onLog: LogSink;
  /** relay, when set, is the sandbox runner object the sidecar's relay runner drives. */
  relay?: SandboxRunnerObject;
  relayLimits?: RelayLimits;
}

/** Exit is how the process ended. */
interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** logFlushMs bounds how long stop() waits for onLog to take the last lines. */
const logFlushMs = 1_000;

/** live holds every sidecar still running, for the exit hook. */
const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * watch registers child for the exit hook: when this Node process exits with sidecars still
 * running (a crash, process.exit), each gets SIGTERM and drains on its own instead of being
 * orphaned. A SIGKILL of this process cannot be caught; the sidecar then keeps serving until
 * stopped, as any orphan would.
 */
function watch(child: ChildProcess): void {
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const c of live) c.kill("SIGTERM");
    });
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/** Sidecar is a running clipbridge serve process that has printed its ready line. */
export class Sidecar {
  /** env is the agent environment from the ready line. */
  readonly env: Record<string, string>;
  readonly adminUrl: string;
  readonly pid: number;

  private stopping: Promise<void> | null = null;
  private stopRequested = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<Exit>,
    private readonly tail: Tail,
    private readonly logs: () => Promise<void>,
    private readonly o: SidecarOptions,
    ready: { env: Record<string, string>; adminUrl: string },
  ) {
    this.env = ready.env;
    this.adminUrl = ready.adminUrl;
    this.pid = child.pid!;
    void exited.then((e) => {
      if (!this.stopRequested) {
        void o.onLog("stderr", `[clipbridge] the sidecar exited on its own (${describeExit(e)}); the agent's bridge is gone\n`).catch(() => {});
      }
    });
  }

  /** start runs the binary and resolves once its ready line is read. */
  static start(o: SidecarOptions): Promise<Sidecar> {
    // fd 3 is the relay socket: a pipe here is a unix socketpair, private to the two processes.
    const child = spawn(o.binary, ["serve"], { env: o.env, stdio: ["ignore", "pipe", "pipe", o.relay ? "pipe" : "ignore"] });
    const tail = new Tail(16 << 10);
    let chain = Promise.resolve();
    const log = (stream: "stdout" | "stderr", line: string) => {
      chain = chain.then(() => o.onLog(stream, line + "\n")).catch(() => {});
    };
    if (o.relay && child.stdio[3]) {
      const relay = new Relay(child.stdio[3] as Duplex, o.relay, o.relayLimits ?? defaultRelayLimits, (msg) => log("stderr", msg.trimEnd()));
      child.once("exit", () => relay.close());
    }
    const logs = () => chain;

    return new Promise<Sidecar>((resolve, reject) => {
      let settled = false;
      let spawnError: Error | null = null;
      const exited = new Promise<Exit>((res) => {
        child.once("exit", (code, signal) => res({ code, signal }));
        child.once("error", (err) => {
          // A spawn failure (ENOENT, EACCES) emits no exit event.
          spawnError = err;
          if (child.pid === undefined) res({ code: null, signal: null });
        });
      });
      if (child.pid !== undefined) watch(child);

      const fail = (err: ClipbridgeError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      // abandon stops a sidecar that will not become ready, and then reports why.
      let abandoned = false;
      const abandon = (why: string) => {
        if (abandoned || settled) return;
        abandoned = true;
        void terminate(child, exited, o.stopTimeoutMs).then(({ exit }) =>
          fail(new ClipbridgeError("CLIPBRIDGE_START_FAILED", why + failureDetail(tail), { exitCode: exit.code, signal: exit.signal })),
        );
      };
      const timer = setTimeout(() => abandon(`clipbridge printed no ready line within ${o.readyTimeoutMs} ms; stopped it`), o.readyTimeoutMs);

      eachLine(child.stderr!, (line) => {
        tail.push(line);
        log("stderr", line);
      });
      let first = true;
      // failure is the sidecar's own start-up error line, {"event":"error","code",...}: it
      // then exits, and the exit handler below reports it with that code.
      let failure: StartupFailure | null = null;
      eachLine(child.stdout!, (line) => {
        if (!first) {
          log("stdout", line);
          return;
        }
        first = false;
        failure = parseFailure(line);
        if (failure !== null) return;
        const ready = parseReady(line);
        if (ready === null) {
          abandon(`clipbridge printed an invalid ready line ${JSON.stringify(line.slice(0, 200))}; stopped it`);
          return;
        }
        if (settled || abandoned) return;
        settled = true;
        clearTimeout(timer);
        resolve(new Sidecar(child, exited, tail, logs, o, ready));
      });

      void exited.then(async (e) => {
        if (settled || abandoned) return;
        if (spawnError) {
          fail(new ClipbridgeError("CLIPBRIDGE_START_FAILED", `cannot start ${o.binary}: ${spawnError.message}`, { cause: spawnError }));
          return;
        }
        // Its last words arrive on stderr just before the exit; let them in (bounded: a child of
        // the sidecar could hold the pipe open).
        await Promise.race([
          new Promise<void>((r) => (child.stderr!.readableEnded ? r() : child.stderr!.once("end", r))),
          new Promise<void>((r) => setTimeout(r, logFlushMs).unref()),
        ]);
        const f = failure as StartupFailure | null;
        fail(
          new ClipbridgeError(
            "CLIPBRIDGE_START_FAILED",
            `clipbridge exited (${describeExit(e)}) before it was ready${failureDetail(tail, f)}`,
            { exitCode: e.code, signal: e.signal, sidecarCode: f?.code },
          ),
        );
      });
    });
  }

  /**
   * stop sends SIGTERM, waits for the drain and the exit (SIGKILL after stopTimeoutMs), and
   * reports anything but a clean exit as an error.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const early = this.child.exitCode !== null || this.child.signalCode !== null;
    this.stopRequested = true;
    const { exit, killed } = early ? { exit: await this.exited, killed: false } : await terminate(this.child, this.exited, this.o.stopTimeoutMs);
    await Promise.race([this.logs(), new Promise((r) => setTimeout(r, logFlushMs).unref())]);
    if (killed) {
      throw new ClipbridgeError(
        "CLIPBRIDGE_STOP_FAILED",
        `clipbridge (pid ${this.pid}) did not exit within ${this.o.stopTimeoutMs} ms of SIGTERM; killed it with SIGKILL`,
        { exitCode: exit.code, signal: exit.signal },
      );
    }
    if (early) {
      throw new ClipbridgeError(
        "CLIPBRIDGE_STOP_FAILED",
        `clipbridge (pid ${this.pid}) had already exited on its own (${describeExit(exit)})${failureDetail(this.tail)}`,
        { exitCode: exit.code, signal: exit.signal },
      );
    }
    if (exit.code !== 0) {
      throw new ClipbridgeError(
        "CLIPBRIDGE_STOP_FAILED",
        `clipbridge (pid ${this.pid}) exited (${describeExit(exit)}) on stop${failureDetail(this.tail)}`,
        { exitCode: exit.code, signal: exit.signal },
      );
    }
  }
}

/** terminate sends SIGTERM and, if the process is still there after ms, SIGKILL. */
async function terminate(child: ChildProcess, exited: Promise<Exit>, ms: number): Promise<{ exit: Exit; killed: boolean }> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return { exit: await exited, killed: false };
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  const exit = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (exit !== null) return { exit, killed: false };
  child.kill("SIGKILL");
  return { exit: await exited, killed: true };
}

/** parseReady reads {"event":"ready","env":{...},"admin_url":"..."}, or returns null. */
/** StartupFailure is the line serve prints on stdout instead of the ready line when it cannot start. */
interface StartupFailure {
  code: string;
  message: string;
}

function parseFailure(line: string): StartupFailure | null {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof msg !== "object" || msg === null) return null;
  const m = msg as { event?: unknown; code?: unknown; message?: unknown };
  if (m.event !== "error" || typeof m.code !== "string" || typeof m.message !== "string") return null;
  return { code: m.code, message: m.message };
}

function parseReady(line: string): { env: Record<string, string>; adminUrl: string } | null {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof msg !== "object" || msg === null) return null;
  const m = msg as { event?: unknown; env?: unknown; admin_url?: unknown };
  if (m.event !== "ready" || typeof m.env !== "object" || m.env === null) return null;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.env as Record<string, unknown>)) {
    if (typeof v === "string") env[k] = v;
  }
  if (!env.PAPERCLIP_API_URL || !env.PAPERCLIP_API_KEY || !env.PAPERCLIP_API_BRIDGE_MODE) return null;
  return { env, adminUrl: typeof m.admin_url === "string" ? m.admin_url : "" };
}

function describeExit(e: Exit): string {
  return e.signal ? `killed by ${e.signal}` : `exit status ${e.code}`;
}

/**
 * failureDetail is the sidecar's own account of a failure: the plain lines it printed (its
 * error message, e.g. "clipbridge: invalid settings: ..."), else its last warning or error log
 * record. The sidecar never prints a secret, so these are safe to pass on.
 */
function failureDetail(tail: Tail, failure: StartupFailure | null = null): string {
  const lines = tail.all();
  const plain = lines.filter((l) => l.trim() !== "" && !l.startsWith("{"));
  if (plain.length > 0) return `:\n${plain.join("\n")}`;
  if (failure !== null) return `:\nclipbridge: ${failure.message}`;
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const rec = JSON.parse(lines[i]!) as { level?: string; msg?: string; error?: string };
      if (rec.level === "ERROR" || rec.level === "WARN") return `: ${rec.msg}${rec.error ? `: ${rec.error}` : ""}`;
    } catch {
      // not a log record
    }
  }
  return "";
}
