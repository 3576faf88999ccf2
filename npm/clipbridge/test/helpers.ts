// Test helpers: a recording upstream (Paperclip's API), a Paperclip-style sandbox runner, the
// real sshd the Go test starts, and process checks read from /proc.

import { spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import os from "node:os";
import path from "node:path";

import type { ExecuteInput, ExecuteResult, SandboxRunnerObject, SshSpec } from "../src/types.js";

/** Recorded is what Paperclip's test records of each upstream request. */
export interface Recorded {
  method: string;
  url: string;
  auth: string | null;
  runId: string | null;
}

/** Upstream is a Node http server on 127.0.0.1:0 standing in for Paperclip's API. */
export interface Upstream {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

/** startUpstream records every request, then lets handle answer it. */
export async function startUpstream(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      auth: req.headers.authorization ?? null,
      runId: typeof req.headers["x-paperclip-run-id"] === "string" ? req.headers["x-paperclip-run-id"] : null,
    });
    handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the upstream is not on a TCP port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** jsonAnswer answers 200 with body as JSON. */
export function jsonAnswer(body: unknown) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
}

/**
 * localSandboxRunner is a runner object of the shape Paperclip's sandbox targets carry (the one
 * in its execution-target test spawns local processes the same way). clipbridge does not drive
 * it: the tests name the local runner with clipbridge: { runner: "local" }.
 */
export function localSandboxRunner() {
  return {
    execute: (input: { command: string; args?: string[]; cwd?: string; env?: Record<string, string>; stdin?: string }) =>
      new Promise<{ exitCode: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(input.command, input.args ?? [], { cwd: input.cwd, env: input.env ?? {} });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (exitCode) => resolve({ exitCode, stdout, stderr }));
        child.stdin.end(input.stdin ?? "");
      }),
  };
}

/** Fault is what a counting runner does with one execute call. */
export type Fault = "run" | "throw" | "hang" | "garbage";

/** CountingRunner is a sandbox runner object that records each execute call it gets. */
export interface CountingRunner extends SandboxRunnerObject {
  calls: ExecuteInput[];
}

/**
 * sandboxRunner is a runner object as Paperclip's sandbox providers make them, running each
 * command as a local process: in the sandbox's own environment (here only PATH, nothing of this
 * process), stdin written in full, killed (with its process group) at timeoutMs, output returned
 * at the end. fault decides, per call (numbered from 0), whether it runs, throws, never settles
 * or returns something that is no result.
 */
export function sandboxRunner(fault: (input: ExecuteInput, n: number) => Fault = () => "run"): CountingRunner {
  const calls: ExecuteInput[] = [];
  return {
    calls,
    execute(input: ExecuteInput): Promise<ExecuteResult> {
      const n = calls.push(input) - 1;
      switch (fault(input, n)) {
        case "throw":
          return Promise.reject(new Error("sandbox provider API: 503 Service Unavailable"));
        case "hang":
          return new Promise<ExecuteResult>(() => {});
        case "garbage":
          return Promise.resolve(42 as unknown as ExecuteResult);
        case "run":
          break;
      }
      return new Promise((resolve, reject) => {
        const child = spawn(input.command, input.args ?? [], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, detached: true });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        const timer =
          input.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                timedOut = true;
                try {
                  process.kill(-child.pid!, "SIGKILL");
                } catch {
                  // already gone
                }
              }, input.timeoutMs);
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        child.on("error", reject);
        child.on("close", (exitCode) => {
          clearTimeout(timer);
          resolve({ exitCode: timedOut ? null : exitCode, timedOut, stdout, stderr });
        });
        child.stdin.on("error", () => {});
        child.stdin.end(input.stdin ?? "");
      });
    },
  };
}

/** tempDir makes a directory that cleanup removes. */
export async function tempDir(prefix: string, cleanup: string[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanup.push(dir);
  return dir;
}

/**
 * removeAll removes the directories, retrying a while: a relay target's last long poll (an
 * execute cannot be cancelled) may still be running in the "sandbox" when a test ends.
 */
export async function removeAll(dirs: string[]): Promise<void> {
  while (dirs.length > 0) await rm(dirs.pop()!, { recursive: true, force: true, maxRetries: 25, retryDelay: 200 });
}

/** SSHD_ENV names the variables through which the Go test hands over its real sshd. */
export const SSHD_ENV = {
  host: "CLIPBRIDGE_TEST_SSHD_HOST",
  port: "CLIPBRIDGE_TEST_SSHD_PORT",
  user: "CLIPBRIDGE_TEST_SSHD_USER",
  keyFile: "CLIPBRIDGE_TEST_SSHD_KEY_FILE",
  knownHosts: "CLIPBRIDGE_TEST_SSHD_KNOWN_HOSTS",
} as const;

/**
 * realSshd returns the SSH spec of the real OpenSSH sshd the Go test started on loopback, or
 * null when there is none (the SSH cases then skip, which CLIPBRIDGE_REQUIRE_SSHD=1 forbids).
 */
export async function realSshd(): Promise<SshSpec | null> {
  const host = process.env[SSHD_ENV.host];
  if (!host) {
    if (process.env.CLIPBRIDGE_REQUIRE_SSHD === "1") {
      throw new Error(`CLIPBRIDGE_REQUIRE_SSHD=1 but ${SSHD_ENV.host} is unset: run these tests through go test ./npm`);
    }
    return null;
  }
  return {
    host,
    port: Number(process.env[SSHD_ENV.port]),
    username: process.env[SSHD_ENV.user]!,
    privateKey: await readFile(process.env[SSHD_ENV.keyFile]!, "utf8"),
    knownHosts: process.env[SSHD_ENV.knownHosts]!,
    strictHostKeyChecking: true,
  };
}

/** alive reports whether a process with this pid exists (and is not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** ProcInfo is one process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  argv: string[];
  environ: string[];
}

/** proc reads one process's argv and environment. */
export async function proc(pid: number): Promise<ProcInfo> {
  const split = (b: Buffer) => b.toString("utf8").split("\0").filter((s) => s !== "");
  return {
    pid,
    argv: split(await readFile(`/proc/${pid}/cmdline`)),
    environ: split(await readFile(`/proc/${pid}/environ`)),
  };
}

/** processesWithArg lists the processes one of whose argv words is arg. */
export async function processesWithArg(arg: string): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const p = await proc(Number(name));
      if (p.argv.includes(arg) && (await alive(p.pid))) out.push(p);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** fakeBinary writes an executable shell script standing in for clipbridge. */
export async function fakeBinary(dir: string, script: string): Promise<string> {
  const file = path.join(dir, "clipbridge");
  await writeFile(file, `#!/bin/sh\n${script}\n`);
  await chmod(file, 0o755);
  return file;
}
