// Finding and checking the binary: the platform package, the CLIPBRIDGE_BINARY override, and a
// clear error for each way it can be missing or wrong. And a sidecar that fails to start
// rejects with its own message and exit status.

import { generateKeyPairSync } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { ClipbridgeError, startPaperclipBridge } from "../src/index.js";
import { packageBinary, platformKey, resolveGatewayBinary, resolveHostBinary, type Resolver } from "../src/platform.js";
import type { BridgeInput } from "../src/types.js";
import { fakeBinary, removeAll, tempDir } from "./helpers.js";

const base: BridgeInput = { runId: "run-bin", target: null, adapterKey: "codex", hostApiToken: "real-run-jwt" };

/** codeOf runs p and returns the ClipbridgeError's code and message it rejects with. */
async function failure(p: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(ClipbridgeError);
    return { code: (err as ClipbridgeError).code, message: (err as Error).message };
  }
  throw new Error("it did not fail");
}

/** platformPackage writes an installed-looking @clipbridge/<key> into dir and returns a resolver for it. */
async function platformPackage(dir: string, key: string, manifest: { os: string[]; cpu: string[] }, withBinary = true): Promise<Resolver> {
  const pkg = path.join(dir, "node_modules", "@clipbridge", key);
  await mkdir(path.join(pkg, "bin"), { recursive: true });
  await writeFile(path.join(pkg, "package.json"), JSON.stringify({ name: `@clipbridge/${key}`, version: "0.1.0", ...manifest }));
  if (withBinary) await fakeBinary(path.join(pkg, "bin"), "exit 0");
  return (name) => (name === `@clipbridge/${key}` ? pkg : null);
}

describe("finding the binary", () => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));
  const none: Resolver = () => null;

  it("takes the platform package of this machine", async () => {
    const dir = await tempDir("clipbridge-pkg-", cleanupDirs);
    const resolve = await platformPackage(dir, "linux-arm64", { os: ["linux"], cpu: ["arm64"] });
    const bin = resolveHostBinary({ env: {}, os: "linux", cpu: "arm64", resolve });
    expect(bin.path).toBe(path.join(dir, "node_modules/@clipbridge/linux-arm64/bin/clipbridge"));
  });

  it("prefers the binary option, then CLIPBRIDGE_BINARY, to the package", async () => {
    const dir = await tempDir("clipbridge-override-", cleanupDirs);
    const a = await fakeBinary(await tempDir("clipbridge-a-", cleanupDirs), "exit 0");
    const resolve = await platformPackage(dir, "linux-x64", { os: ["linux"], cpu: ["x64"] });
    expect(resolveHostBinary({ env: { CLIPBRIDGE_BINARY: a }, os: "linux", cpu: "x64", resolve }).path).toBe(a);
    expect(resolveHostBinary({ explicit: a, env: { CLIPBRIDGE_BINARY: "/nope" }, os: "linux", cpu: "x64", resolve }).path).toBe(a);
  });

  it.each([
    { name: "an unsupported platform", run: () => platformKey("win32", "x64"), code: "CLIPBRIDGE_UNSUPPORTED_PLATFORM", msg: /ships binaries for linux-x64, linux-arm64, darwin-x64, darwin-arm64; this machine is win32-x64: .*CLIPBRIDGE_BINARY/ },
    { name: "a package npm did not install", run: () => packageBinary("linux-x64", none), code: "CLIPBRIDGE_BINARY_NOT_FOUND", msg: /@clipbridge\/linux-x64 is not installed: .*optional dependencies are omitted.*CLIPBRIDGE_BINARY/ },
    { name: "a CLIPBRIDGE_BINARY that is not there", run: () => resolveHostBinary({ env: { CLIPBRIDGE_BINARY: "/no/such/clipbridge" }, os: "linux", cpu: "x64", resolve: none }), code: "CLIPBRIDGE_BINARY_NOT_FOUND", msg: /CLIPBRIDGE_BINARY names \/no\/such\/clipbridge, which is not a file/ },
  ])("fails clearly for $name", async ({ run, code, msg }) => {
    const f = await failure(run);
    expect(f.code).toBe(code);
    expect(f.message).toMatch(msg);
  });

  it("refuses a package installed for another platform (npm install --force)", async () => {
    const dir = await tempDir("clipbridge-forced-", cleanupDirs);
    const resolve = await platformPackage(dir, "linux-x64", { os: ["darwin"], cpu: ["arm64"] });
    const f = await failure(() => packageBinary("linux-x64", resolve));
    expect(f.code).toBe("CLIPBRIDGE_BINARY_UNUSABLE");
    expect(f.message).toMatch(/declares os \["darwin"\] and cpu \["arm64"\], not linux-x64/);
  });

  it("refuses a package without its binary", async () => {
    const dir = await tempDir("clipbridge-empty-", cleanupDirs);
    const resolve = await platformPackage(dir, "linux-x64", { os: ["linux"], cpu: ["x64"] }, false);
    const f = await failure(() => packageBinary("linux-x64", resolve));
    expect(f.code).toBe("CLIPBRIDGE_BINARY_NOT_FOUND");
    expect(f.message).toMatch(/holds no bin\/clipbridge/);
  });

  it("copies the Linux binary of the sandbox's CPU, whatever this machine is", async () => {
    const dir = await tempDir("clipbridge-gw-", cleanupDirs);
    const resolve = await platformPackage(dir, "linux-arm64", { os: ["linux"], cpu: ["arm64"] });
    const host = { path: "/host/clipbridge", source: "test" };
    expect(resolveGatewayBinary({ env: {}, os: "darwin", cpu: "arm64", sandboxArch: "arm64", host, resolve }).path).toBe(
      path.join(dir, "node_modules/@clipbridge/linux-arm64/bin/clipbridge"),
    );
    expect(resolveGatewayBinary({ env: {}, os: "linux", cpu: "x64", sandboxArch: "arm64", host, resolve }).source).toBe("@clipbridge/linux-arm64");
    expect(resolveGatewayBinary({ env: {}, os: "linux", cpu: "arm64", sandboxArch: "arm64", host, resolve })).toBe(host);
    const f = await failure(() => resolveGatewayBinary({ env: {}, os: "darwin", cpu: "arm64", sandboxArch: "x64", host, resolve }));
    expect(f.code).toBe("CLIPBRIDGE_BINARY_NOT_FOUND");
    expect(f.message).toMatch(/needs the Linux gateway binary from @clipbridge\/linux-x64, which npm does not install on darwin-arm64: .*npm install --force @clipbridge\/linux-x64/);
  });
});

