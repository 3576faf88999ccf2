import type { Readable } from "node:stream";

/** maxLineBytes caps one line; a longer one is cut there (the sidecar writes short lines). */
export const maxLineBytes = 64 << 10;

/**
 * eachLine calls fn with every line of r (without its newline), and once more with the last
 * unterminated piece, if any, when r ends. Lines are cut at maxLineBytes so nothing the stream
 * carries can make the launcher buffer without bound.
 */
export function eachLine(r: Readable, fn: (line: string) => void): void {
  let pending = "";
  let skipping = false;
  r.setEncoding("utf8");
  r.on("data", (chunk: string) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl < 0) break;
      const piece = chunk.slice(start, nl);
      if (!skipping) fn(pending + piece);
      pending = "";
      skipping = false;
      start = nl + 1;
    }
    if (skipping) return;
    pending += chunk.slice(start);
    if (pending.length > maxLineBytes) {
      fn(pending.slice(0, maxLineBytes));
      pending = "";
      skipping = true;
    }
  });
  r.on("end", () => {
    if (pending !== "" && !skipping) fn(pending);
    pending = "";
  });
}

/** Tail keeps the last lines written to it, up to a byte budget, for error messages. */
export class Tail {
  private lines: string[] = [];
  private bytes = 0;

  constructor(private readonly budget: number) {}

  push(line: string): void {
    this.lines.push(line);
    this.bytes += line.length + 1;
    while (this.bytes > this.budget && this.lines.length > 1) {
      this.bytes -= this.lines.shift()!.length + 1;
    }
  }

  all(): string[] {
    return [...this.lines];
  }
}
