// The launcher's side of the relay runner (`clipbridge serve --runner relay`): the sidecar asks,
// over a private socket on its fd 3, for each command to be run in the sandbox, and this carries
// it out with the target's runner.execute, the only way Paperclip reaches E2B, Daytona, Modal and
// other sandboxes. The wire format is the Go package runner/relaywire: frames of a 4-byte
// big-endian length and one JSON object, requests and replies matched by id.
//
// Everything is bounded, because a hung or misbehaving provider must neither hang the sidecar
// nor grow this process: frame sizes, commands running at once, commands that outlived their
// timeout (execute cannot be cancelled, so they are only abandoned), each call's duration and
// each reply's output.

import type { Duplex } from "node:stream";

import type { SandboxRunnerObject } from "./types.js";

/** maxFrameBytes matches relaywire.MaxFrameBytes. */
export const maxFrameBytes = 160 << 20;

/** RelayLimits bound the relay; the defaults suit the sidecar's own bound of 8 in flight. */
export interface RelayLimits {
  /** Commands running at once; more are refused with an error reply. */
  maxInFlight: number;
  /** Commands that outlived their timeout and whose execute has still not settled. */
  maxAbandoned: number;
  /**
   * How long past timeoutMs an execute may take before it is answered as timed out here. It is
   * below the sidecar's own 5 s grace, so the sidecar hears the timeout from us.
   */
  graceMs: number;
}

export const defaultRelayLimits: RelayLimits = { maxInFlight: 16, maxAbandoned: 16, graceMs: 1_000 };

/** RelayRequest is relaywire.Request. */
interface RelayRequest {
  type: "exec";
  id: number;
  command: string;
  args: string[];
  stdin: string;
  timeoutMs: number;
  maxOutputBytes: number;
}

/** RelayReply is relaywire.Reply. */
interface RelayReply {
  id: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  error?: string;
}

/** RelayStats counts what the relay did, for tests and diagnostics. */
export interface RelayStats {
  /** execute calls made. */
  execs: number;
  /** Requests refused (over a bound, or malformed). */
  refused: number;
  /** execute calls that outlived their timeout. */
  timedOut: number;
}

/**
 * Relay serves the sidecar's requests on socket until it closes (the sidecar exited) or the
 * sidecar breaks the protocol (the socket is then destroyed, which ends the sidecar too).
 */
