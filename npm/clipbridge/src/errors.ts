/** ErrorCode names each way the launcher can fail, so callers can branch without parsing messages. */
export type ErrorCode =
  | "CLIPBRIDGE_INVALID_INPUT"
  | "CLIPBRIDGE_UNSUPPORTED_TARGET"
  | "CLIPBRIDGE_UNSUPPORTED_PLATFORM"
  | "CLIPBRIDGE_BINARY_NOT_FOUND"
  | "CLIPBRIDGE_BINARY_UNUSABLE"
  | "CLIPBRIDGE_VERSION_MISMATCH"
  | "CLIPBRIDGE_START_FAILED"
  | "CLIPBRIDGE_STOP_FAILED";

/**
 * ClipbridgeError is every error the launcher raises. For a sidecar that exited, exitCode and
 * signal say how, and the message carries the sidecar's own words (which never hold a secret:
 * the sidecar redacts them).
 */
export class ClipbridgeError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /**
   * sidecarCode is the sidecar's own stable code for a failed start ("config", "listen",
   * "ssh_host_key_unknown", ...; see the README's "Start-up failures"), when it printed one.
   */
  readonly sidecarCode: string | null;

  constructor(
    code: ErrorCode,
    message: string,
    detail: { exitCode?: number | null; signal?: NodeJS.Signals | null; cause?: unknown; sidecarCode?: string } = {},
  ) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = "ClipbridgeError";
    this.code = code;
    this.exitCode = detail.exitCode ?? null;
    this.signal = detail.signal ?? null;
    this.sidecarCode = detail.sidecarCode ?? null;
  }
}
