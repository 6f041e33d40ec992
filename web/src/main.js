// The cirrus web page: datasets with facet search, searched on the server a page at a
// time (/web/datasets.json: words, filters, offset/limit, faceted counts), a dataset's
// metadata, variables, files and endpoints (/datasets/{id}), a map preview driven by
// the WMS (GetMetadata for times/palettes, XYZ tiles, GetLegendGraphic,
// GetFeatureInfo), and a subset form that runs an OGC API - Processes job
// asynchronously and shows its progress until the download links appear.

import "leaflet/dist/leaflet.css";
import "./style.css";
import L from "leaflet";
import { feature } from "topojson-client";
import land from "world-atlas/land-110m.json";

const app = document.getElementById("app");
// index: the base URL, version and facet names the server's search answers with;
// text, filters, offset, limit: the list's search, kept while a dataset is shown
const state = { index: null, text: "", filters: {}, offset: 0, limit: 50, renders: 0, map: null };

// ------------------------------------------------------------------ helpers

/** Create an element: h("div", {class: "x", onclick: f}, child, "text", ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const text = await r.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { detail: text };
  }
  if (!r.ok) throw new Error(body.detail || body.description || body.title || `${r.status} ${r.statusText}`);
  return body;
}

function size(n) {
  if (n == null) return "";
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${u[i]}`;
}

function round(v) {
  if (!isFinite(v)) return "";
  return Number(v.toPrecision(5)).toString();
}

function copyable(text, label) {
  return h(
    "div",
    { class: "copy" },
    h("code", {}, text),
    h("button", { type: "button", title: `Copy ${label || ""}`, onclick: () => navigator.clipboard?.writeText(text) }, "Copy"),
  );
}

function debounce(f, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => f(...a), ms);
  };
}

// ------------------------------------------------------------------ routing

async function route() {
  if (state.map) {
    state.map.remove();
    state.map = null;
  }
  const m = location.hash.match(/^#\/dataset\/(.+)$/);
  if (m) await showDataset(decodeURIComponent(m[1]));
  else showList();
  window.scrollTo(0, 0);
}

// ------------------------------------------------------------------ the search API

/** Keep what every answer of /web/datasets.json says besides its page: the server's
 * base URL, its version and the facet names. */
function remember(res) {
  state.index = { base: res.base, version: res.version, facets: res.facets };
}

/** The query for the current search: the words, the facet filters and the page. */
function searchParams() {
  const p = new URLSearchParams();
  const q = state.text.trim();
  if (q) p.set("q", q);
  for (const [k, v] of Object.entries(state.filters)) if (v) p.set(k, v);
  p.set("limit", state.limit);
  p.set("offset", state.offset);
  return p;
}

/** One page of the datasets matching `params`, searched on the server, with the
 * matching and catalog totals and the faceted counts. */
async function searchDatasets(params) {
  const res = await getJSON(`/web/datasets.json?${params}`);
  remember(res);
  return res;
}

// ------------------------------------------------------------------ the list

/** Datasets per page the list offers; the first page size is state.limit. */
const PAGE_SIZES = [10, 25, 50, 100, 200];

/** A dataset of the list: id, title, facets as chips, time span, files, layers. */
function datasetCard(d, facets) {
  return h(
    "a",
    { class: "dataset card", href: `#/dataset/${encodeURIComponent(d.id)}`, dataset: { id: d.id } },
    h("div", { class: "card-title" }, d.id),
    h("div", { class: "card-sub" }, d.title),
    h(
      "div",
      { class: "chips" },
      facets.filter((k) => d.facets[k]).map((k) => h("span", { class: `chip chip-${k}`, title: k }, d.facets[k])),
    ),
    h(
      "div",
      { class: "card-meta" },
      d.time ? `${d.time.start.slice(0, 10)} – ${d.time.end.slice(0, 10)} (${d.time.calendar})` : "no time axis",
      ` · ${d.files.length} file${d.files.length === 1 ? "" : "s"}, ${size(d.size)}`,
      d.layers.length ? ` · ${d.layers.length} map layer${d.layers.length === 1 ? "" : "s"}` : "",
    ),
  );
}

/** Fill facet k's select from the server's faceted counts: each value with the number
 * of datasets choosing it would leave (the words and the other filters apply), values
 * no such dataset has disabled; the chosen value stays even when no dataset has it. */