export class Relay {
  readonly stats: RelayStats = { execs: 0, refused: 0, timedOut: 0 };
  private inFlight = 0;
  private abandoned = 0;
  private closed = false;
  private buf: Buffer[] = [];
  private bufLen = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly runner: SandboxRunnerObject,
    private readonly limits: RelayLimits = defaultRelayLimits,
    private readonly onProblem: (msg: string) => void = () => {},
  ) {
    socket.on("data", (chunk: Buffer) => this.take(chunk));
    socket.on("error", () => this.close());
    socket.on("close", () => this.close());
  }

  /** close stops serving; replies to commands still running are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buf = [];
    this.bufLen = 0;
    this.socket.destroy();
  }

  private take(chunk: Buffer): void {
    if (this.closed) return;
    this.buf.push(chunk);
    this.bufLen += chunk.length;
    for (;;) {
      if (this.bufLen < 4) return;
      const head = this.peek(4);
      const n = head.readUInt32BE(0);
      if (n === 0 || n > maxFrameBytes) {
        this.violation(`frame length ${n}`);
        return;
      }
      if (this.bufLen < 4 + n) return;
      const frame = this.peek(4 + n).subarray(4);
      this.consume(4 + n);
      let msg: unknown;
      try {
        msg = JSON.parse(frame.toString("utf8"));
      } catch {
        this.violation("a frame that is not JSON");
        return;
      }
      this.handle(msg);
      if (this.closed) return;
    }
  }

  /** peek returns the first n buffered bytes as one Buffer, joining chunks only when needed. */
  private peek(n: number): Buffer {
    if (this.buf[0]!.length < n) this.buf = [Buffer.concat(this.buf)];
    return this.buf[0]!.subarray(0, n);
  }

  private consume(n: number): void {
    const first = this.buf[0]!;
    if (first.length === n) this.buf.shift();
    else this.buf[0] = first.subarray(n);
    this.bufLen -= n;
  }

  private violation(what: string): void {
    this.onProblem(`[clipbridge] relay: the sidecar sent ${what}; closing the relay\n`);
    this.close();
  }

  private handle(msg: unknown): void {
    const req = parseRequest(msg);
    if (typeof req === "string") {
      const id = (msg as { id?: unknown } | null)?.id;
      if (!isId(id)) {
        this.violation(`a request without an id (${req})`);
        return;
      }
      this.refuse(id, `invalid request: ${req}`);
      return;
    }
    if (this.inFlight >= this.limits.maxInFlight) {
      this.refuse(req.id, `relay busy: ${this.inFlight} commands already running`);
      return;
    }
    if (this.abandoned >= this.limits.maxAbandoned) {
      this.refuse(req.id, `relay wedged: ${this.abandoned} commands outlived their timeout and have not returned`);
      return;
    }
    void this.run(req);
  }

  private refuse(id: number, error: string): void {
    this.stats.refused++;
    this.send(failure(id, error));
  }

  private async run(req: RelayRequest): Promise<void> {
    this.inFlight++;
    this.stats.execs++;
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), req.timeoutMs + this.limits.graceMs);
      timer.unref(); // an abandoned execute must not keep this process alive
    });
    const call = (async () => this.runner.execute({ command: req.command, args: req.args, stdin: req.stdin, timeoutMs: req.timeoutMs }))();
    // Whatever it does later, a settled call stops counting as abandoned.
    const settled = call.then(
      () => {},
      () => {},
    );
    let reply: RelayReply;
    try {
      const out = await Promise.race([call, expired]);
      if (out === "timeout") {
        late = true;
        reply = { ...emptyReply(req.id), timedOut: true };
      } else {
        reply = replyOf(req, out);
      }
    } catch (err) {
      reply = failure(req.id, `runner.execute failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      clearTimeout(timer);
      this.inFlight--;
    }
    if (late) {
      this.stats.timedOut++;
      this.abandoned++;
      void settled.then(() => this.abandoned--);
    }
    this.send(reply);
  }

  private send(reply: RelayReply): void {
    if (this.closed) return;
    let body = Buffer.from(JSON.stringify(reply), "utf8");
    if (body.length > maxFrameBytes) {
      body = Buffer.from(JSON.stringify(failure(reply.id, "the command's output does not fit in one relay frame")), "utf8");
    }
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0);
    this.socket.write(Buffer.concat([head, body]));
  }
}

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0;
}

/** parseRequest checks every field the relay relies on; it returns what is wrong, or the request. */
function parseRequest(msg: unknown): RelayRequest | string {
  if (typeof msg !== "object" || msg === null) return "not an object";
  const m = msg as Record<string, unknown>;
  if (m.type !== "exec") return `unknown type ${JSON.stringify(m.type)}`;
  if (!isId(m.id)) return "bad id";
  if (typeof m.command !== "string" || m.command === "") return "bad command";
  if (!Array.isArray(m.args) || !m.args.every((a) => typeof a === "string")) return "bad args";
  if (typeof m.stdin !== "string") return "bad stdin";
  if (typeof m.timeoutMs !== "number" || !Number.isFinite(m.timeoutMs) || m.timeoutMs <= 0) return "bad timeoutMs";
  if (typeof m.maxOutputBytes !== "number" || !Number.isSafeInteger(m.maxOutputBytes) || m.maxOutputBytes <= 0) return "bad maxOutputBytes";
  return m as unknown as RelayRequest;
}

function emptyReply(id: number): RelayReply {
  return { id, exitCode: null, stdout: "", stderr: "", stdoutTruncated: false, stderrTruncated: false, timedOut: false };
}

function failure(id: number, error: string): RelayReply {
  return { ...emptyReply(id), error: error.length > 512 ? error.slice(0, 512) + "…" : error };
}

/** replyOf checks what execute returned (a provider plugin's object, so anything) and bounds it. */
function replyOf(req: RelayRequest, out: unknown): RelayReply {
  if (typeof out !== "object" || out === null) return failure(req.id, "runner.execute returned no result object");
  const r = out as Record<string, unknown>;
  const exit = r.exitCode;
  if (exit !== null && exit !== undefined && !(typeof exit === "number" && Number.isInteger(exit))) {
    return failure(req.id, `runner.execute returned exit code ${JSON.stringify(exit)}`);
  }
  for (const k of ["stdout", "stderr"] as const) {
    if (r[k] !== undefined && r[k] !== null && typeof r[k] !== "string") {
      return failure(req.id, `runner.execute returned a non-string ${k}`);
    }
  }
  const [stdout, stdoutTruncated] = bound((r.stdout as string | undefined) ?? "", req.maxOutputBytes);
  const [stderr, stderrTruncated] = bound((r.stderr as string | undefined) ?? "", req.maxOutputBytes);
  return {
    id: req.id,
    exitCode: typeof exit === "number" ? exit : null,
    stdout,
    stderr,
    stdoutTruncated,
    stderrTruncated,
    timedOut: r.timedOut === true,
  };
}

/** bound cuts s to max UTF-8 bytes. */
function bound(s: string, max: number): [string, boolean] {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings need no measuring.
  if (s.length * 3 <= max || Buffer.byteLength(s, "utf8") <= max) return [s, false];
  return [Buffer.from(s, "utf8").subarray(0, max).toString("utf8"), true];
}
