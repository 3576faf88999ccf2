import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["clipbridge/test/**/*.test.ts"],
    // One file at a time in one forked worker: the machine's two cores are shared, and the
    // process checks (no sidecar or gateway left behind) read /proc, which parallel files
    // would make racy.
    pool: "forks",
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
