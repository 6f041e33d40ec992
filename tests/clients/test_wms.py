"""WMS 1.3.0 / 1.1.1 and XYZ tiles, checked with real clients and independent maths.

- OWSLib's WebMapService parses the capabilities (both versions); GDAL's WMS driver
  lists the layers (`gdalinfo WMS:...`) and `gdal_translate` writes a layer to GeoTIFF.
- GetFeatureInfo values equal the local files at the cell nearest to the point
  (nearest computed here: 1-D axes, rotated coordinates with pyproj, great circles
  on curvilinear grids).
- GetMap pictures of the CORDEX EUR-22 and EUR-11 files in EPSG:4326 and EPSG:3857
  show data exactly where the rotated grid lies (pixel centres transformed with
  pyproj into the rotated pole CRS of the file), within the 2-D lat/lon bounding
  box; the PNGs are saved ($CIRRUS_WMS_PICTURES, else the session's temp dir).
- A 150-year daily dataset lists its time axis as one `start/end/P1D`; 360_day dates
  are listed and accepted in their calendar.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import cftime
import netCDF4
import numpy as np
import pytest
import requests
from PIL import Image
from pyproj import CRS, Transformer

from conftest import session_tmp
from conftest import testdata_bin as find_testdata_bin

WMS = "{http://www.opengis.net/wms}"
OGC = "{http://www.opengis.net/ogc}"
XLINK = "{http://www.w3.org/1999/xlink}"
R = 6378137.0
CRS_LIST = ["CRS:84", "EPSG:4326", "EPSG:3857", "EPSG:3035", "EPSG:3413", "EPSG:3031"]
PALETTES = ["viridis", "plasma", "inferno", "magma", "cividis", "turbo", "rainbow", "jet", "greys", "rdbu", "brbg",
            "coolwarm"]


# --------------------------------------------------------------------------- helpers

def pictures() -> Path:
    p = Path(os.environ.get("CIRRUS_WMS_PICTURES") or session_tmp() / "wms-pictures")
    p.mkdir(parents=True, exist_ok=True)
    return p


def find_id(server, *parts) -> str:
    hits = [d["id"] for d in server.datasets() if all(p in d["id"] for p in parts)]
    assert len(hits) == 1, f"datasets matching {parts}: {hits}"
    return hits[0]


def wms(server, **params) -> requests.Response:
    q = {"SERVICE": "WMS", **params}
    return server.get("/wms", params=q)


def image(r: requests.Response) -> np.ndarray:
    assert r.status_code == 200, f"{r.status_code}: {r.text[:500]}"
    assert r.headers["content-type"].startswith("image/"), r.headers["content-type"]
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))


def exception(r: requests.Response) -> tuple[str | None, str]:
    root = ET.fromstring(r.content)
    assert root.tag.endswith("ServiceExceptionReport"), r.text[:300]
    ex = next(iter(root))
    return ex.get("code"), (ex.text or "").strip()


def getmap(server, layer, crs, bbox, width, height, version="1.3.0", **extra):
    params = {"VERSION": version, "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
              ("CRS" if version == "1.3.0" else "SRS"): crs, "BBOX": ",".join(map(str, bbox)),
              "WIDTH": width, "HEIGHT": height, "FORMAT": "image/png", "TRANSPARENT": "TRUE", **extra}
    return wms(server, **params)


def pixel_centres_lonlat(crs, bbox_en, width, height):
    """lon/lat of the pixel centres of a map (bbox in east/north order)."""
    x0, y0, x1, y1 = bbox_en
    xs = x0 + (np.arange(width) + 0.5) / width * (x1 - x0)
    ys = y1 - (np.arange(height) + 0.5) / height * (y1 - y0)
    X, Y = np.meshgrid(xs, ys)
    if crs in ("CRS:84", "EPSG:4326"):
        return X, Y
    t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return t.transform(X, Y)


def rotated_mask(nc, var, lon, lat):
    """True where (lon, lat) lies inside the rotated grid of a CORDEX file (an open
    netCDF4 dataset; cells extend half a step beyond the first and last centres)."""
    gm = nc.variables[nc.variables[var].getncattr("grid_mapping")]
    rot = CRS.from_cf({k: gm.getncattr(k) for k in gm.ncattrs()})
    rlon, rlat = Transformer.from_crs("EPSG:4326", rot, always_xy=True).transform(lon, lat)
    ax = np.asarray(nc.variables["rlon"][:], dtype="f8")
    ay = np.asarray(nc.variables["rlat"][:], dtype="f8")
    dx, dy = abs(ax[1] - ax[0]), abs(ay[1] - ay[0])
    return ((rlon >= ax.min() - dx / 2) & (rlon <= ax.max() + dx / 2)
            & (rlat >= ay.min() - dy / 2) & (rlat <= ay.max() + dy / 2))


def wrap(lon):
    return (np.asarray(lon, dtype="f8") + 180.0) % 360.0 - 180.0


def corner_box(nc, var):
    """lon/lat box of the outer edges of a rotated grid's cells (half a step beyond
    the first and last centres), longitudes in -180..180."""
    gm = nc.variables[nc.variables[var].getncattr("grid_mapping")]
    rot = CRS.from_cf({k: gm.getncattr(k) for k in gm.ncattrs()})
    ax = np.asarray(nc.variables["rlon"][:], dtype="f8")
    ay = np.asarray(nc.variables["rlat"][:], dtype="f8")
    dx, dy = abs(ax[1] - ax[0]), abs(ay[1] - ay[0])
    x0, x1, y0, y1 = ax.min() - dx / 2, ax.max() + dx / 2, ay.min() - dy / 2, ay.max() + dy / 2
    t = np.linspace(0, 1, 400)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    lon, lat = Transformer.from_crs(rot, "EPSG:4326", always_xy=True).transform(xs, ys)
    lon = wrap(lon)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def centre_box(ref):
    """lon/lat box of the cell centres of a regional grid, longitudes in -180..180."""
    nc = ref.first
    lat = nc.variables["lat"][:]
    lon = wrap(nc.variables["lon"][:])
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def drawn_box(img, lon, lat):
    """lon/lat extent of the pixels that show data."""
    m = img[..., 3] > 0
    return float(lon[m].min()), float(lat[m].min()), float(lon[m].max()), float(lat[m].max())


def time_iso(ref, k):
    tv = ref.first.variables[ref.time_dim]
    cal = tv.getncattr("calendar") if "calendar" in tv.ncattrs() else "standard"
    t = np.asarray(ref.read(ref.time_dim), dtype="f8")
    d = cftime.num2date(t[k], tv.getncattr("units"), cal)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


def feature_info(server, layer, lon, lat, fmt="application/json", **extra):
    """GetFeatureInfo at a point: the middle pixel of a 101x101 EPSG:4326 map (1.3.0,
    lat/lon axis order) of 0.01° pixels centred on the point."""
    d = 0.505
    r = wms(server, VERSION="1.3.0", REQUEST="GetFeatureInfo", LAYERS=layer, QUERY_LAYERS=layer, STYLES="",
            CRS="EPSG:4326", BBOX=f"{lat - d},{lon - d},{lat + d},{lon + d}", WIDTH=101, HEIGHT=101, I=50, J=50,
            INFO_FORMAT=fmt, **extra)
    assert r.status_code == 200, r.text[:500]
    return r


def great_circle(lon1, lat1, lon2, lat2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def ids(server):
    return {
        "eur22": find_id(server, "EUR-22", "tas"),
        "eur11": find_id(server, "EUR-11", "zg500"),
        "miroc": find_id(server, "MIROC6", "day", "tas"),
        "tos": find_id(server, "CNRM-CM6-1", "tos"),
        "o3": find_id(server, "MPI-ESM1-2-LR", "AERmon.o3"),
        "pr360": find_id(server, "CIRRUS-SYN-1", "Amon.pr"),
        "hadgem": find_id(server, "HadGEM2-ES", "tas"),
        "ipsl": find_id(server, "IPSL-CM6A-LR", "rlds"),
        "tasday": find_id(server, "CIRRUS-SYN-1", "day.tas"),
    }


@pytest.fixture(scope="module")
def caps130(server):
    r = wms(server, REQUEST="GetCapabilities", VERSION="1.3.0")
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/xml")
    return ET.fromstring(r.content)


@pytest.fixture(scope="module")
def extra_server(start_server, tmp_path_factory):
    """A server over generated files: 150 years of daily data (noleap), one year of
    daily 360_day data, and two days on the full EUR-11 grid (424 x 412)."""
    gen = find_testdata_bin()
    if gen is None:
        pytest.fail("the cirrus-testdata generator is not built (cargo build -p cirrus-testdata)")
    root = tmp_path_factory.mktemp("wms-data")
    for args in (["cmip6-daily", "--years", "150", "--start-year", "1850", "--res", "30", "--years-per-file", "50"],
                 ["cmip6-daily", "--years", "1", "--res", "10", "--calendar", "360_day", "--source-id", "CIRRUS-360"],
                 ["eur11-daily", "--days", "2"]):
        subprocess.run([str(gen), args[0], "--out", str(root), *args[1:]], check=True, capture_output=True, timeout=600)
    return start_server([root], name="wms-extra")


def layers_of(caps):
    return {l.findtext(f"{WMS}Name"): l for l in caps.iter(f"{WMS}Layer") if l.find(f"{WMS}Name") is not None}


# --------------------------------------------------------------------------- capabilities

def test_capabilities_has_a_layer_per_variable(server, caps130, ids):
    layers = layers_of(caps130)
    for key, var in [("eur22", "tas"), ("eur11", "zg500"), ("miroc", "tas"), ("tos", "tos"), ("o3", "o3")]:
        name = f"{ids[key]}/{var}"
        assert name in layers, f"{name} missing; layers: {sorted(layers)[:5]}..."
    eur22 = layers[f"{ids['eur22']}/tas"]
    assert eur22.findtext(f"{WMS}Title") == "Near-Surface Air Temperature"
    assert eur22.get("queryable") == "1"
    root_layer = caps130.find(f"{WMS}Capability/{WMS}Layer")
    assert [c.text for c in root_layer.findall(f"{WMS}CRS")] == CRS_LIST
    # EX_GeographicBoundingBox = the 2-D lat/lon box of the file
    ref = server.reference(ids["eur22"])
    w, s, e, n = centre_box(ref)
    ex = eur22.find(f"{WMS}EX_GeographicBoundingBox")
    got = [float(ex.findtext(f"{WMS}{k}")) for k in
           ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")]
    assert np.allclose(got, [w, s, e, n], atol=1e-4), got
    # BoundingBox per CRS; EPSG:4326 in lat/lon order in 1.3.0
    boxes = {b.get("CRS"): [float(b.get(k)) for k in ("minx", "miny", "maxx", "maxy")]
             for b in eur22.findall(f"{WMS}BoundingBox")}
    assert np.allclose(boxes["CRS:84"], [w, s, e, n], atol=1e-4)
    assert np.allclose(boxes["EPSG:4326"], [s, w, n, e], atol=1e-4)
    assert {"EPSG:3857", "EPSG:3035"} <= set(boxes)
    t = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x0, y0 = t.transform(w, s)
    x1, y1 = t.transform(e, n)
    assert np.allclose(boxes["EPSG:3857"], [x0, y0, x1, y1], rtol=1e-3)
    # EPSG:3035 is northing/easting in 1.3.0
    laea = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)
    ex_, ny_ = laea.transform(18.0, 50.75)  # near the domain centre
    b = boxes["EPSG:3035"]
    assert b[0] < ny_ < b[2] and b[1] < ex_ < b[3], (b, ex_, ny_)


def test_capabilities_styles_have_legends(server, caps130, ids):
    eur22 = layers_of(caps130)[f"{ids['eur22']}/tas"]
    styles = {s.findtext(f"{WMS}Name"): s for s in eur22.findall(f"{WMS}Style")}
    for p in PALETTES:
        assert f"raster/{p}" in styles, sorted(styles)
    assert len(styles) >= 12
    href = styles["raster/rdbu"].find(f"{WMS}LegendURL/{WMS}OnlineResource").get(f"{XLINK}href")
    r = requests.get(href, timeout=60)
    img = image(r)
    assert img.shape[:2] == (264, 110)


def test_capabilities_time_and_elevation(server, caps130, ids):
    layers = layers_of(caps130)
    dims = lambda l: {d.get("name"): d for d in l.findall(f"{WMS}Dimension")}  # noqa: E731
    # monthly 360_day: one compact run in the calendar
    pr = dims(layers[f"{ids['pr360']}/pr"])["time"]
    assert pr.get("units") == "ISO8601"
    assert pr.text == "2015-01-16T00:00:00Z/2029-12-16T00:00:00Z/P1M"
    # the daily EUR-11 file: one run of days
    zg = dims(layers[f"{ids['eur11']}/zg500"])["time"].text
    assert zg.endswith("/P1D") and zg.count("/") == 2, zg
    # monthly means of a standard calendar are not regular: listed one by one
    ipsl = dims(layers[f"{ids['ipsl']}/rlds"])["time"].text.split(",")
    ref = server.reference(ids["ipsl"])
    assert len(ipsl) == ref.n_records
    assert ipsl[0] == time_iso(ref, 0) and ipsl[-1] == time_iso(ref, ref.n_records - 1)
    # the vertical axis with its units and values
    o3 = dims(layers[f"{ids['o3']}/o3"])
    lev = server.reference(ids["o3"]).read("lev")
    assert o3["elevation"].get("units") == "1"
    assert np.allclose([float(v) for v in o3["elevation"].text.split(",")], lev)


def test_capabilities_150_years_daily_is_compact(extra_server):
    r = extra_server.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"})
    assert r.status_code == 200
    assert len(r.content) < 200_000, f"{len(r.content)} bytes"
    caps = ET.fromstring(r.content)
    layers = layers_of(caps)
    long = [l for n, l in layers.items() if "CIRRUS-BENCH-1" in n]
    assert len(long) == 1
    t = {d.get("name"): d.text for d in long[0].findall(f"{WMS}Dimension")}["time"]
    assert t == "1850-01-01T12:00:00Z/1999-12-31T12:00:00Z/P1D", t


def test_360_day_dates_are_honest(extra_server):
    caps = ET.fromstring(extra_server.get("/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).content)
    name = next(n for n in layers_of(caps) if "CIRRUS-360" in n)
    t = {d.get("name"): d.text for d in layers_of(caps)[name].findall(f"{WMS}Dimension")}["time"]
    assert t == "2015-01-01T12:00:00Z/2015-12-30T12:00:00Z/P1D", t
    # 2015-02-30 exists in this calendar: an exact time step, no warning
    r = extra_server.get("/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": name,
                                         "STYLES": "", "CRS": "CRS:84", "BBOX": "-180,-90,180,90", "WIDTH": 36,
                                         "HEIGHT": 18, "FORMAT": "image/png", "TIME": "2015-02-30T12:00:00Z"})
    assert r.status_code == 200, r.text
    assert "warning" not in {k.lower() for k in r.headers}
    assert r.headers["x-cirrus-time"] == "2015-02-30T12:00:00Z"


def test_owslib_parses_capabilities(server, ids):
    from owslib.wms import WebMapService

    for version in ("1.3.0", "1.1.1"):
        w = WebMapService(server.url + "/wms", version=version, timeout=120)
        name = f"{ids['eur22']}/tas"
        assert name in w.contents, version
        layer = w[name]
        assert layer.title == "Near-Surface Air Temperature"
        bb = layer.boundingBoxWGS84
        w_, s_, e_, n_ = centre_box(server.reference(ids["eur22"]))
        assert np.allclose(bb, (w_, s_, e_, n_), atol=1e-4), (version, bb)
        assert "EPSG:3857" in layer.crsOptions and "EPSG:4326" in layer.crsOptions
        assert "raster/viridis" in layer.styles and layer.styles["raster/viridis"].get("legend")
        pr = w[f"{ids['pr360']}/pr"]
        assert pr.timepositions == ["2015-01-16T00:00:00Z/2029-12-16T00:00:00Z/P1M"], (version, pr.timepositions)
        assert {"GetMap", "GetFeatureInfo", "GetCapabilities"} <= {op.name for op in w.operations}
        img = w.getmap(layers=[name], styles=["raster/plasma"], srs="CRS:84" if version == "1.3.0" else "EPSG:4326",
                       bbox=(-50, 20, 70, 75), size=(240, 110), format="image/png", transparent=True)
        arr = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))
        assert arr.shape == (110, 240, 4) and (arr[..., 3] > 0).mean() > 0.3


def test_capabilities_of_one_dataset(server, ids):
    """/wms/<dataset id>: a GetCapabilities document with that dataset's layers only
    (small whatever the archive), read by OWSLib; its GetMap draws; an unknown dataset
    is a ServiceException with 404."""
    from owslib.wms import WebMapService

    whole = server.get("/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0")
    one = server.get(f"/wms/{ids['eur22']}?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0")
    assert one.status_code == 200 and len(one.content) < len(whole.content) / 3
    w = WebMapService(f"{server.url}/wms/{ids['eur22']}", version="1.3.0", timeout=120)
    assert set(w.contents) == {f"{ids['eur22']}/tas"} | {n for n in w.contents if n.startswith(ids["eur22"] + "/")}
    assert all(n.startswith(ids["eur22"] + "/") for n in w.contents)
    img = w.getmap(layers=[f"{ids['eur22']}/tas"], styles=["raster/plasma"], srs="CRS:84",
                   bbox=(-50, 20, 70, 75), size=(120, 55), format="image/png", transparent=True)
    assert np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA")).shape == (55, 120, 4)
    r = server.get("/wms/no.such.dataset?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0")
    assert r.status_code == 404 and b"ServiceException" in r.content


# --------------------------------------------------------------------------- GetMap pictures

@pytest.mark.parametrize("which", ["eur22", "eur11"])
@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_cordex_maps_show_europe_where_europe_is(server, ids, which, crs):
    var = "tas" if which == "eur22" else "zg500"
    layer = f"{ids[which]}/{var}"
    ref = server.reference(ids[which])
    if crs == "EPSG:4326":
        bbox_en = (-60.0, 10.0, 80.0, 80.0)
        width, height = 700, 350
        bbox_req = (bbox_en[1], bbox_en[0], bbox_en[3], bbox_en[2])  # 1.3.0: lat/lon order
    else:
        t = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
        x0, y0 = t.transform(-60.0, 10.0)
        x1, y1 = t.transform(80.0, 80.0)
        bbox_en = bbox_req = (x0, y0, x1, y1)
        width, height = 560, 600
    img = image(getmap(server, layer, crs, bbox_req, width, height))
    Image.fromarray(img).save(pictures() / f"{which}_{crs.replace(':', '')}.png")
    lon, lat = pixel_centres_lonlat(crs, bbox_en, width, height)
    drawn = img[..., 3] > 0
    expected = rotated_mask(ref.first, var, lon, lat)
    agree = (drawn == expected).mean()
    assert agree > 0.995, f"only {agree:.4f} of the pixels agree with the rotated grid"
    assert drawn.sum() > 0.05 * drawn.size
    # the drawn area covers the 2-D lat/lon box of the cell centres and stays inside
    # the box of the cell corners (plus a pixel)
    dw, ds, de, dn = drawn_box(img, lon, lat)
    cw, cs, ce, cn = centre_box(ref)
    kw, ks, ke, kn = corner_box(ref.first, var)
    px = max((bbox_en[2] - bbox_en[0]) / width, (bbox_en[3] - bbox_en[1]) / height)
    px_deg = px if crs == "EPSG:4326" else px / R * 180 / math.pi * 2.5
    assert dw <= cw + px_deg and ds <= cs + px_deg and de >= ce - px_deg and dn >= cn - px_deg, (
        (dw, ds, de, dn), (cw, cs, ce, cn))
    assert dw >= kw - px_deg and ds >= ks - px_deg and de <= ke + px_deg and dn <= kn + px_deg, (
        (dw, ds, de, dn), (kw, ks, ke, kn))


def test_full_eur11_grid_in_laea_and_tiles(extra_server):
    """The full 424 x 412 EUR-11 grid (generated) in EPSG:3035 and as XYZ tiles."""
    datasets = extra_server.json("/datasets")["datasets"]
    ds = next(d for d in datasets if "EUR-11" in d["id"])
    layer = f"{ds['id']}/tas"
    r = extra_server.get("/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer,
                                         "STYLES": "raster/turbo", "CRS": "EPSG:3035",
                                         # northing first in 1.3.0
                                         "BBOX": "500000,1000000,6500000,7500000", "WIDTH": 520, "HEIGHT": 480,
                                         "FORMAT": "image/png"})
    img = image(r)
    Image.fromarray(img).save(pictures() / "eur11_full_EPSG3035.png")
    lon, lat = pixel_centres_lonlat("EPSG:3035", (1000000, 500000, 7500000, 6500000), 520, 480)
    path = next(Path(extra_server.roots[0]).rglob("tas_EUR-11*.nc"))
    with netCDF4.Dataset(path) as nc:
        agree = ((img[..., 3] > 0) == rotated_mask(nc, "tas", lon, lat)).mean()
    assert agree > 0.995, agree
    # tiles over Europe at zoom 3 have data, one in the Pacific has none
    t = extra_server.get(f"/tiles/{layer}/3/4/2.png")
    assert (image(t)[..., 3] > 0).mean() > 0.5
    t = extra_server.get(f"/tiles/{layer}/3/0/3.png")
    assert (image(t)[..., 3] > 0).sum() == 0


def test_no_seam_for_0_to_360_data_in_web_mercator(server, ids):
    layer = f"{ids['miroc']}/tas"
    lon = server.reference(ids["miroc"]).read("lon")
    assert lon.min() >= 0 and lon.max() > 350  # 0..360 data
    e = 20037508.342789244
    img = image(getmap(server, layer, "EPSG:3857", (-e, -e, e, e), 512, 512))
    Image.fromarray(img).save(pictures() / "miroc_world_EPSG3857.png")
    assert (img[..., 3] == 255).all(), "transparent pixels in a global field"
    # and across 180° in a map centred on the antimeridian (CRS:84 beyond 180)
    img = image(getmap(server, layer, "CRS:84", (90, -60, 270, 60), 360, 240))
    assert (img[..., 3] == 255).all()
    # around lon 0: the last, first and second cells of the 0..360 axis
    cells = [json.loads(feature_info(server, layer, x, 10.0).text)["features"][0]["properties"]["cell"]["x"]
             for x in (-0.9, 0.0, 0.9)]
    assert cells == [len(lon) - 1, 0, 1], cells


# --------------------------------------------------------------------------- GetMap parameters

def test_getmap_styles_and_colour_scale(server, ids):
    layer = f"{ids['eur22']}/tas"
    args = (layer, "CRS:84", (-45, 22, 66, 72), 222, 100)
    base = image(getmap(server, *args))
    seen = set()
    for p in PALETTES + ["turbo", "ylorrd", "spectral"]:
        img = image(getmap(server, *args, STYLES=f"raster/{p}"))
        assert (img[..., 3] > 0).sum() == (base[..., 3] > 0).sum()
        seen.add(img.tobytes())
    assert len(seen) >= 14, "palettes do not change the picture"
    # banded: NUMCOLORBANDS colours at most
    img = image(getmap(server, *args, STYLES="banded/viridis", NUMCOLORBANDS=5, COLORSCALERANGE="250,290"))
    colours = {tuple(c) for c in img[img[..., 3] > 0][:, :3]}
    assert len(colours) <= 5
    # out-of-range colours: a narrow range makes the rest red (above) or blue (below)
    ref = server.reference(ids["eur22"])
    tas = ref.read("tas", (0,), decoded=True).compressed()
    img = image(getmap(server, *args, COLORSCALERANGE="275,276", ABOVEMAXCOLOR="0xFF0000", BELOWMINCOLOR="0x0000FF"))
    data = img[img[..., 3] > 0][:, :3]
    red = np.all(data == [255, 0, 0], axis=1).mean()
    blue = np.all(data == [0, 0, 255], axis=1).mean()
    assert abs(red - (tas > 276).mean()) < 0.1 and abs(blue - (tas < 275).mean()) < 0.1, (red, blue)
    img = image(getmap(server, *args, COLORSCALERANGE="275,276", ABOVEMAXCOLOR="transparent"))
    assert (img[..., 3] > 0).mean() < (base[..., 3] > 0).mean()
    # opacity
    img = image(getmap(server, *args, OPACITY=50))
    assert set(np.unique(img[..., 3])) <= {0, 127, 128}
    # auto range: both ends of the palette appear
    img = image(getmap(server, *args, STYLES="raster/greys", COLORSCALERANGE="auto", NUMCOLORBANDS=250))
    grey = img[img[..., 3] > 0][:, 0]
    assert grey.min() < 10 and grey.max() > 245
    # a log scale needs a positive minimum
    r = getmap(server, *args, LOGSCALE="true", COLORSCALERANGE="0,300")
    assert r.status_code == 400
    img = image(getmap(server, *args, LOGSCALE="true", COLORSCALERANGE="240,300"))
    assert (img[..., 3] > 0).sum() == (base[..., 3] > 0).sum()
    # TRANSPARENT=FALSE: the background colour where there is no data
    img = image(getmap(server, *args, TRANSPARENT="FALSE", BGCOLOR="0x00FF00"))
    assert (img[..., 3] == 255).all() and (np.all(img[..., :3] == [0, 255, 0], axis=-1)).any()
    # JPEG for GDAL's default
    r = getmap(server, *args, FORMAT="image/jpeg")
    assert r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"


def test_time_nearest_exact_and_out_of_range(server, ids):
    layer = f"{ids['pr360']}/pr"
    args = (layer, "CRS:84", (-180, -90, 180, 90), 144, 72)
    r = getmap(server, *args, TIME="2016-03-16T00:00:00Z")
    assert r.status_code == 200 and "Warning" not in r.headers
    assert r.headers["x-cirrus-time"] == "2016-03-16T00:00:00Z"
    r2 = getmap(server, *args, TIME="2016-03-20")
    assert r2.status_code == 200
    assert r2.headers["Warning"] == "99 Nearest value used: time=2016-03-16T00:00:00Z ISO8601"
    assert r2.content == r.content
    assert getmap(server, *args, TIME="2016-04-16").content != r.content
    for bad in ("1990-01-01", "not-a-date", "2015-01-01/2016-01-01"):
        r = getmap(server, *args, TIME=bad)
        assert r.status_code == 400 and exception(r)[0] == "InvalidDimensionValue", (bad, r.text)
    # a date that does not exist in the standard calendar
    r = getmap(server, f"{ids['eur11']}/zg500", "CRS:84", (-40, 20, 60, 75), 50, 25, TIME="2075-02-30")
    assert r.status_code == 400 and exception(r)[0] == "InvalidDimensionValue"


def test_elevation(server, ids):
    layer = f"{ids['o3']}/o3"
    lev = server.reference(ids["o3"]).read("lev")
    args = (layer, "CRS:84", (-180, -90, 180, 90), 192, 96)
    imgs = [getmap(server, *args, ELEVATION=repr(float(z)), COLORSCALERANGE="0,2e-7").content for z in lev]
    assert len(set(imgs)) == len(lev)
    v = [json.loads(feature_info(server, layer, 10, 45, ELEVATION=repr(float(z))).text)["features"][0]["properties"]
         for z in lev]
    ref = server.reference(ids["o3"]).read("o3", decoded=True)
    for k, p in enumerate(v):
        c = p["cell"]
        assert p["elevation"] == pytest.approx(float(lev[k]))
        assert np.float32(p["value"]) == ref[0, k, c["y"], c["x"]]
    r = getmap(server, *args, ELEVATION="12345")
    assert r.status_code == 400 and exception(r)[0] == "InvalidDimensionValue"


# --------------------------------------------------------------------------- GetFeatureInfo

def nearest_regular(ref, lon, lat):
    la = np.asarray(ref.read("lat"), dtype="f8")
    lo = np.asarray(ref.read("lon"), dtype="f8")
    dlon = np.abs((lo - lon + 180) % 360 - 180)
    return np.abs(la - lat), dlon


@pytest.mark.parametrize("key,var,kind", [
    ("miroc", "tas", "regular"), ("tasday", "tas", "regular"), ("hadgem", "tas", "regular"),
    ("pr360", "pr", "regular"), ("eur22", "tas", "rotated"), ("eur11", "zg500", "rotated"),
    ("tos", "tos", "curvilinear"),
])
def test_getfeatureinfo_equals_the_source(server, ids, key, var, kind):
    ref = server.reference(ids[key])
    layer = f"{ids[key]}/{var}"
    data = ref.read(var, decoded=True)
    rng = np.random.default_rng(7)
    w, s, e, n = next(d for d in server.datasets() if d["id"] == ids[key])["bbox"]
    if w > e:
        w, e = -180.0, 180.0
    k = min(ref.n_records - 1, 5) if ref.time_dim else 0
    when = time_iso(ref, k) if ref.time_dim else None
    checked = 0
    for _ in range(12):
        lon, lat = float(rng.uniform(w, e)), float(rng.uniform(max(s, -85), min(n, 85)))
        extra = {"TIME": when} if when else {}
        props = json.loads(feature_info(server, layer, lon, lat, **extra).text)["features"][0]["properties"]
        if "cell" not in props:
            assert kind != "regular", (lon, lat)
            continue
        y, x = props["cell"]["y"], props["cell"]["x"]
        # the cell is the nearest one
        if kind == "regular":
            dy, dx = nearest_regular(ref, lon, lat)
            assert dy[y] <= dy.min() + 1e-9 and dx[x] <= dx.min() + 1e-9, (lon, lat, y, x)
        elif kind == "rotated":
            nc = ref.first
            gm = nc.variables[nc.variables[var].getncattr("grid_mapping")]
            rot = CRS.from_cf({a: gm.getncattr(a) for a in gm.ncattrs()})
            rx, ry = Transformer.from_crs("EPSG:4326", rot, always_xy=True).transform(lon, lat)
            ax, ay = nc.variables["rlon"][:], nc.variables["rlat"][:]
            assert abs(ax[x] - rx) <= np.abs(ax - rx).min() + 1e-9 and abs(ay[y] - ry) <= np.abs(ay - ry).min() + 1e-9
        else:
            la = ref.first.variables["lat"][:]
            lo = ref.first.variables["lon"][:]
            d = great_circle(lon, lat, lo, la)
            assert d[y, x] <= d.min() + 1e-9, (lon, lat, d[y, x], d.min())
        expected = data[k, y, x]
        if np.ma.is_masked(expected):
            assert props["value"] is None
        else:
            assert np.float32(props["value"]) == np.float32(expected), (lon, lat, props["value"], expected)
            assert props["units"] == ref.first.variables[var].getncattr("units")
        if when:
            assert props["time"] == when
        checked += 1
    assert checked >= 4


def test_getfeatureinfo_formats(server, ids):
    layer = f"{ids['eur22']}/tas"
    j = json.loads(feature_info(server, layer, 10.0, 50.0).text)
    p = j["features"][0]["properties"]
    assert j["type"] == "FeatureCollection" and j["features"][0]["geometry"]["coordinates"] == pytest.approx([10, 50])
    text = feature_info(server, layer, 10.0, 50.0, fmt="text/plain").text
    assert f"value = {p['value']}" in text and "units = K" in text and "time = 2021-01-16T12:00:00Z" in text
    x = ET.fromstring(feature_info(server, layer, 10.0, 50.0, fmt="text/xml").content)
    assert float(x.findtext("FeatureInfo/value")) == p["value"]
    assert x.find("FeatureInfo/value").get("units") == "K"
    # outside the grid: no value
    out = json.loads(feature_info(server, layer, -150.0, -30.0).text)["features"][0]["properties"]
    assert out["value"] is None and "cell" not in out


# --------------------------------------------------------------------------- legend, errors

def test_legend_graphic(server, ids):
    layer = f"{ids['eur22']}/tas"
    img = image(wms(server, REQUEST="GetLegendGraphic", LAYER=layer, STYLE="raster/rdbu", FORMAT="image/png",
                    COLORSCALERANGE="250,300"))
    assert img.shape == (264, 110, 4)
    colours = {tuple(c) for c in img.reshape(-1, 4)[:, :3]}
    assert len(colours) > 50  # a colour bar
    assert (np.all(img[..., :3] < 40, axis=-1)).sum() > 200  # text and ticks in black
    Image.fromarray(img).save(pictures() / "legend_eur22.png")
    bar = image(wms(server, REQUEST="GetLegendGraphic", LAYER=layer, COLORBARONLY="true", WIDTH=20, HEIGHT=200))
    assert bar.shape == (200, 20, 4)
    wide = image(wms(server, REQUEST="GetLegendGraphic", LAYER=layer, WIDTH=300, HEIGHT=60))
    assert wide.shape == (60, 300, 4)


@pytest.mark.parametrize("version", ["1.3.0", "1.1.1"])
def test_errors_are_service_exception_reports(server, ids, version):
    layer = f"{ids['eur22']}/tas"
    crs = "CRS" if version == "1.3.0" else "SRS"
    ok = {"VERSION": version, "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "", crs: "EPSG:4326",
          "BBOX": "20,-40,70,60" if version == "1.3.0" else "-40,20,60,70", "WIDTH": 100, "HEIGHT": 50,
          "FORMAT": "image/png"}
    assert wms(server, **ok).status_code == 200
    cases = [
        ({"LAYERS": "no.such.dataset/tas"}, "LayerNotDefined"),
        ({"LAYERS": f"{ids['eur22']}/nope"}, "LayerNotDefined"),
        ({crs: "EPSG:2154"}, "InvalidCRS" if version == "1.3.0" else "InvalidSRS"),
        ({"STYLES": "raster/nope"}, "StyleNotDefined"),
        ({"FORMAT": "image/gif"}, "InvalidFormat"),
        ({"TIME": "1900-01-01"}, "InvalidDimensionValue"),
        ({"WIDTH": "0"}, "InvalidParameterValue"),
        ({"BBOX": "1,2,3"}, "InvalidParameterValue"),
        ({"REQUEST": "GetSomething"}, "OperationNotSupported"),
    ]
    for change, code in cases:
        r = wms(server, **{**ok, **change})
        assert r.status_code == 400, (change, r.status_code)
        got, msg = exception(r)
        assert got == code, (change, got, msg)
        assert msg
        root = ET.fromstring(r.content)
        assert root.get("version") == version
    r = wms(server, **{k: v for k, v in ok.items() if k != "BBOX"})
    assert r.status_code == 400 and exception(r)[0] == "MissingParameterValue"
    # GetFeatureInfo outside the map
    gfi = {**ok, "REQUEST": "GetFeatureInfo", "QUERY_LAYERS": layer, "INFO_FORMAT": "application/json",
           ("I" if version == "1.3.0" else "X"): 500, ("J" if version == "1.3.0" else "Y"): 10}
    r = wms(server, **gfi)
    assert r.status_code == 400 and exception(r)[0] == "InvalidPoint"
    # errors drawn into the image on request
    exc = "INIMAGE" if version == "1.3.0" else "application/vnd.ogc.se_inimage"
    r = wms(server, **{**ok, "LAYERS": "nope/x", "EXCEPTIONS": exc})
    img = image(r)
    assert img.shape == (50, 100, 4) and (img[..., 3] > 0).any()


# --------------------------------------------------------------------------- tiles

def test_tiles_are_cacheable_and_match_getmap(server, ids):
    layer = f"{ids['eur22']}/tas"
    url = f"/tiles/{layer}/3/4/2.png"
    r = server.get(url, params={"STYLES": "raster/viridis"})
    tile = image(r)
    assert tile.shape == (256, 256, 4) and (tile[..., 3] > 0).mean() > 0.5
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    r304 = server.get(url, params={"STYLES": "raster/viridis"}, headers={"If-None-Match": r.headers["etag"]})
    assert r304.status_code == 304
    # the same layer percent-encoded
    enc = server.get(f"/tiles/{quote(layer, safe='')}/3/4/2.png", params={"STYLES": "raster/viridis"})
    assert enc.content == r.content
    # a tile is the GetMap of its extent in EPSG:3857
    size = 2 * 20037508.342789244 / 8
    x0, y1 = -20037508.342789244 + 4 * size, 20037508.342789244 - 2 * size
    gm = image(getmap(server, layer, "EPSG:3857", (x0, y1 - size, x0 + size, y1), 256, 256, STYLES="raster/viridis"))
    assert np.array_equal(gm, tile)
    # a different style is a different tile, with another ETag
    r2 = server.get(url, params={"STYLES": "raster/magma"})
    assert r2.headers["etag"] != r.headers["etag"] and r2.content != r.content
    # nothing in the Pacific; bad tiles are errors
    assert (image(server.get(f"/tiles/{layer}/3/0/3.png"))[..., 3] == 0).all()
    assert server.get(f"/tiles/{layer}/3/9/2.png").status_code == 400
    assert server.get(f"/tiles/{ids['eur22']}/nope/1/0/0.png").status_code == 400


def cache_counts(server):
    text = server.get("/metrics").text
    hits = float(re.search(r"^cirrus_map_cache_hits_total (\S+)$", text, re.M).group(1))
    misses = float(re.search(r"^cirrus_map_cache_misses_total (\S+)$", text, re.M).group(1))
    return hits, misses


def test_drawn_maps_are_cached_per_request_and_dataset_version(server, ids, start_server, tmp_path):
    layer = f"{ids['eur22']}/tas"
    box = (-2.0e6, 4.0e6, 4.0e6, 1.1e7)
    h0, m0 = cache_counts(server)
    first = getmap(server, layer, "EPSG:3857", box, 120, 90, STYLES="raster/viridis", COLORSCALERANGE="250,300")
    again = getmap(server, layer, "EPSG:3857", box, 120, 90, STYLES="raster/viridis", COLORSCALERANGE="250,300")
    h1, m1 = cache_counts(server)
    assert (h1 - h0, m1 - m0) == (1, 1), (h1 - h0, m1 - m0)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    # a different format, style or size is another picture, with another ETag
    jpeg = getmap(server, layer, "EPSG:3857", box, 120, 90, STYLES="raster/viridis", COLORSCALERANGE="250,300",
                  FORMAT="image/jpeg")
    assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
    assert jpeg.headers["etag"] != first.headers["etag"]
    other = getmap(server, layer, "EPSG:3857", box, 120, 90, STYLES="raster/magma", COLORSCALERANGE="250,300")
    assert other.content != first.content
    tile_a = server.get(f"/tiles/{layer}/3/4/2.png", params={"STYLE": "raster/viridis"})
    tile_b = server.get(f"/tiles/{layer}/3/4/2.png", params={"STYLE": "raster/magma"})
    assert tile_a.content != tile_b.content and tile_a.headers["etag"] != tile_b.headers["etag"]

    # a changed file is drawn again, not taken from the cache
    src = Path(server.esgf) / next(d for d in server.datasets() if d["id"] == ids["eur22"])["files"][0]
    root = tmp_path / "changing"
    root.mkdir()
    shutil.copy(src, root / "eur.nc")
    srv = start_server([root], name="map-cache")
    before = getmap(srv, "eur.nc/tas", "EPSG:3857", box, 120, 90, STYLES="raster/viridis",
                    COLORSCALERANGE="250,300")
    shutil.copy(src, tmp_path / "new.nc")
    with netCDF4.Dataset(tmp_path / "new.nc", "a") as nc:
        nc["tas"][0] = nc["tas"][0] + 20.0
    os.replace(tmp_path / "new.nc", root / "eur.nc")
    srv.post("/admin/rescan")
    after = getmap(srv, "eur.nc/tas", "EPSG:3857", box, 120, 90, STYLES="raster/viridis",
                   COLORSCALERANGE="250,300")
    assert after.headers["etag"] != before.headers["etag"] and after.content != before.content


# --------------------------------------------------------------------------- GDAL

def gdal(*args, timeout=300):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(args)}\n{p.stderr[-2000:]}"
    return p.stdout


def test_gdal_reads_the_service(server, ids, tmp_path):
    for version in ("1.3.0", "1.1.1"):
        out = gdal("gdalinfo", f"WMS:{server.url}/wms?SERVICE=WMS&VERSION={version}&REQUEST=GetCapabilities")
        names = [l.split("=", 1)[1] for l in out.splitlines() if "SUBDATASET_" in l and "_NAME=" in l]
        layer = f"{ids['eur22']}/tas"
        sub = next((n for n in names if quote(layer, safe="") in n or layer in n), None)
        assert sub, f"{layer} not among {len(names)} subdatasets ({version})"
        info = json.loads(gdal("gdalinfo", "-json", sub))
        assert info["driverShortName"] == "WMS"
        # to GeoTIFF: PNG with alpha, and GDAL's default (JPEG)
        tif = tmp_path / f"eur22_{version}.tif"
        gdal("gdal_translate", "-of", "GTiff", "-outsize", "560", "250", f"{sub}&FORMAT=image/png&TRANSPARENT=TRUE",
             str(tif))
        ti = json.loads(gdal("gdalinfo", "-json", "-stats", str(tif)))
        assert ti["size"] == [560, 250] and len(ti["bands"]) == 4
        alpha = ti["bands"][3]
        assert alpha["colorInterpretation"] == "Alpha" and 0.3 < alpha["mean"] / 255 < 0.95
        gt = ti["geoTransform"]
        w, s, e, n = centre_box(server.reference(ids["eur22"]))
        assert gt[0] == pytest.approx(w, abs=1e-3) and gt[3] == pytest.approx(n, abs=1e-3)
        assert gt[0] + 560 * gt[1] == pytest.approx(e, abs=1e-3)
        jpg = tmp_path / f"eur22_{version}_jpeg.tif"
        gdal("gdal_translate", "-of", "GTiff", "-outsize", "280", "125", sub, str(jpg))
        assert len(json.loads(gdal("gdalinfo", "-json", str(jpg)))["bands"]) == 3
