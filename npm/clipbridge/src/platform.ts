// Finding the clipbridge binary, the way esbuild and Biome find theirs: one npm package per
// platform (@clipbridge/<os>-<cpu>), each declaring os and cpu so npm installs only the one that
// matches this machine out of clipbridge's optionalDependencies.

import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { ClipbridgeError } from "./errors.js";

/** PLATFORMS lists the platform packages the build publishes, by <os>-<cpu> key (Node's names). */
export const PLATFORMS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"] as const;

/** Platform is one supported <os>-<cpu> key. */
export type Platform = (typeof PLATFORMS)[number];

/** BINARY_PATH is where each platform package holds the binary. */
export const BINARY_PATH = "bin/clipbridge";

/** packageName returns the platform package's name. */
export function packageName(platform: Platform): string {
  return `@clipbridge/${platform}`;
}

/** platformKey returns the supported key for Node's process.platform and process.arch, or throws. */
export function platformKey(os: string, cpu: string): Platform {
  const key = `${os}-${cpu}`;
  if (!(PLATFORMS as readonly string[]).includes(key)) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_UNSUPPORTED_PLATFORM",
      `clipbridge ships binaries for ${PLATFORMS.join(", ")}; this machine is ${key}: ` +
        "build one for it (go build in the clipbridge repository) and set CLIPBRIDGE_BINARY to its path",
    );
  }
  return key as Platform;
}

/** Resolver finds an installed package's directory, or returns null when it is not installed. */
export type Resolver = (name: string) => string | null;

/** nodeResolver resolves packages as this module's own imports would. */
export const nodeResolver: Resolver = (name) => {
  const require = createRequire(import.meta.url);
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return null;
  }
};

/** Where a binary came from, for error messages. */
export interface Located {
  path: string;
  source: string;
}

/**
 * packageBinary returns the binary inside the installed platform package, checking that the
 * package is the one for that platform (a forced install of the wrong one is caught here rather
 * than as an exec format error).
 */
export function packageBinary(platform: Platform, resolve: Resolver): Located {
  const name = packageName(platform);
  const dir = resolve(name);
  if (dir === null) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_BINARY_NOT_FOUND",
      `the clipbridge binary package ${name} is not installed: npm installs it as an optional ` +
        "dependency of clipbridge unless optional dependencies are omitted (--omit=optional, " +
        "--no-optional); reinstall without that, or set CLIPBRIDGE_BINARY to a clipbridge binary",
    );
  }
  const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { os?: string[]; cpu?: string[] };
  const [os, cpu] = platform.split("-");
  if (!manifest.os?.includes(os!) || !manifest.cpu?.includes(cpu!)) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_BINARY_UNUSABLE",
      `${name} at ${dir} declares os ${JSON.stringify(manifest.os)} and cpu ${JSON.stringify(manifest.cpu)}, not ${platform}: reinstall clipbridge`,
    );
  }
  const bin = path.join(dir, BINARY_PATH);
  if (!isFile(bin)) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_BINARY_NOT_FOUND",
      `${name} is installed at ${dir} but holds no ${BINARY_PATH}: reinstall clipbridge`,
    );
  }
  return { path: bin, source: name };
}

/** HostBinaryQuery is what resolveHostBinary looks at; tests inject every part. */
export interface HostBinaryQuery {
  explicit?: string | undefined;
  env: NodeJS.ProcessEnv;
  os: string;
  cpu: string;
  resolve: Resolver;
}

/**
 * resolveHostBinary picks the binary the launcher runs: an explicit path, then CLIPBRIDGE_BINARY,
 * then the platform package for this machine.
 */
export function resolveHostBinary(q: HostBinaryQuery): Located {
  if (q.explicit) return existing(q.explicit, "the binary option");
  const override = q.env.CLIPBRIDGE_BINARY?.trim();
  if (override) return existing(override, "CLIPBRIDGE_BINARY");
  return packageBinary(platformKey(q.os, q.cpu), q.resolve);
}

/** GatewayBinaryQuery is what resolveGatewayBinary looks at. */
export interface GatewayBinaryQuery {
  explicit?: string | undefined;
  env: NodeJS.ProcessEnv;
  os: string;
  cpu: string;
  sandboxArch: string;
  host: Located;
  resolve: Resolver;
}

/**
 * resolveGatewayBinary picks the Linux binary the exec and relay runners copy into a sandbox: sandboxes
 * run Linux whatever this machine runs, so on macOS, or for a sandbox of another CPU, that is the
 * Linux platform package's binary, not the one the launcher runs.
 */
export function resolveGatewayBinary(q: GatewayBinaryQuery): Located {
  if (q.explicit) return existing(q.explicit, "the gatewayBinary option");
  const override = q.env.CLIPBRIDGE_GATEWAY_BINARY?.trim();
  if (override) return existing(override, "CLIPBRIDGE_GATEWAY_BINARY");
  if (q.os === "linux" && q.cpu === q.sandboxArch) return q.host;
  const platform = platformKey("linux", q.sandboxArch);
  try {
    return packageBinary(platform, q.resolve);
  } catch (err) {
    if (err instanceof ClipbridgeError && err.code === "CLIPBRIDGE_BINARY_NOT_FOUND") {
      throw new ClipbridgeError(
        "CLIPBRIDGE_BINARY_NOT_FOUND",
        `the sandbox needs the Linux gateway binary from ${packageName(platform)}, which npm does not ` +
          `install on ${q.os}-${q.cpu}: install it with \`npm install --force ${packageName(platform)}\`, ` +
          "or set the gatewayBinary option or CLIPBRIDGE_GATEWAY_BINARY to a Linux clipbridge binary",
        { cause: err },
      );
    }
    throw err;
  }
}

function existing(p: string, source: string): Located {
  if (!isFile(p)) {
    throw new ClipbridgeError("CLIPBRIDGE_BINARY_NOT_FOUND", `${source} names ${p}, which is not a file`);
  }
  return { path: path.resolve(p), source };
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}
