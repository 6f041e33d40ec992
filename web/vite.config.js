// Builds the page into web/dist with fixed file names (app.js, app.css, index.html),
// which the server embeds at compile time (server/src/web.rs) and serves at /web/.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/web/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    cssCodeSplit: false,
    // Leaflet's CSS images are inlined: the bundle is three files
    assetsInlineLimit: 1 << 20,
    modulePreload: false,
    rollupOptions: {
      output: {
        entryFileNames: "app.js",
        chunkFileNames: "app-[name].js",
        assetFileNames: (info) => (info.names?.some((n) => n.endsWith(".css")) ? "app.css" : "[name][extname]"),
        inlineDynamicImports: true,
      },
    },
  },
});
