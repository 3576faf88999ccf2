// The launcher and the binary must be the same release: the launcher relies on the binary's
// settings, ready line and exit statuses, so a stale CLIPBRIDGE_BINARY or a half-upgraded
// node_modules is refused up front rather than failing in some odd way mid-run.

import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";

import { binaryPlatform } from "./binformat.js";
import { ClipbridgeError } from "./errors.js";
import type { Located } from "./platform.js";

/** packageVersion is this package's version, the one every platform package and binary carries. */
export function packageVersion(): string {
  // src/ and dist/ both sit beside package.json.
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

/** versionTimeoutMs bounds `clipbridge version`, which only prints a line. */
const versionTimeoutMs = 10_000;

const checked = new Map<string, Promise<void>>();

/**
 * checkBinary makes sure bin runs on this platform and reports version `want`. Results are
 * remembered per file (path, size and modification time), so a run pays for it once.
 */
export function checkBinary(bin: Located, platform: string, want: string, env: NodeJS.ProcessEnv): Promise<void> {
  const st = statSync(bin.path);
  const key = `${bin.path}\0${st.size}\0${st.mtimeMs}\0${platform}\0${want}`;
  let p = checked.get(key);
  if (!p) {
    p = check(bin, platform, want, env);
    checked.set(key, p);
    p.catch(() => checked.delete(key));
  }
  return p;
}

/** checkPlatform refuses an executable built for another platform than want. */
export function checkPlatform(bin: Located, want: string): void {
  const built = binaryPlatform(bin.path);
  if (built !== null && built !== want) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_BINARY_UNUSABLE",
      `${bin.path} (from ${bin.source}) is a clipbridge binary for ${built}, but it must run on ${want}`,
    );
  }
}

async function check(bin: Located, platform: string, want: string, env: NodeJS.ProcessEnv): Promise<void> {
  checkPlatform(bin, platform);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(bin.path, ["version"], { env, timeout: versionTimeoutMs, maxBuffer: 64 << 10 }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new ClipbridgeError(
            "CLIPBRIDGE_BINARY_UNUSABLE",
            `cannot run \`${bin.path} version\` (from ${bin.source}): ${err.message.trim()}${stderr ? `: ${stderr.trim()}` : ""}`,
            { cause: err },
          ),
        );
        return;
      }
      resolve(stdout);
    });
  });
  const got = /^clipbridge (\S+) \(/.exec(out)?.[1];
  if (got === undefined) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_BINARY_UNUSABLE",
      `${bin.path} (from ${bin.source}) is not a clipbridge binary: \`version\` printed ${JSON.stringify(out.slice(0, 200))}`,
    );
  }
  if (got !== want) {
    throw new ClipbridgeError(
      "CLIPBRIDGE_VERSION_MISMATCH",
      `${bin.path} (from ${bin.source}) is clipbridge ${got}, but this launcher is ${want}: ` +
        `use the binary of the same release (build it with -ldflags "-X main.version=${want}")`,
    );
  }
}
