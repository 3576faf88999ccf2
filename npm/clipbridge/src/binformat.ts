// Reading which platform a binary was built for, from its first bytes. A binary for another
// platform cannot be told apart by running it: when the kernel refuses the format, execvp hands
// the file to /bin/sh, which fails with a syntax error about "(". Looking at the header first
// turns that into "built for darwin-arm64; this machine is linux-x64".

import { openSync, readSync, closeSync } from "node:fs";

const ELF_MACHINES: Record<number, string> = { 62: "x64", 183: "arm64" };
const MACHO_CPUS: Record<number, string> = { 0x01000007: "x64", 0x0100000c: "arm64" };

/**
 * binaryPlatform returns the <os>-<cpu> a 64-bit ELF or Mach-O executable is for, or null for
 * anything else (a script, a format or CPU it does not know), which the caller then just runs.
 */
export function binaryPlatform(file: string): string | null {
  const head = Buffer.alloc(20);
  const fd = openSync(file, "r");
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n < head.length) return null;
  if (head.readUInt32BE(0) === 0x7f454c46) {
    // ELF: e_ident[EI_CLASS] 2 is 64-bit, e_ident[EI_DATA] 1 is little-endian; e_machine at 18.
    // e_ident[EI_OSABI] is 0 (System V) for Linux binaries, Go's included.
    if (head[4] !== 2 || head[7] !== 0) return null;
    const machine = head[5] === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18);
    const cpu = ELF_MACHINES[machine];
    return cpu ? `linux-${cpu}` : null;
  }
  if (head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = MACHO_CPUS[head.readUInt32LE(4)];
    return cpu ? `darwin-${cpu}` : null;
  }
  return null;
}
