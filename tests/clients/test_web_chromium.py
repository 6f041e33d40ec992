"""The web page at `/`, driven in headless Chromium (Debian's /usr/bin/chromium through
playwright-core from web/node_modules; no browser download) by web/e2e/preview.mjs,
which prints what it saw as JSON and takes screenshots.

For a CMIP6 dataset (MIROC6 tas, global) and a CORDEX EUR-22 one (rotated pole), and
for the synthetic 2-year daily CMIP6 sample (to move the time slider):
- the page loads as HTML with no console errors, no failed or 4xx/5xx requests and no
  request leaving the server (Leaflet is bundled: no CDN);
- the page searches on the server, one page of `/web/datasets.json` at a time: the
  first page of every dataset is listed; a facet value chosen is a request with that
  filter, and the page shows the server's `total` and faceted counts (equal to those
  computed here from every dataset's facets); free-text search (`q`) finds the dataset;
  Previous/Next page through the list with `offset`/`limit`; a dataset's page, loaded
  on its own, asks for that dataset only (`id`);
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
for `Accept: application/json`. `/web/datasets.json` itself (paging, filters, `q`,
`id`, faceted counts, errors) is checked over plain HTTP.

A missing prerequisite (node, chromium, web/node_modules) fails the tests.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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
SCREENSHOTS = ["list.png", "facets.png", "search.png", "paging.png", "dataset.png", "map.png", "subset.png"]

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


def web_search(server, **params) -> dict:
    """One page of `/web/datasets.json` (the page's server-side search)."""
    r = server.get("/web/datasets.json", params=params)
    assert r.status_code == 200, (params, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    return r.json()


@pytest.fixture(scope="module")
def web_index(server) -> dict:
    """Every dataset of `/web/datasets.json`, read page by page (500 at most a page) in
    the server's order, with the facet names and the catalog size."""
    first = web_search(server, limit=500)
    datasets = list(first["datasets"])
    while len(datasets) < first["total"]:
        page = web_search(server, limit=500, offset=len(datasets))
        assert page["datasets"], f"no datasets at offset {len(datasets)} of {first['total']}"
        datasets += page["datasets"]
    assert first["total"] == first["all"] == len(datasets), (first["total"], first["all"], len(datasets))
    return {**first, "datasets": datasets}


def has_words(d: dict, words) -> bool:
    """True when every word is in the dataset's id, title, facet values or layer titles
    (case-insensitive): what `q` searches."""
    hay = " ".join([d["id"], d["title"], *d["facets"].values(), *(la["title"] for la in d["layers"])]).lower()
    return all(w.lower() in hay for w in words)


def facet_counts(datasets, facets, filters, words=()) -> dict:
    """The faceted counts the search must answer: per facet, every value some dataset
    has, counting the datasets that have the words and pass every filter but the
    facet's own."""
    out = {}
    for k in facets:
        counts = {d["facets"][k]: 0 for d in datasets if k in d["facets"]}
        for d in datasets:
            if k in d["facets"] and has_words(d, words) and all(
                    d["facets"].get(f) == v for f, v in filters.items() if f != k):
                counts[d["facets"][k]] += 1
        out[k] = counts
    return out


def query_of(url: str) -> dict:
    """The parameters of a request URL (one value each)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


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
    ids = [d["id"] for d in web_index["datasets"]]
    assert set(ids) == {d["id"] for d in server.datasets()}
    n, size = len(ids), run["pageSize"]
    assert run["indexCount"] == n
    # the first page, in the server's order
    assert query_of(run["listRequest"]) == {"limit": str(size), "offset": "0"}, run["listRequest"]
    assert run["listIds"] == ids[:size]
    assert run["listCount"] == min(n, size)
    assert run["resultCount"] == f"{n} of {n} datasets"
    assert run["pageInfo"] == f"showing 1–{min(n, size)} of {n}"


def test_facet_search_narrows(run, web_index):
    target = next(d for d in web_index["datasets"] if d["id"] == run["id"])
    steps = run["facetSteps"]
    assert len(steps) >= 2, steps
    assert steps[0]["facet"] == "project"
    if run["label"].startswith("cordex"):
        assert [s["facet"] for s in steps[:2]] == ["project", "domain"]
        assert steps[1]["value"] == "EUR-22"
    n = len(web_index["datasets"])
    filters = {}
    previous = run["listCount"]
    for s in steps:
        filters[s["facet"]] = s["value"]
        assert s["value"] == target["facets"][s["facet"]]
        expected = [d["id"] for d in web_index["datasets"]
                    if all(d["facets"].get(k) == v for k, v in filters.items())]
        assert s["count"] == len(expected), (s, expected)
        assert s["resultCount"] == f"{len(expected)} of {n} datasets", s["resultCount"]
        assert s["hasTarget"] and s["allMatch"], s
        assert s["count"] <= previous, steps
        previous = s["count"]
    assert steps[0]["count"] < run["listCount"], "the project facet did not narrow the list"
    assert steps[-1]["count"] < steps[0]["count"] or steps[-1]["count"] == 1, steps
    assert run["countAfterReset"] == run["listCount"]
    assert run["resultCountAfterReset"] == f"{n} of {n} datasets"
    assert run["textHasTarget"] and 1 <= run["textCount"] < run["listCount"], (run["textQuery"], run["textCount"])


def test_search_on_server(run, server, web_index):
    """Every facet chosen on the page is a search on the server, with every filter chosen
    so far: the page shows the server's total and its faceted counts (values no dataset
    would keep disabled); the words typed are `q`; a dataset's page asks for its `id`."""
    facets = web_index["facets"]
    n = len(web_index["datasets"])
    assert run["listOptions"] == {
        k: {v: {"label": f"{v} ({c})", "disabled": c == 0} for v, c in counts.items()}
        for k, counts in facet_counts(web_index["datasets"], facets, {}).items()
    }
    filters = {}
    for s in run["facetSteps"]:
        filters[s["facet"]] = s["value"]
        sent = query_of(s["request"])
        assert sent == {**filters, "limit": str(run["pageSize"]), "offset": "0"}, s["request"]
        answer = web_search(server, **filters, limit=1)
        assert s["resultCount"] == f"{answer['total']} of {n} datasets", (s["resultCount"], answer["total"])
        expected = facet_counts(web_index["datasets"], facets, filters)
        assert answer["values"] == expected, (filters, answer["values"], expected)
        shown = {k: {v: {"label": f"{v} ({c})", "disabled": c == 0 and filters.get(k) != v} for v, c in counts.items()}
                 for k, counts in expected.items()}
        assert s["options"] == shown, (filters, s["options"], shown)
        assert s["anyLabel"] == "any", s["anyLabel"]
    assert query_of(run["textRequest"]) == {"q": run["textQuery"], "limit": str(run["pageSize"]), "offset": "0"}
    answer = web_search(server, q=run["textQuery"])
    assert run["textResultCount"] == f"{answer['total']} of {n} datasets"
    assert run["textCount"] == len(answer["datasets"])
    # the dataset's page, opened from the list and loaded on its own: that dataset only
    assert query_of(run["datasetRequest"]) == {"id": run["id"]}, run["datasetRequest"]
    assert run["reloadHeading"] == run["id"]
    assert [query_of(u) for u in run["reloadRequests"]] == [{"id": run["id"]}], run["reloadRequests"]
    # the page never asks for more than a page
    for url in run["searchRequests"]:
        q = query_of(url)
        assert "id" in q or 1 <= int(q["limit"]) <= 500, url


def test_paging(run, web_index):
    """Previous/Next page through the list with offset/limit, in the server's order."""
    ids = [d["id"] for d in web_index["datasets"]]
    size = run["pagingSize"]
    assert size in run["pageSizes"] and run["pageSize"] in run["pageSizes"], run["pageSizes"]
    assert len(ids) > size, f"{len(ids)} datasets: too few to page by {size}"
    first, second, back = run["paging"]
    assert query_of(first["request"]) == {"limit": str(size), "offset": "0"}, first["request"]
    assert first["ids"] == ids[:size]
    assert first["info"] == f"showing 1–{size} of {len(ids)}"
    assert first["prevDisabled"] and not first["nextDisabled"], first
    assert query_of(second["request"]) == {"limit": str(size), "offset": str(size)}, second["request"]
    assert second["ids"] == ids[size:2 * size]
    last = min(2 * size, len(ids))
    assert second["info"] == f"showing {size + 1}–{last} of {len(ids)}"
    assert not second["prevDisabled"] and second["nextDisabled"] == (last == len(ids)), second
    assert second["resultCount"] == first["resultCount"] == f"{len(ids)} of {len(ids)} datasets"
    assert query_of(back["request"]) == {"limit": str(size), "offset": "0"} and back["ids"] == first["ids"]


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
    # the Zarr snippet, run as shown: the same variable
    zsnippet = next(c for c in codes if "open_zarr" in c)
    assert f'xr.open_zarr("{server.url}/zarr/{dsid}")' in zsnippet, zsnippet
    usnippet = next(c for c in codes if "zarr-uncompressed" in c)
    assert f'xr.open_zarr("{server.url}/zarr-uncompressed/{dsid}")' in usnippet, usnippet
    for code in (zsnippet, usnippet):
        zscope: dict = {}
        exec(code, zscope)  # noqa: S102
        assert var in zscope["ds"].data_vars, list(zscope["ds"].data_vars)
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


# --------------------------------------------------------------------------- the search API


def test_search_api(server, web_index):
    """`/web/datasets.json` over plain HTTP: paging, a facet filter, `q`, `id`, faceted
    counts (0 for the values the filters leave out), 400 for an unknown parameter."""
    every = web_index["datasets"]
    ids = [d["id"] for d in every]
    n = len(ids)
    facets = web_index["facets"]
    assert facets == ["project", "experiment", "model", "variable", "frequency", "domain"], facets
    assert n >= 3, ids

    # paging: the default page, one dataset a page, the last one, past the end
    page = web_search(server)
    assert (page["offset"], page["limit"], page["total"], page["all"]) == (0, 50, n, n)
    assert [d["id"] for d in page["datasets"]] == ids[:50]
    assert page["values"] == facet_counts(every, facets, {})
    assert page["base"] == server.url and page["version"], (page["base"], page["version"])
    for offset in (0, 1, n - 1):
        page = web_search(server, limit=1, offset=offset)
        assert (page["total"], page["all"], page["limit"], page["offset"]) == (n, n, 1, offset)
        assert [d["id"] for d in page["datasets"]] == [ids[offset]]
    page = web_search(server, limit=2, offset=n)
    assert page["datasets"] == [] and page["total"] == n
    assert web_search(server, limit=100000)["limit"] == 500

    # a dataset's entry has what the page shows
    d = next(d for d in every if d["layers"])
    assert set(d) >= {"id", "title", "facets", "layers", "time", "bbox", "files", "size", "stac", "opendap",
                      "netcdf", "coverage"}, sorted(d)
    assert d["opendap"] == f"{server.url}/opendap/{d['id']}" and d["files"] and d["size"] > 0
    assert set(d["layers"][0]) == {"name", "variable", "title"}

    # a facet filter: exactly the datasets with that value, counts of the facet itself
    # over every dataset, 0 for what the filter leaves out in the other facets
    cordex = [d["id"] for d in every if d["facets"].get("project") == "cordex"]
    assert 1 <= len(cordex) < n, cordex
    page = web_search(server, project="cordex")
    assert [d["id"] for d in page["datasets"]] == cordex
    assert (page["total"], page["all"]) == (len(cordex), n)
    assert page["values"] == facet_counts(every, facets, {"project": "cordex"})
    assert page["values"]["project"]["CMIP6"] > 0, page["values"]["project"]
    assert page["values"]["experiment"]["ssp245"] == 0, page["values"]["experiment"]
    page = web_search(server, project="cordex", domain="EUR-22")
    assert [d["facets"]["domain"] for d in page["datasets"]] == ["EUR-22"] * page["total"] and page["total"] >= 1
    assert page["values"] == facet_counts(every, facets, {"project": "cordex", "domain": "EUR-22"})
    assert page["values"]["project"]["CMIP6"] == 0 and page["values"]["domain"]["EUR-11"] >= 1, page["values"]
    assert web_search(server, project="no-such-project")["total"] == 0
    assert web_search(server, project="")["total"] == n  # an empty filter is no filter

    # q: every word, case-insensitive, in the id, title, facet values or layer titles
    page = web_search(server, q="MIROC6  TAS")
    miroc = [d["id"] for d in every if has_words(d, ["miroc6", "tas"])]
    assert len(miroc) == 1 and "MIROC6" in miroc[0], miroc
    assert [d["id"] for d in page["datasets"]] == miroc and page["total"] == 1, page["total"]
    assert page["values"] == facet_counts(every, facets, {}, ["miroc6", "tas"])
    assert page["values"]["project"]["cordex"] == 0
    # two words of a title ("Surface Downwelling Longwave Radiation")
    page = web_search(server, q="longwave radiation")
    longwave = [d["id"] for d in every if has_words(d, ["longwave", "radiation"])]
    assert longwave and [d["id"] for d in page["datasets"]] == longwave
    page = web_search(server, q="tas", project="cordex", limit=1)
    both = [d["id"] for d in every if d["facets"].get("project") == "cordex" and has_words(d, ["tas"])]
    assert 1 <= page["total"] == len(both) < len(cordex) and [d["id"] for d in page["datasets"]] == both[:1]
    assert page["values"] == facet_counts(every, facets, {"project": "cordex"}, ["tas"])
    assert web_search(server, q="no-such-word-anywhere")["total"] == 0

    # id: that dataset only (ids may hold '/')
    for dsid in (cordex[0], next((i for i in ids if "/" in i), ids[-1])):
        page = web_search(server, id=dsid)
        assert page["total"] == 1 and [d["id"] for d in page["datasets"]] == [dsid], page["total"]
        assert page["datasets"][0] == next(d for d in every if d["id"] == dsid)
        assert page["all"] == n
    assert web_search(server, id="no-such-dataset")["datasets"] == []

    # errors: unknown parameters, bad numbers
    for params in ({"foo": "1"}, {"limit": "x"}, {"offset": "-1"}, {"institution": "MIROC"}):
        r = server.get("/web/datasets.json", params=params)
        assert r.status_code == 400, (params, r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
        problem = r.json()
        assert problem["status"] == 400 and problem["detail"], problem
    assert "foo" in server.get("/web/datasets.json", params={"foo": "1"}).json()["detail"]


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
