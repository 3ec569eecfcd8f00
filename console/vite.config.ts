import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The console is served by drover at /ui/; `npm run dev` proxies the API to a running drover.
const api = process.env.DROVER_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: { outDir: "build/ui", emptyOutDir: true, chunkSizeWarningLimit: 800 },
  server: {
    proxy: Object.fromEntries(
      ["/migrations", "/event", "/events", "/insights", "/admin", "/auth", "/audit", "/healthz", "/readyz"].map((p) => [p, { target: api, changeOrigin: true }]),
    ),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    css: false,
  },
});
