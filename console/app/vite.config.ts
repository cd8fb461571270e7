/// <reference types="vitest/config" />
import { writeFileSync } from "node:fs";
import { defineConfig, type Plugin, type ProxyOptions } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the console's server paths to a running ferrite-console (or to
// dev/mock-server.mjs): FERRITE_CONSOLE_URL, default the console's default address.
const target = process.env.FERRITE_CONSOLE_URL ?? "http://127.0.0.1:8090";

// The console checks that mutating requests come from its own origin, so the dev proxy
// presents the target's origin instead of the dev server's.
const proxy: ProxyOptions = {
  target,
  ws: true,
  configure: (server) => {
    server.on("proxyReq", (req) => req.setHeader("origin", target));
    server.on("proxyReqWs", (req) => req.setHeader("origin", target));
  },
};

// The build empties dist/, whose .gitkeep is tracked by git (the Go package embeds dist/):
// write it back after every build.
const keepGitkeep: Plugin = {
  name: "keep-dist-gitkeep",
  apply: "build",
  closeBundle() {
    writeFileSync("dist/.gitkeep", "");
  },
};

export default defineConfig({
  plugins: [react(), keepGitkeep],
  // bundlerTimings off: the build's timing report is noise in `make console`.
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  server: { proxy: { "/auth": proxy, "/k8s": proxy, "/console": proxy, "/watch": proxy } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