function facetOptions(sel, k, res) {
  const counts = { ...(res.values[k] || {}) };
  const chosen = state.filters[k] || "";
  if (chosen && !(chosen in counts)) counts[chosen] = 0;
  sel.replaceChildren(
    // with this facet free "any" leaves the datasets found; with a value chosen the
    // server does not count what "any" would leave
    h("option", { value: "" }, chosen ? "any" : `any (${res.total})`),
    ...Object.entries(counts).map(([v, n]) => h("option", { value: v, disabled: !n && v !== chosen }, `${v} (${n})`)),
  );
  sel.value = chosen;
  sel.classList.toggle("active", !!chosen);
}

function showList() {
  const list = h("div", { id: "dataset-list", "aria-busy": "true" });
  const count = h("p", { class: "count", id: "result-count" }, "Searching…");
  const facetBox = h("div", { class: "facets" });
  const selects = {};
  const info = h("span", { class: "page-info", id: "page-info" });
  const prev = h("button", { type: "button", id: "page-prev", disabled: true, onclick: () => turn(-1) }, "← Previous");
  const next = h("button", { type: "button", id: "page-next", disabled: true, onclick: () => turn(1) }, "Next →");
  const perPage = h(
    "select",
    {
      id: "page-size",
      onchange: (e) => {
        state.limit = Number(e.target.value);
        // the page that holds the first dataset shown
        state.offset = Math.floor(state.offset / state.limit) * state.limit;
        search();
      },
    },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.limit }, n)),
  );
  let latest = 0;

  // a select per facet, made when the first answer names the facets
  const facetSelect = (k) =>
    h(
      "label",
      { class: "facet" },
      h("span", {}, k),
      (selects[k] = h("select", {
        "data-facet": k,
        onchange: (e) => {
          state.filters[k] = e.target.value;
          state.offset = 0;
          search();
        },
      })),
    );

  const render = (res) => {
    count.textContent = `${res.total} of ${res.all} datasets`;
    for (const k of res.facets) {
      if (!selects[k]) facetBox.append(facetSelect(k));
      facetOptions(selects[k], k, res);
    }
    list.replaceChildren(...res.datasets.map((d) => datasetCard(d, res.facets)));
    if (!res.datasets.length) list.append(h("p", { class: "empty" }, "No dataset matches."));
    const last = res.offset + res.datasets.length;
    info.textContent = res.datasets.length ? `showing ${res.offset + 1}–${last} of ${res.total}` : "";
    prev.disabled = res.offset === 0;
    next.disabled = last >= res.total;
  };

  // the answers can come back out of order: only the latest search is shown
  const search = async () => {
    const mine = ++latest;
    list.setAttribute("aria-busy", "true");
    let res;
    try {
      res = await searchDatasets(searchParams());
    } catch (e) {
      if (mine !== latest) return;
      count.textContent = "";
      list.replaceChildren(h("p", { class: "error" }, `Cannot search the datasets: ${e.message}`));
      list.setAttribute("aria-busy", "false");
      return;
    }
    if (mine !== latest) return;
    // past the end (the catalog shrank): go to the last page
    if (!res.datasets.length && res.total && state.offset) {
      state.offset = Math.floor((res.total - 1) / state.limit) * state.limit;
      return search();
    }
    render(res);
    list.dataset.renders = String(++state.renders);
    list.setAttribute("aria-busy", "false");
  };
  const searchSoon = debounce(search, 250);

  const turn = async (step) => {
    state.offset = Math.max(0, state.offset + step * state.limit);
    await search();
    count.scrollIntoView({ block: "nearest" });
  };

  const input = h("input", {
    id: "search",
    type: "search",
    placeholder: "Search ids, titles, variables…",
    value: state.text,
    oninput: (e) => {
      state.text = e.target.value;
      state.offset = 0;
      searchSoon();
    },
  });
  const reset = h(
    "button",
    {
      type: "button",
      onclick: () => {
        state.filters = {};
        state.text = "";
        state.offset = 0;
        input.value = "";
        search();
      },
    },
    "Reset",
  );
  if (state.index) for (const k of state.index.facets) facetBox.append(facetSelect(k));
  app.replaceChildren(
    h("section", { class: "search" }, h("div", { class: "search-row" }, input, reset), facetBox),
    count,
    list,
    h("nav", { class: "pager", id: "pager" }, prev, info, next, h("label", { class: "per-page" }, "per page ", perPage)),
  );
  search();
}

// ------------------------------------------------------------------ a dataset

