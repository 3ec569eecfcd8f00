import { defineConfig } from "vitest/config";

// End-to-end tests: a real `drover dev` (with its demo migrator) driven through headless Chromium.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
