// Drives the cirrus web page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download) and prints what it saw as one JSON object on
// stdout, taking screenshots on the way (list.png, facets.png, search.png, paging.png,
// dataset.png, map.png, map-time.png, subset.png) and saving the subset job's file
// (subset.nc) in the output directory. The page searches on the server (one page of
// /web/datasets.json per search): every such request is recorded (searchRequests).
// Run by tests/clients/test_web_chromium.py:
//   node web/e2e/preview.mjs <server url> <output dir> <dataset id>
// Exit status: 0 when the run went through (the JSON says what was seen), 1 when a
// step failed (the JSON's "error" says which), 2 on bad arguments.
import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";
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
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const out = { consoleErrors: [], failedRequests: [], badResponses: [], externalRequests: [], steps: [] };
const origin = new URL(base).origin;
const step = (s) => out.steps.push(s);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(30000);
  page.on("console", (m) => m.type() === "error" && out.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
  page.on("requestfailed", (r) => out.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  // everything comes from the server (Leaflet is bundled: no CDN, no tile service)
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith("data:") && !u.startsWith("blob:") && new URL(u).origin !== origin) out.externalRequests.push(u);
  });
  page.on("response", (r) => r.status() >= 400 && out.badResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`));

  const found = await (await page.request.get(`${base}/web/datasets.json?id=${encodeURIComponent(datasetId)}`)).json();
  const target = found.datasets?.[0];
  if (!target) throw new Error(`dataset ${datasetId} is not in /web/datasets.json?id=`);
  out.indexCount = found.all;
  // the searches the page asks the server for
  out.searchRequests = [];
  page.on("request", (r) => r.url().includes("/web/datasets.json") && out.searchRequests.push(r.url()));
  const lastSearch = () => out.searchRequests.at(-1);
  const shownIds = () => page.locator("#dataset-list .dataset").evaluateAll((els) => els.map((e) => e.dataset.id));
  // run an action that makes the page search, and wait until it shows the answer (the
  // list counts its renders in data-renders and is aria-busy while a search runs)
  const renders = () => page.locator("#dataset-list").evaluate((el) => Number(el.dataset.renders || 0));
  const searched = async (action) => {
    const before = await renders();
    await action();
    await page.waitForFunction((n) => {
      const el = document.getElementById("dataset-list");
      return Number(el?.dataset.renders || 0) > n && el.getAttribute("aria-busy") === "false";
    }, before);
  };
  // what the pager shows
  const pager = async () => ({
    ids: await shownIds(),
    info: await page.textContent("#page-info"),
    prevDisabled: await page.isDisabled("#page-prev"),
    nextDisabled: await page.isDisabled("#page-next"),
    resultCount: await page.textContent("#result-count"),
    request: lastSearch(),
  });
  // the options of every facet select: value -> {label, disabled}
  const facetOptions = () =>
    page.$$eval("select[data-facet]", (sels) =>
      Object.fromEntries(
        sels.map((s) => [
          s.dataset.facet,
          Object.fromEntries([...s.options].filter((o) => o.value).map((o) => [o.value, { label: o.textContent, disabled: o.disabled }])),
        ]),
      ),
    );

  // 1. the list, as a browser asks for it
  step("list");
  const resp = await page.goto(`${base}/`, { waitUntil: "networkidle" });
  out.rootContentType = resp.headers()["content-type"];
  await page.waitForSelector("#dataset-list .dataset");
  await page.waitForSelector('#dataset-list[aria-busy="false"]');
  out.title = await page.title();
  out.listIds = await shownIds();
  out.listCount = out.listIds.length;
  out.resultCount = await page.textContent("#result-count");
  out.pageInfo = await page.textContent("#page-info");
  out.pageSize = Number(await page.inputValue("#page-size"));
  out.listRequest = lastSearch();
  out.listOptions = await facetOptions();
  await page.screenshot({ path: join(outDir, "list.png") });

  // 2. facet search: narrow by the dataset's own facets one after the other (each
  // step must keep the dataset and show only datasets with that facet value), then a
  // free-text search by its model
  step("facets");
  out.facetSteps = [];
  const order = ["project", "domain", "frequency", "variable", "experiment", "model"];
  for (const k of order.filter((k) => target.facets[k] && found.facets.includes(k))) {
    await searched(() => page.selectOption(`select[data-facet="${k}"]`, target.facets[k]));
    const ids = await shownIds();
    // the facet as the cards show it (a chip per facet)
    const facetsOf = await page.$$eval("#dataset-list .dataset", (els, k) => els.map((e) => e.querySelector(`.chip-${k}`)?.textContent), k);
    out.facetSteps.push({
      facet: k,
      value: target.facets[k],
      count: ids.length,
      hasTarget: ids.includes(datasetId),
      allMatch: facetsOf.every((v) => v === target.facets[k]),
      resultCount: await page.textContent("#result-count"),
      request: lastSearch(),
      // the options of the other facets count what this filter leaves
      anyLabel: await page.textContent(`select[data-facet="${k}"] option[value=""]`),
      options: await facetOptions(),
    });
    if (out.facetSteps.length === 3) break;
  }
  await page.screenshot({ path: join(outDir, "facets.png") });
  await searched(() => page.click("text=Reset"));
  out.countAfterReset = (await shownIds()).length;
  out.resultCountAfterReset = await page.textContent("#result-count");

  // paging: the smallest page size, then Next and Previous, each a search on the server
  step("paging");
  out.pageSizes = await page.$$eval("#page-size option", (os) => os.map((o) => Number(o.value)));
  out.pagingSize = Math.min(...out.pageSizes);
  await searched(() => page.selectOption("#page-size", String(out.pagingSize)));
  out.paging = [await pager()];
  if (!(await page.isDisabled("#page-next"))) {
    await searched(() => page.click("#page-next"));
    out.paging.push(await pager());
    await page.screenshot({ path: join(outDir, "paging.png") });
    await searched(() => page.click("#page-prev"));
    out.paging.push(await pager());
  }
  await searched(() => page.selectOption("#page-size", String(out.pageSize)));

  out.textQuery = target.facets.model || target.facets.variable;
  await searched(() => page.fill("#search", out.textQuery));
  const textIds = await shownIds();
  out.textCount = textIds.length;
  out.textHasTarget = textIds.includes(datasetId);
  out.textResultCount = await page.textContent("#result-count");
  out.textRequest = lastSearch();
  await page.screenshot({ path: join(outDir, "search.png") });

  // 3. the dataset: metadata, variables, files, endpoints
  step("dataset");
  await page.click(`#dataset-list .dataset[data-id="${datasetId}"]`);
  await page.waitForSelector("#dataset-id");
  out.datasetRequest = lastSearch();
  out.hash = await page.evaluate(() => location.hash);
  out.datasetHeading = await page.textContent("#dataset-id");
  out.metadata = await page.$$eval("#metadata tr", (rows) =>
    Object.fromEntries(rows.map((r) => [r.querySelector("th").textContent, r.querySelector("td").textContent])),
  );
  out.globalAttributes = await page.locator("#global-attributes tr").count();
  out.variables = await page.$$eval("#variables tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  out.files = await page.$$eval("#files li code", (els) => els.map((e) => e.textContent));
  out.endpoints = {
    text: await page.textContent("#endpoints"),
    codes: await page.$$eval("#endpoints code", (els) => els.map((e) => e.textContent)),
    stac: await page.getAttribute("#stac-link", "href"),
    links: await page.$$eval("#endpoints a[href]", (as) => as.map((a) => a.href)),
  };

  // 4. the map: every tile of the data layer loaded and shown (Leaflet fades tiles
  // in), the legend loaded; then the pixels of the tiles, read back through a canvas
  step("map");
  const settled = async (srcHas) => {
    await page.waitForFunction(
      (srcHas) => {
        const imgs = [...document.querySelectorAll("#map .leaflet-tile-pane img.leaflet-tile")];
        const legend = document.getElementById("map-legend");
        return (
          imgs.length > 0 &&
          imgs.every(
            (i) =>
              i.complete &&
              i.classList.contains("leaflet-tile-loaded") &&
              Number(getComputedStyle(i).opacity) === 1 &&
              (!srcHas || i.src.includes(srcHas)),
          ) &&
          legend?.complete &&
          legend.naturalWidth > 0
        );
      },
      srcHas,
      { timeout: 60000, polling: 100 },
    );
    await page.waitForLoadState("networkidle");
  };
  const tiles = () =>
    page.evaluate(() => {
      const imgs = [...document.querySelectorAll("#map .leaflet-tile-pane img.leaflet-tile-loaded")];
      let opaque = 0;
      let total = 0;
      let hash = 0;
      const colours = new Set();
      const srcs = [];
      for (const img of imgs) {
        const c = document.createElement("canvas");
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) {
          total++;
          if (d[i + 3] > 0) {
            opaque++;
            if (colours.size < 5000) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
          }
          hash = (Math.imul(hash, 31) + ((d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3])) | 0;
        }
        srcs.push(img.src);
      }
      return { count: imgs.length, total, opaque, colours: colours.size, hash, srcs };
    });
  await page.waitForSelector("#map .leaflet-tile-pane img.leaflet-tile");
  await settled();
  const t1 = await tiles();
  out.tiles = { count: t1.count, total: t1.total, opaque: t1.opaque, colours: t1.colours, hash: t1.hash };
  out.tileSrcs = t1.srcs;
  out.legendSrc = await page.getAttribute("#map-legend", "src");
  out.mapStatus = await page.textContent("#map-status");
  out.palettes = await page.$$eval("#map-palette option", (os) => os.map((o) => o.value));
  out.palette = await page.inputValue("#map-palette");
  await page.screenshot({ path: join(outDir, "dataset.png") });

  // 5. the time slider and the palette drive the tiles
  step("time slider");
  const max = Number(await page.getAttribute("#map-time", "max"));
  out.timeSteps = max + 1;
  out.timeLabelFirst = await page.textContent("#map-time-label");
  if (max > 0) {
    await page.locator("#map-time").focus();
    await page.keyboard.press("End");
    out.timeLabel = await page.textContent("#map-time-label");
    await settled(`TIME=${encodeURIComponent(out.timeLabel)}`);
    const t = await tiles();
    out.tilesAfterTime = { count: t.count, opaque: t.opaque, colours: t.colours, hash: t.hash };
    out.tileSrcAfterTime = t.srcs[0];
    await page.locator(".map-panel").screenshot({ path: join(outDir, "map-time.png") });
  }
  step("palette");
  out.paletteChosen = ["rdbu", "coolwarm", "plasma", ...out.palettes].find((p) => p !== out.palette && out.palettes.includes(p));
  await page.selectOption("#map-palette", out.paletteChosen);
  await settled(`raster%2F${out.paletteChosen}`);
  const t2 = await tiles();
  out.tilesAfterPalette = { count: t2.count, opaque: t2.opaque, colours: t2.colours, hash: t2.hash };
  out.tileSrcAfterPalette = t2.srcs[0];
  out.legendSrcAfterPalette = await page.getAttribute("#map-legend", "src");
  await page.locator(".map-panel").screenshot({ path: join(outDir, "map.png") });

  // 6. a subset from the form runs as a job; the page follows it until it offers the file
  step("subset");
  await page.evaluate(() => {
    window.__jobStates = [];
    const el = document.getElementById("job-status");
    new MutationObserver(() => {
      const s = el.dataset.status || el.textContent;
      if (window.__jobStates.at(-1) !== s) window.__jobStates.push(s);
    }).observe(el, { childList: true, characterData: true, subtree: true, attributes: true });
  });
  out.subsetInputs = await page.$$eval("#subset-form input, #subset-form select", (els) =>
    Object.fromEntries(els.filter((e) => e.name).map((e) => [e.name, e.value])),
  );
  await page.click("#subset-submit");
  await page.waitForSelector("#job-files a.result-file", { timeout: 120000 });
  out.jobStatus = await page.textContent("#job-status");
  out.jobState = await page.getAttribute("#job-status", "data-status");
  out.jobStates = await page.evaluate(() => window.__jobStates);
  out.jobProgress = await page.$eval("#job-progress", (p) => p.value);
  out.fileHref = await page.getAttribute("#job-files a.result-file", "href");
  out.fileName = await page.textContent("#job-files a.result-file");
  const file = await page.request.get(new URL(out.fileHref, base).href);
  const body = await file.body();
  out.fileStatus = file.status();
  out.fileType = file.headers()["content-type"];
  out.fileBytes = body.length;
  out.fileMagic = body.subarray(0, 4).toString("hex");
  out.filePath = join(outDir, "subset.nc");
  writeFileSync(out.filePath, body);
  await page.locator("#subset-form").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(outDir, "subset.png"), fullPage: true });

  // 7. the dataset's page loaded on its own (a link, a reload) asks the search for
  // that dataset only, never for the catalog
  step("reload");
  const before = out.searchRequests.length;
  await page.reload({ waitUntil: "networkidle" });
  out.reloadHeading = await page.textContent("#dataset-id");
  out.reloadRequests = out.searchRequests.slice(before);
  await settled();
  step("done");
} catch (e) {
  out.error = String(e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(out.error ? 1 : 0);