async function showDataset(id) {
  const hash = location.hash;
  app.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  let d, meta;
  try {
    // the dataset's entry of the list, searched by id: the page never loads the catalog
    d = (await searchDatasets(new URLSearchParams({ id }))).datasets[0];
    if (d) meta = await getJSON(`/datasets/${id}`);
  } catch (e) {
    if (location.hash === hash) app.replaceChildren(h("p", { class: "error" }, `Cannot load ${id}: ${e.message}`));
    return;
  }
  // another page was asked for meanwhile
  if (location.hash !== hash) return;
  if (!d) {
    app.replaceChildren(h("p", { class: "error" }, `No dataset '${id}'. `, h("a", { href: "#/" }, "All datasets")));
    return;
  }
  const base = state.index.base;
  const facetRows = Object.entries(d.facets).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)));
  if (d.time) facetRows.push(h("tr", {}, h("th", {}, "time"), h("td", {}, `${d.time.start} – ${d.time.end} (${d.time.calendar} calendar)`)));
  if (d.bbox) facetRows.push(h("tr", {}, h("th", {}, "extent"), h("td", {}, `W ${round(d.bbox[0])} S ${round(d.bbox[1])} E ${round(d.bbox[2])} N ${round(d.bbox[3])}`)));
  const attr = (v, k) => {
    const a = v.attributes?.[k];
    return Array.isArray(a) ? a.join(" ") : a ?? "";
  };
  const vars = h(
    "table",
    { class: "vars", id: "variables" },
    h("thead", {}, h("tr", {}, h("th", {}, "variable"), h("th", {}, "dimensions"), h("th", {}, "type"), h("th", {}, "units"), h("th", {}, "long name"))),
    h(
      "tbody",
      {},
      meta.variables.map((v) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, v.name)),
          h("td", {}, v.dimensions.map((dim, i) => `${dim}=${v.shape[i]}`).join(", ")),
          h("td", {}, v.type),
          h("td", {}, attr(v, "units")),
          h("td", {}, attr(v, "long_name")),
        ),
      ),
    ),
  );
  const globals = Object.entries(meta.attributes || {}).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, Array.isArray(v) ? v.join(" ") : String(v))),
  );
  const files = h("ul", { class: "files", id: "files" }, d.files.map((f) => h("li", {}, h("code", {}, f.name), ` ${size(f.size)}`)));
  const wmsCaps = `${base}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0`;
  const endpoints = h(
    "div",
    { class: "endpoints", id: "endpoints" },
    h("h3", {}, "OPeNDAP"),
    copyable(d.opendap, "OPeNDAP URL"),
    h("h3", {}, "Python (xarray)"),
    copyable(`import xarray as xr\nds = xr.open_dataset("${d.opendap}")`, "xarray snippet"),
    h("h3", {}, "Zarr"),
    copyable(d.zarr, "Zarr store URL (v2, consolidated)"),
    copyable(`import xarray as xr\nds = xr.open_zarr("${d.zarr}")`, "xarray snippet (Zarr)"),
    h("p", {}, "Next to the server (same host or fast LAN), the same store with large uncompressed chunks reads fastest:"),
    copyable(`import xarray as xr\nds = xr.open_zarr("${d.zarr_uncompressed}")`, "xarray snippet (Zarr, uncompressed chunks)"),
    h("h3", {}, "Download"),
    h("p", {}, h("a", { href: d.netcdf }, "NetCDF-4 of the whole dataset"), ` (from ${size(d.size)} of files)`),
    d.coverage.length
      ? h("p", {}, "Cloud-Optimized GeoTIFF: ", d.coverage.map((u, i) => [i ? ", " : "", h("a", { href: u }, d.layers[i]?.variable || u)]))
      : null,
    h("h3", {}, "WMS"),
    d.layers.length ? d.layers.map((l) => copyable(l.name, "WMS layer")) : h("p", {}, "no map layers"),
    h("p", {}, h("a", { href: wmsCaps, target: "_blank", rel: "noopener" }, "GetCapabilities")),
    h("h3", {}, "STAC"),
    h("p", {}, h("a", { href: d.stac, target: "_blank", rel: "noopener", id: "stac-link" }, "STAC item")),
  );
  const mapSection = d.layers.length ? h("section", { class: "panel map-panel" }, h("h2", {}, "Map preview"), mapPreview(d)) : null;
  app.replaceChildren(
    h("p", { class: "back" }, h("a", { href: "#/" }, "← all datasets")),
    h("h1", { class: "ds-id", id: "dataset-id" }, d.id),
    h("p", { class: "ds-title" }, d.title),
    h(
      "div",
      { class: "columns" },
      h(
        "div",
        { class: "col" },
        h(
          "section",
          { class: "panel" },
          h("h2", {}, "Metadata"),
          h("table", { class: "facets-table", id: "metadata" }, h("tbody", {}, facetRows)),
          globals.length
            ? h(
                "details",
                { class: "globals" },
                h("summary", {}, `Global attributes (${globals.length})`),
                h("table", { class: "facets-table", id: "global-attributes" }, h("tbody", {}, globals)),
              )
            : null,
        ),
        h("section", { class: "panel" }, h("h2", {}, `Files (${d.files.length})`), files),
        h("section", { class: "panel" }, h("h2", {}, "Endpoints"), endpoints),
      ),
      h("div", { class: "col wide" }, mapSection, h("section", { class: "panel" }, h("h2", {}, "Subset and download"), subsetForm(d, meta))),
    ),
    h("section", { class: "panel" }, h("h2", {}, "Variables"), vars),
  );
  if (mapSection) await state.mapInit?.();
}

