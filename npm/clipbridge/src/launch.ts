// The launcher: Paperclip's bridge input in, a running clipbridge sidecar and Paperclip's
// bridge handle out.

import { nodeResolver, resolveGatewayBinary, resolveHostBinary } from "./platform.js";
import { plan, readyTimeoutMs, sidecarEnv, stopTimeoutMs } from "./settings.js";
import { Sidecar } from "./sidecar.js";
import type { BridgeHandle, BridgeInput } from "./types.js";
import { checkBinary, checkPlatform, packageVersion } from "./version.js";

const transports = { local: "local listener", ssh: "SSH remote forward", queue: "queue_v1 with its gateway" } as const;

/**
 * startPaperclipBridge starts clipbridge for one agent run and returns once the agent's bridge
 * works: merge handle.env into the agent's environment, and await handle.stop() when the run
 * ends. It takes the input of Paperclip's startAdapterExecutionTargetPaperclipBridge and returns
 * the same handle shape; a local target (or none) gets a local listener, an SSH target the SSH
 * remote forward, and a sandbox target the queue_v1 channel with clipbridge's gateway started
 * in the sandbox (see LaunchOptions.runner).
 *
 * It rejects with a ClipbridgeError: bad input, a target it cannot bridge, no usable binary, or
 * a sidecar that failed to start (with the sidecar's own message and exit status).
 */
export async function startPaperclipBridge(input: BridgeInput): Promise<BridgeHandle> {
  const p = plan(input);
  const onLog = input.onLog ?? (async () => {});
  const o = input.clipbridge ?? {};
  const version = packageVersion();
  const here = `${process.platform}-${process.arch}`;

  const host = resolveHostBinary({ explicit: o.binary, env: process.env, os: process.platform, cpu: process.arch, resolve: nodeResolver });
  await checkBinary(host, here, version, { PATH: process.env.PATH ?? "/usr/bin:/bin" });

  let gateway: string | undefined;
  if (p.mode === "queue" && p.runner !== "local") {
    const sandboxArch = o.sandboxArch ?? process.arch;
    const gw = resolveGatewayBinary({
      explicit: o.gatewayBinary,
      env: process.env,
      os: process.platform,
      cpu: process.arch,
      sandboxArch,
      host,
      resolve: nodeResolver,
    });
    checkPlatform(gw, `linux-${sandboxArch}`);
    gateway = gw.path;
  }

  const env = sidecarEnv(input, p, process.env, gateway);
  await safeLog(onLog, "stdout", `[clipbridge] Starting clipbridge ${version} (${transports[p.mode]}) for ${input.adapterKey}.\n`);
  const sc = await Sidecar.start({
    binary: host.path,
    env,
    readyTimeoutMs: readyTimeoutMs(input),
    stopTimeoutMs: stopTimeoutMs(input),
    onLog,
    relay: p.mode === "queue" ? p.relay : undefined,
  });
  await safeLog(onLog, "stdout", `[clipbridge] Bridge ready at ${sc.env.PAPERCLIP_API_URL} (pid ${sc.pid}).\n`);
  return {
    env: { ...sc.env },
    runLogTail: null,
    pid: sc.pid,
    adminUrl: sc.adminUrl,
    stop: () => sc.stop(),
  };
}

async function safeLog(onLog: NonNullable<BridgeInput["onLog"]>, stream: "stdout" | "stderr", chunk: string): Promise<void> {
  try {
    await onLog(stream, chunk);
  } catch {
    // A failing log sink must not fail the run.
  }
}

