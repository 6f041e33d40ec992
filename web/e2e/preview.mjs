// Drives the cirrus web page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download) and prints what it saw as JSON, taking
// screenshots on the way. Run by tests/clients/test_web_chromium.py:
//   node web/e2e/preview.mjs <server url> <output dir> <dataset id>
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, outDir, datasetId] = process.argv.slice(2);
if (!base || !outDir || !datasetId) {
  console.error("usage: node preview.mjs <server url> <output dir> <dataset id>");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const out = { consoleErrors: [], failedRequests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("console", (m) => m.type() === "error" && out.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
  page.on("requestfailed", (r) => out.failedRequests.push(`${r.url()} ${r.failure()?.errorText}`));

  // 1. the list
  const resp = await page.goto(`${base}/`, { waitUntil: "networkidle" });
  out.rootContentType = resp.headers()["content-type"];
  await page.waitForSelector("#dataset-list .dataset", { timeout: 30000 });
  out.listCount = await page.locator("#dataset-list .dataset").count();
  out.title = await page.title();
  await page.screenshot({ path: join(outDir, "list.png"), fullPage: false });

  // 2. facet search: CORDEX only, then a free-text search
  await page.selectOption('select[data-facet="project"]', "cordex");
  out.cordexCount = await page.locator("#dataset-list .dataset").count();
  out.cordexIds = await page.locator("#dataset-list .dataset").evaluateAll((els) => els.map((e) => e.dataset.id));
  await page.fill("#search", "EUR-22");
  out.searchCount = await page.locator("#dataset-list .dataset").count();
  await page.screenshot({ path: join(outDir, "search.png") });

  // 3. the dataset page with its map
  await page.goto(`${base}/#/dataset/${encodeURIComponent(datasetId)}`, { waitUntil: "networkidle" });
  await page.waitForSelector("#dataset-id", { timeout: 30000 });
  out.datasetHeading = await page.textContent("#dataset-id");
  out.variables = await page.locator("#variables tbody tr").count();
  out.endpoints = await page.textContent("#endpoints");
  // every tile of the data layer loaded, and the legend
  const settled = async () => {
    await page.waitForFunction(
      () => {
        const imgs = [...document.querySelectorAll("#map .leaflet-tile-pane img.leaflet-tile")];
        const legend = document.getElementById("map-legend");
        return imgs.length > 0 && imgs.every((i) => i.complete && i.classList.contains("leaflet-tile-loaded")) && legend?.complete && legend.naturalWidth > 0;
      },
      null,
      { timeout: 60000 },
    );
    await page.waitForLoadState("networkidle");
  };
  await settled();
  const tiles = async () =>
    page.evaluate(() => {
      const imgs = [...document.querySelectorAll("#map .leaflet-tile-pane img.leaflet-tile-loaded")];
      let opaque = 0;
      const srcs = [];
      for (const img of imgs) {
        const c = document.createElement("canvas");
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) opaque++;
        srcs.push(img.src);
      }
      return { count: imgs.length, opaque, srcs };
    });
  const t1 = await tiles();
  out.tilesLoaded = t1.count;
  out.opaquePixels = t1.opaque;
  out.tileSrc = t1.srcs[0];
  out.legendOk = await page.evaluate(() => {
    const l = document.getElementById("map-legend");
    return !!l && l.complete && l.naturalWidth > 0;
  });
  out.mapStatus = await page.textContent("#map-status");
  await page.screenshot({ path: join(outDir, "dataset.png"), fullPage: false });

  // 4. the time slider and palette drive the tiles
  const max = Number(await page.getAttribute("#map-time", "max"));
  out.timeSteps = max + 1;
  if (max > 0) {
    await page.$eval("#map-time", (el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }, max);
    await page.waitForTimeout(600);
    await settled();
    out.timeLabel = await page.textContent("#map-time-label");
  }
  await page.selectOption("#map-palette", "rdbu");
  await page.waitForTimeout(600);
  await settled();
  const t2 = await tiles();
  out.tileSrcAfter = t2.srcs[0];
  out.opaquePixelsAfter = t2.opaque;
  await page.locator(".map-panel").screenshot({ path: join(outDir, "map.png") });

  // 5. a subset from the form runs as a job and offers its file
  await page.click("#subset-submit");
  await page.waitForSelector("#job-files a.result-file", { timeout: 120000 });
  out.jobStatus = await page.textContent("#job-status");
  out.fileHref = await page.getAttribute("#job-files a.result-file", "href");
  const file = await page.request.get(out.fileHref);
  const body = await file.body();
  out.fileStatus = file.status();
  out.fileBytes = body.length;
  out.fileMagic = body.subarray(0, 4).toString("latin1");
  await page.locator("#subset-form").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(outDir, "subset.png"), fullPage: true });
} catch (e) {
  out.error = String(e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