// ------------------------------------------------------------------ the map

/** Natural Earth land outlines as lines, cut where they jump across the antimeridian
 * and without the cut edges along ±180° (drawn straight they would cross the map). */
function coastlines() {
  const lines = [];
  const geom = feature(land, land.objects.land);
  const polys = (geom.features || [geom]).flatMap((f) =>
    f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.type === "MultiPolygon" ? f.geometry.coordinates : [],
  );
  for (const ring of polys.flat()) {
    let line = [];
    for (let i = 0; i < ring.length; i++) {
      const [x, y] = ring[i];
      const prev = ring[i - 1];
      const seam = prev && Math.abs(prev[0]) > 179.99 && Math.abs(x) > 179.99;
      if (prev && (Math.abs(x - prev[0]) > 180 || seam)) {
        if (line.length > 1) lines.push(line);
        line = [];
      }
      line.push([y, x]);
    }
    if (line.length > 1) lines.push(line);
  }
  return lines;
}

function mapPreview(d) {
  const layerSel = h("select", { id: "map-layer" }, d.layers.map((l) => h("option", { value: l.name }, `${l.variable} — ${l.title}`)));
  const paletteSel = h("select", { id: "map-palette" });
  const timeSlider = h("input", { id: "map-time", type: "range", min: 0, max: 0, value: 0, step: 1 });
  const timeLabel = h("output", { id: "map-time-label" }, "");
  const levelSel = h("select", { id: "map-level" });
  const levelBox = h("label", { class: "ctl", hidden: true }, "level ", levelSel);
  const minIn = h("input", { id: "map-min", type: "number", step: "any", size: 8 });
  const maxIn = h("input", { id: "map-max", type: "number", step: "any", size: 8 });
  const autoBox = h("input", { id: "map-auto", type: "checkbox" });
  const legend = h("img", { id: "map-legend", class: "legend", alt: "legend" });
  const status = h("div", { class: "map-status", id: "map-status" });
  const mapDiv = h("div", { id: "map", class: "map" });
  let details = null;
  let tiles = null;

  const params = () => {
    const p = new URLSearchParams();
    p.set("STYLES", `raster/${paletteSel.value || "viridis"}`);
    if (details?.time?.values?.length) p.set("TIME", details.time.values[Number(timeSlider.value)]);
    if (details?.elevation && levelSel.value !== "") p.set("ELEVATION", levelSel.value);
    if (autoBox.checked) p.set("COLORSCALERANGE", "auto");
    else if (minIn.value !== "" && maxIn.value !== "") p.set("COLORSCALERANGE", `${minIn.value},${maxIn.value}`);
    return p;
  };
  const refresh = () => {
    if (!details || !state.map) return;
    const p = params();
    const url = `${details.tiles}?${p}`;
    if (tiles) tiles.setUrl(url);
    else {
      tiles = L.tileLayer(url, { tileSize: 256, maxZoom: 10, attribution: "data: cirrus WMS · land: Natural Earth" }).addTo(state.map);
      tiles.on("tileerror", () => (status.dataset.tileErrors = String(Number(status.dataset.tileErrors || 0) + 1)));
    }
    const lp = new URLSearchParams({ STYLE: p.get("STYLES") });
    if (p.get("COLORSCALERANGE") && p.get("COLORSCALERANGE") !== "auto") lp.set("COLORSCALERANGE", p.get("COLORSCALERANGE"));
    legend.src = `${details.legend}&${lp}`;
  };
  const refreshSoon = debounce(refresh, 250);

  const load = async () => {
    status.textContent = "Loading layer…";
    try {
      details = await getJSON(`/wms?SERVICE=WMS&REQUEST=GetMetadata&ITEM=layerDetails&LAYERNAME=${encodeURIComponent(layerSel.value)}`);
    } catch (e) {
      status.textContent = `Cannot load the layer: ${e.message}`;
      return;
    }
    if (!paletteSel.options.length) {
      for (const p of details.palettes) paletteSel.append(h("option", { value: p.name, title: p.title }, `${p.name} (${p.kind})`));
      paletteSel.value = details.defaultStyle.split("/")[1];
    }
    const n = details.time?.values?.length || 0;
    timeSlider.max = Math.max(0, n - 1);
    timeSlider.value = 0;
    timeSlider.disabled = n < 2;
    timeLabel.textContent = n ? details.time.values[0] : "no time axis";
    if (details.time?.sampled) timeLabel.title = `${details.time.count} steps, ${n} shown on the slider`;
    levelSel.replaceChildren(...(details.elevation?.values || []).map((v) => h("option", { value: v }, `${v} ${details.elevation.units}`)));
    levelBox.hidden = !details.elevation;
    minIn.value = round(details.scaleRange[0]);
    maxIn.value = round(details.scaleRange[1]);
    status.textContent = `${details.title}${details.units ? ` [${details.units}]` : ""}${n ? ` · ${details.time.count} time steps (${details.time.calendar})` : ""}`;
    if (d.bbox) {
      const [w, s, e, nn] = d.bbox;
      if (w < e && e - w < 350) state.map.fitBounds([[s, w], [nn, e]], { padding: [10, 10], animate: false });
      else state.map.setView([20, 0], 1, { animate: false });
    }
    refresh();
  };

  state.mapInit = async () => {
    const map = L.map(mapDiv, { worldCopyJump: true, minZoom: 0, maxZoom: 10 });
    state.map = map;
    map.setView([20, 0], 1);
    map.createPane("outline").style.zIndex = 450;
    map.getPane("outline").style.pointerEvents = "none";
    L.polyline(coastlines(), { pane: "outline", color: "#222", weight: 0.8, interactive: false }).addTo(map);
    map.on("click", async (ev) => {
      if (!details) return;
      const sz = map.getSize();
      const b = map.getBounds();
      const sw = L.CRS.EPSG3857.project(b.getSouthWest());
      const ne = L.CRS.EPSG3857.project(b.getNorthEast());
      const pt = map.latLngToContainerPoint(ev.latlng);
      const p = params();
      const q = new URLSearchParams({
        SERVICE: "WMS", VERSION: "1.3.0", REQUEST: "GetFeatureInfo", LAYERS: details.name, QUERY_LAYERS: details.name,
        CRS: "EPSG:3857", BBOX: `${sw.x},${sw.y},${ne.x},${ne.y}`, WIDTH: sz.x, HEIGHT: sz.y,
        I: Math.floor(pt.x), J: Math.floor(pt.y), INFO_FORMAT: "application/json",
      });
      for (const k of ["TIME", "ELEVATION"]) if (p.get(k)) q.set(k, p.get(k));
      try {
        const fi = await getJSON(`/wms?${q}`);
        const f = fi.features[0]?.properties;
        const v = f?.value == null ? "no data" : `${round(f.value)} ${f.units || ""}`;
        L.popup().setLatLng(ev.latlng).setContent(`<b>${v}</b><br>${f?.time || ""}<br>${ev.latlng.lat.toFixed(2)}, ${ev.latlng.lng.toFixed(2)}`).openOn(map);
      } catch (e) {
        L.popup().setLatLng(ev.latlng).setContent(e.message).openOn(map);
      }
    });
    await load();
  };

  layerSel.addEventListener("change", load);
  paletteSel.addEventListener("change", refresh);
  levelSel.addEventListener("change", refresh);
  autoBox.addEventListener("change", refresh);
  minIn.addEventListener("change", refresh);
  maxIn.addEventListener("change", refresh);
  timeSlider.addEventListener("input", () => {
    timeLabel.textContent = details?.time?.values?.[Number(timeSlider.value)] || "";
    refreshSoon();
  });

  return h(
    "div",
    { class: "map-wrap" },
    h(
      "div",
      { class: "controls" },
      h("label", { class: "ctl" }, "layer ", layerSel),
      h("label", { class: "ctl" }, "palette ", paletteSel),
      levelBox,
      h("label", { class: "ctl range" }, "range ", minIn, " – ", maxIn, h("span", { class: "auto" }, autoBox, " auto (view)")),
      h("label", { class: "ctl time" }, "time ", timeSlider, timeLabel),
    ),
    h("div", { class: "map-and-legend" }, mapDiv, legend),
    status,
  );
}

