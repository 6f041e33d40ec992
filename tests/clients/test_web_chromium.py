"""The web page at `/`, driven in headless Chromium (Debian's /usr/bin/chromium through
playwright-core from web/node_modules; no browser download) by web/e2e/preview.mjs,
which prints what it saw as JSON and takes screenshots.

For a CMIP6 dataset (MIROC6 tas, global) and a CORDEX EUR-22 one (rotated pole), and
for the synthetic 2-year daily CMIP6 sample (to move the time slider):
- the page loads as HTML with no console errors, no failed or 4xx/5xx requests and no
  request leaving the server (Leaflet is bundled: no CDN);
- every dataset is listed, facet search narrows the list (the counts equal those
  computed here from the facets), free-text search finds the dataset;
- the dataset view shows its metadata, variables, files and endpoints: the OPeNDAP URL
  (its .dds answers), an `xarray.open_dataset(...)` snippet (run here), the WMS layer
  (GetMetadata knows it), the STAC item (a Feature with the dataset's id); every
  link answers;
- the map has loaded WMS tiles whose pixels are not all transparent (read back in the
  browser through a canvas, and fetched again here and decoded with Pillow); the time
  slider and the palette change the tiles;
- a subset submitted from the form runs as a job, the page follows it to `successful`
  and offers its file, which is NetCDF (magic bytes) and opens with netCDF4.
The screenshots are written to the pytest temp dir (the path is printed; with `-s` or
on failure it is shown). `/` itself is content-negotiated: HTML for browsers, JSON
for `Accept: application/json`.

A missing prerequisite (node, chromium, web/node_modules) fails the tests.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
PREVIEW = WEB / "e2e" / "preview.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
SCREENSHOTS = ["list.png", "facets.png", "search.png", "dataset.png", "map.png", "subset.png"]

# label -> the parts of the dataset id; "time" runs move the time slider
CASES = {
    "cmip6": ("CMIP6.ScenarioMIP.MIROC.MIROC6.", ".day.tas."),
    "cordex-eur22": ("cordex.output.EUR-22.", ".mon.tas."),
    "cmip6-time": ("CMIP6.ScenarioMIP.CIRRUS.CIRRUS-SYN-1.", ".day.tas."),
}


# --------------------------------------------------------------------------- prerequisites


def node_bin() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Debian's nodejs (scripts/deps.sh TEST_PACKAGES)", pytrace=False)
    return node


def check_prerequisites() -> str:
    node = node_bin()
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"chromium not found at {CHROMIUM}: install Debian's chromium (or set $CHROMIUM)",
                    pytrace=False)
    for pkg in ("playwright-core", "leaflet", "vite"):
        if not (WEB / "node_modules" / pkg / "package.json").is_file():
            pytest.fail(f"web/node_modules/{pkg} is missing: run `npm ci` in web/ "
                        "(scripts/test does it: need_web in scripts/deps.sh)", pytrace=False)
    return node


def colours(im: Image.Image) -> int:
    """How many distinct colours a picture has (up to 1000)."""
    found = im.convert("RGB").getcolors(maxcolors=1000)
    return 1000 if found is None else len(found)


def find_id(server, *parts) -> str:
    hits = [d["id"] for d in server.datasets() if all(p in d["id"] for p in parts)]
    assert len(hits) == 1, f"datasets matching {parts}: {hits}"
    return hits[0]


# --------------------------------------------------------------------------- the runs


_RUNS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def web_index(server) -> dict:
    r = server.get("/web/datasets.json")
    assert r.status_code == 200, r.text[:300]
    return r.json()


@pytest.fixture(params=list(CASES), scope="module")
def run(request, server, tmp_path_factory) -> dict:
    """Run preview.mjs once per case; the tests below check parts of what it saw."""
    label = request.param
    if label not in _RUNS:
        node = check_prerequisites()
        dsid = find_id(server, *CASES[label])
        out = tmp_path_factory.mktemp(f"web-{label}")
        proc = subprocess.run([node, str(PREVIEW), server.url, str(out), dsid], cwd=WEB,
                              capture_output=True, text=True, timeout=180)
        lines = proc.stdout.strip().splitlines()
        try:
            seen = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            pytest.fail(f"preview.mjs printed no JSON (exit {proc.returncode})\nstdout: {proc.stdout[-2000:]}"
                        f"\nstderr: {proc.stderr[-3000:]}", pytrace=False)
        seen.update(label=label, id=dsid, out=out, returncode=proc.returncode, stderr=proc.stderr)
        print(f"\nscreenshots of {label} ({dsid}): {out}")
        _RUNS[label] = seen
    seen = _RUNS[label]
    assert seen["returncode"] == 0 and "error" not in seen, (
        f"preview.mjs failed at step {seen['steps'][-1]!r} (screenshots in {seen['out']}):\n"
        f"{seen.get('error')}\n{seen['stderr'][-2000:]}\nconsole errors: {seen['consoleErrors']}\n"
        f"bad responses: {seen['badResponses']}"
    )
    return seen


# --------------------------------------------------------------------------- the page


def test_page_loads(run, server):
    assert run["rootContentType"].startswith("text/html"), run["rootContentType"]
    assert "cirrus" in run["title"]
    assert run["consoleErrors"] == [], run["consoleErrors"]
    assert run["failedRequests"] == [], run["failedRequests"]
    assert run["badResponses"] == [], run["badResponses"]
    assert run["externalRequests"] == [], f"requests that left the server (CDN?): {run['externalRequests']}"
    for name in SCREENSHOTS:
        p = run["out"] / name
        assert p.is_file() and p.stat().st_size > 5000, f"screenshot {p} missing or empty"
        with Image.open(p) as im:
            assert im.width >= 800 and im.height >= 400, (p, im.size)
            assert colours(im) > 50, f"{p} is (almost) a single colour"


def test_datasets_listed(run, server, web_index):
    ids = {d["id"] for d in server.datasets()}
    assert {d["id"] for d in web_index["datasets"]} == ids
    assert run["listCount"] == len(ids) == run["indexCount"]
    assert set(run["listIds"]) == ids
    assert run["resultCount"] == f"{len(ids)} of {len(ids)} datasets"


def test_facet_search_narrows(run, web_index):
    target = next(d for d in web_index["datasets"] if d["id"] == run["id"])
    steps = run["facetSteps"]
    assert len(steps) >= 2, steps
    assert steps[0]["facet"] == "project"
    if run["label"].startswith("cordex"):
        assert [s["facet"] for s in steps[:2]] == ["project", "domain"]
        assert steps[1]["value"] == "EUR-22"
    filters = {}
    previous = run["listCount"]
    for s in steps:
        filters[s["facet"]] = s["value"]
        assert s["value"] == target["facets"][s["facet"]]
        expected = [d["id"] for d in web_index["datasets"]
                    if all(d["facets"].get(k) == v for k, v in filters.items())]
        assert s["count"] == len(expected), (s, expected)
        assert s["hasTarget"] and s["allMatch"], s
        assert s["count"] <= previous, steps
        previous = s["count"]
    assert steps[0]["count"] < run["listCount"], "the project facet did not narrow the list"
    assert steps[-1]["count"] < steps[0]["count"] or steps[-1]["count"] == 1, steps
    assert run["countAfterReset"] == run["listCount"]
    assert run["textHasTarget"] and 1 <= run["textCount"] < run["listCount"], (run["textQuery"], run["textCount"])


def test_dataset_details(run, server):
    meta = server.dataset(run["id"])
    assert run["datasetHeading"] == run["id"]
    assert run["hash"] == f"#/dataset/{run['id']}"
    assert run["variables"] == [v["name"] for v in meta["variables"]]
    entry = next(d for d in server.datasets() if d["id"] == run["id"])
    assert run["files"] == entry["files"]
    shown = run["metadata"]
    assert shown["project"] in ("CMIP6", "cordex"), shown
    assert "time" in shown and "extent" in shown, shown
    assert run["globalAttributes"] == len(meta["attributes"])


def test_endpoints(run, server, web_index):
    dsid = run["id"]
    codes = run["endpoints"]["codes"]
    opendap = f"{server.url}/opendap/{dsid}"
    assert opendap in codes, codes
    r = server.get(f"/opendap/{dsid}.dds")
    assert r.status_code == 200 and "Dataset" in r.text, r.text[:300]
    # the xarray snippet, run as shown
    snippet = next(c for c in codes if "xarray" in c)
    assert f'xr.open_dataset("{opendap}")' in snippet, snippet
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102 - the page's own snippet against the test server
    with scope["ds"] as ds:
        var = run["subsetInputs"]["variables"]
        assert var in ds.data_vars, list(ds.data_vars)
    # the WMS layer
    layer = next(c for c in codes if c.startswith(dsid + "/"))
    r = server.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetMetadata", "ITEM": "layerDetails",
                                   "LAYERNAME": layer})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["name"] == layer
    # the STAC item
    r = requests.get(run["endpoints"]["stac"], timeout=60)
    assert r.status_code == 200, r.text[:300]
    item = r.json()
    assert item["type"] == "Feature" and item["id"] == dsid
    # every link answers (the whole-dataset NetCDF and GeoTIFF of small datasets: the
    # 10 MB synthetic one would take seconds)
    entry = next(d for d in web_index["datasets"] if d["id"] == dsid)
    links = run["endpoints"]["links"]
    assert any(h.endswith(f"/opendap/{dsid}.nc") for h in links) and any("/coverage/" in h for h in links), links
    for href in links if entry["size"] < 5e6 else [h for h in links if "/stac/" in h or "/wms?" in h]:
        with requests.get(href, timeout=120, stream=True) as r:
            assert r.status_code == 200, f"{href} -> {r.status_code}"


def test_map_tiles(run, server):
    t = run["tiles"]
    assert t["count"] >= 1, t
    assert t["opaque"] > 0, f"every tile is fully transparent: {t}"
    assert t["colours"] > 16, f"the tiles are flat: {t}"
    layer = next(c for c in run["endpoints"]["codes"] if c.startswith(run["id"] + "/"))
    assert all(f"/tiles/{layer}/" in s for s in run["tileSrcs"]), run["tileSrcs"][:2]
    # the same tiles, fetched and decoded here
    opaque = 0
    for src in sorted(set(run["tileSrcs"])):
        r = requests.get(src, timeout=60)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", (src, r.status_code)
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
        px = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
        assert px.shape == (256, 256, 4)
        opaque += int((px[..., 3] > 0).sum())
    assert opaque > 0, "the tiles fetched again are fully transparent"
    # the legend, the palette
    assert "REQUEST=GetLegendGraphic" in run["legendSrc"]
    assert len(run["palettes"]) >= 5 and run["palette"] in run["palettes"]
    chosen = run["paletteChosen"]
    assert chosen != run["palette"]
    assert f"STYLES=raster%2F{chosen}" in run["tileSrcAfterPalette"]
    assert f"STYLE=raster%2F{chosen}" in run["legendSrcAfterPalette"]
    after = run["tilesAfterPalette"]
    assert after["opaque"] > 0 and after["hash"] != t["hash"], "the palette did not change the tiles"
    with Image.open(run["out"] / "map.png") as im:
        assert colours(im) > 100, "map.png shows no picture"


def test_time_slider(run, server):
    layer = next(c for c in run["endpoints"]["codes"] if c.startswith(run["id"] + "/"))
    details = server.json(f"/wms?SERVICE=WMS&REQUEST=GetMetadata&ITEM=layerDetails&LAYERNAME={layer}")
    values = (details.get("time") or {}).get("values") or []
    assert run["timeSteps"] == max(1, len(values))
    assert run["timeLabelFirst"] == (values[0] if values else "no time axis")
    if run["label"].endswith("-time"):
        assert run["timeSteps"] > 100, run["timeSteps"]
    if run["timeSteps"] > 1:
        assert run["timeLabel"] == values[-1]
        assert "TIME=" + requests.utils.quote(values[-1], safe="") in run["tileSrcAfterTime"]
        after = run["tilesAfterTime"]
        assert after["opaque"] > 0 and after["hash"] != run["tiles"]["hash"], "the time slider did not change the tiles"
        assert (run["out"] / "map-time.png").is_file()


def test_subset_job(run, server):
    assert run["jobState"] == "successful", run["jobStatus"]
    assert run["jobStates"][-1] == "successful", run["jobStates"]
    assert run["jobProgress"] == 100
    assert run["fileStatus"] == 200, run["fileStatus"]
    assert run["fileName"].endswith(".nc"), run["fileName"]
    assert run["fileMagic"] in ("89484446", "43444601", "43444602", "43444605"), run["fileMagic"]  # HDF5 or CDF
    path = Path(run["filePath"])
    assert path.stat().st_size == run["fileBytes"] > 0
    var = run["subsetInputs"]["variables"]
    with netCDF4.Dataset(path) as nc:
        assert var in nc.variables, list(nc.variables)
        v = nc.variables[var]
        assert "time" in v.dimensions and nc.dimensions["time"].size == 1, v.dimensions
        data = np.ma.masked_invalid(v[:])
        assert data.count() > 0, "the subset holds no values"


# --------------------------------------------------------------------------- negotiation, bundle


def test_root_negotiation(server):
    r = server.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    assert "Accept" in r.headers.get("vary", "")
    html = r.text
    assert '<main id="app">' in html and "/web/app.js" in html and "/web/app.css" in html
    for bad in ('src="http', "src='http", 'href="http', "href='http", "//unpkg", "cdn."):
        assert bad not in html, f"the page loads something from elsewhere: {bad}"

    r = server.get("/", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    doc = r.json()
    rels = {(link["rel"], link.get("type")) for link in doc["links"]}
    assert ("alternate", "text/html") in rels, rels
    assert server.get("/").headers["content-type"].startswith("application/json")
    assert server.get("/?f=html").headers["content-type"].startswith("text/html")


def test_bundle_served_is_web_dist(server):
    """The server embeds web/dist (include_str!) and serves it at /web/: the bytes served
    are those of the files (a stale binary fails here)."""
    for name, mime in (("app.js", "text/javascript"), ("app.css", "text/css"), ("index.html", "text/html")):
        r = server.get(f"/web/{name}")
        assert r.status_code == 200, (name, r.status_code)
        assert r.headers["content-type"].startswith(mime), (name, r.headers["content-type"])
        assert r.content == (WEB / "dist" / name).read_bytes(), f"/web/{name} is not web/dist/{name}"
    assert b"leaflet" in (WEB / "dist" / "app.js").read_bytes().lower()


def test_dist_is_built_from_src(tmp_path):
    """web/dist is what `npm run build` makes of web/src (rebuild and commit it)."""
    node = check_prerequisites()
    out = tmp_path / "dist"
    proc = subprocess.run([node, "node_modules/vite/bin/vite.js", "build", "--outDir", str(out), "--emptyOutDir",
                           "--logLevel", "error"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("app.js", "app.css", "index.html"):
        assert (out / name).read_bytes() == (WEB / "dist" / name).read_bytes(), (
            f"web/dist/{name} is stale: run `npm run build` in web/"
        )
