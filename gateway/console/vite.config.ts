// The console is served by the gateway under /console (gateway/src/gateway/console.py), so
// every asset URL carries that base; `npm run dev` proxies the API to a running gateway.
import { fileURLToPath, URL } from "node:url";

import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vitest/config";

const gateway = process.env.SHEQU_GATEWAY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/console/",
  plugins: [vue()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        // Element Plus and ECharts change less often than our pages: separate, cacheable files.
        manualChunks(id: string) {
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender")) return "echarts";
          if (id.includes("node_modules/element-plus")) return "element-plus";
          if (id.includes("node_modules")) return "vendor";
          return undefined;
        },
      },
    },
  },
  server: { proxy: { "/api": gateway, "/console/config.json": gateway } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