describe("checking the binary before starting it", () => {
  const cleanupDirs: string[] = [];
  afterEach(() => removeAll(cleanupDirs));

  it("refuses a binary built for another platform", async () => {
    const dir = await tempDir("clipbridge-macho-", cleanupDirs);
    // A 64-bit Mach-O header for arm64: what a darwin-arm64 build starts with.
    const header = Buffer.alloc(32);
    header.writeUInt32LE(0xfeedfacf, 0);
    header.writeUInt32LE(0x0100000c, 4);
    const bin = path.join(dir, "clipbridge");
    await writeFile(bin, header, { mode: 0o755 });
    const f = await failure(startPaperclipBridge({ ...base, clipbridge: { binary: bin } }));
    expect(f.code).toBe("CLIPBRIDGE_BINARY_UNUSABLE");
    expect(f.message).toMatch(new RegExp(`is a clipbridge binary for darwin-arm64, but it must run on ${process.platform}-${process.arch}`));
  });

  it("refuses a binary of another release", async () => {
    const dir = await tempDir("clipbridge-old-", cleanupDirs);
    const bin = await fakeBinary(dir, 'echo "clipbridge 0.0.9 (go1.26.0, commit abc)"');
    const f = await failure(startPaperclipBridge({ ...base, clipbridge: { binary: bin } }));
    expect(f.code).toBe("CLIPBRIDGE_VERSION_MISMATCH");
    expect(f.message).toMatch(/is clipbridge 0\.0\.9, but this launcher is 0\.1\.0/);
  });

  it("refuses something that is not clipbridge", async () => {
    const dir = await tempDir("clipbridge-other-", cleanupDirs);
    const bin = await fakeBinary(dir, "echo hello");
    const f = await failure(startPaperclipBridge({ ...base, clipbridge: { binary: bin } }));
    expect(f.code).toBe("CLIPBRIDGE_BINARY_UNUSABLE");
    expect(f.message).toMatch(/is not a clipbridge binary: `version` printed "hello\\n"/);
  });
});

describe("a sidecar that fails to start", () => {
  it("rejects with the sidecar's own message and exit status", async () => {
    // Nothing listens on port 1: the real sidecar's SSH connect is refused, a configuration
    // problem it reports with exit status 2.
    const f = await startPaperclipBridge({
      ...base,
      target: {
        kind: "remote",
        transport: "ssh",
        remoteCwd: "/tmp",
        spec: { host: "127.0.0.1", port: 1, username: "nobody", privateKey: testKey(), knownHosts: null, strictHostKeyChecking: false },
      },
    }).catch((e: unknown) => e);
    expect(f).toBeInstanceOf(ClipbridgeError);
    const err = f as ClipbridgeError;
    expect(err.code).toBe("CLIPBRIDGE_START_FAILED");
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^clipbridge exited \(exit status 2\) before it was ready:\nclipbridge: .*refused/s);
    expect(err.sidecarCode).toBe("ssh_unreachable");
    expect(err.message).not.toContain("real-run-jwt");
  });

  it("rejects invalid settings the sidecar reports, naming them", async () => {
    const f = await startPaperclipBridge({ ...base, runId: "run id with spaces" }).catch((e: unknown) => e);
    expect((f as ClipbridgeError).exitCode).toBe(2);
    expect((f as ClipbridgeError).sidecarCode).toBe("config");
    expect((f as Error).message).toMatch(/clipbridge: invalid settings:\n.*--run-id\/CLIPBRIDGE_RUN_ID "run id with spaces" .*visible ASCII/s);
  });

  it("refuses a sandbox target it has no way to reach, before starting anything", async () => {
    const f = await failure(startPaperclipBridge({ ...base, target: { kind: "remote", transport: "sandbox", remoteCwd: "/workspace" } }));
    expect(f.code).toBe("CLIPBRIDGE_UNSUPPORTED_TARGET");
    expect(f.message).toMatch(/cannot bridge a sandbox target without a runner object: .*clipbridge: \{ runner: "local" \}/);
  });
});

/** testKey is a throwaway ed25519 private key in PKCS#8 PEM, which the sidecar accepts. */
function testKey(): string {
  return generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}