// ------------------------------------------------------------------ the subset form

function subsetForm(d, meta) {
  const dataVars = d.layers.map((l) => l.variable);
  const varSel = h("select", { name: "variables", id: "subset-variable" }, h("option", { value: "" }, "all variables"), dataVars.map((v) => h("option", { value: v, selected: v === dataVars[0] }, v)));
  const t0 = h("input", { name: "start", id: "subset-start", type: "text", placeholder: "YYYY-MM-DD", value: d.time ? d.time.start.slice(0, 10) : "", size: 12 });
  const t1 = h("input", { name: "end", id: "subset-end", type: "text", placeholder: "YYYY-MM-DD", value: d.time ? d.time.start.slice(0, 10) : "", size: 12 });
  const bb = d.bbox || [-180, -90, 180, 90];
  const area = ["W", "S", "E", "N"].map((k, i) => h("input", { name: k, id: `subset-${k}`, type: "number", step: "any", value: round(bb[i]), size: 7, title: k }));
  const level = h("input", { name: "level", id: "subset-level", type: "text", placeholder: "e.g. 85000 or 1000/2000", size: 14 });
  const hasLevel = meta.variables.some((v) => v.attributes?.axis === "Z" || v.attributes?.positive);
  const status = h("div", { id: "job-status", class: "job-status" });
  const bar = h("progress", { id: "job-progress", max: 100, value: 0, hidden: true });
  const filesOut = h("ul", { id: "job-files", class: "files" });
  const fromMap = h(
    "button",
    {
      type: "button",
      onclick: () => {
        if (!state.map) return;
        const b = state.map.getBounds();
        const v = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
        area.forEach((inp, i) => (inp.value = round(Math.max(-360, Math.min(360, v[i])))));
      },
    },
    "Use map view",
  );
  const submit = h("button", { type: "submit", id: "subset-submit", class: "primary" }, "Submit subset job");
  const form = h(
    "form",
    {
      id: "subset-form",
      class: "subset",
      onsubmit: async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        filesOut.replaceChildren();
        const inputs = { collection: d.id };
        if (varSel.value) inputs.variables = varSel.value;
        if (t0.value || t1.value) inputs.time = `${t0.value}/${t1.value}`;
        inputs.area = area.map((a) => a.value).join(",");
        if (level.value.trim()) inputs.level = level.value.trim();
        status.textContent = "Submitting…";
        try {
          const job = await getJSON("/processes/subset/execution", {
            method: "POST",
            headers: { "Content-Type": "application/json", Prefer: "respond-async" },
            body: JSON.stringify({ inputs }),
          });
          await follow(job.jobID);
        } catch (e) {
          status.textContent = `Failed: ${e.message}`;
          status.className = "job-status failed";
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", {}, "variable ", varSel),
    h("label", {}, "time from ", t0, " to ", t1),
    h("div", { class: "area" }, "area ", area, fromMap),
    hasLevel ? h("label", {}, "level ", level) : null,
    h("div", { class: "submit-row" }, submit, bar),
    status,
    filesOut,
  );

  async function follow(id) {
    status.className = "job-status";
    bar.hidden = false;
    for (;;) {
      const j = await getJSON(`/jobs/${id}`);
      bar.value = j.progress ?? 0;
      status.textContent = `Job ${id}: ${j.status}${j.progress != null ? ` (${j.progress}%)` : ""}${j.message ? ` — ${j.message}` : ""}`;
      status.dataset.status = j.status;
      if (j.status === "successful") {
        const res = await getJSON(`/jobs/${id}/results`);
        bar.value = 100;
        filesOut.replaceChildren(
          ...res.files.map((f) => h("li", {}, h("a", { href: f.href, download: f.title, class: "result-file" }, f.title), ` ${size(f["file:size"])}`)),
          h("li", {}, h("a", { href: res.prov.href, target: "_blank", rel: "noopener" }, "provenance")),
        );
        status.className = "job-status done";
        return;
      }
      if (j.status === "failed" || j.status === "dismissed") {
        status.className = "job-status failed";
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return form;
}

// ------------------------------------------------------------------ start

// last, once every constant above is set
window.addEventListener("hashchange", route);
route();
