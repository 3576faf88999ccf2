// Package clipbridge launches the clipbridge sidecar for a Paperclip agent run: a drop-in for
// Paperclip's startAdapterExecutionTargetPaperclipBridge.

export { startPaperclipBridge } from "./launch.js";
export { ClipbridgeError, type ErrorCode } from "./errors.js";
export { PLATFORMS, packageName, type Platform } from "./platform.js";
export { packageVersion } from "./version.js";
export type {
  BridgeHandle,
  BridgeInput,
  ExecuteInput,
  ExecuteResult,
  LaunchOptions,
  LocalTarget,
  LogSink,
  SandboxRunner,
  SandboxRunnerObject,
  SandboxTarget,
  SshSpec,
  SshTarget,
  Target,
} from "./types.js";
