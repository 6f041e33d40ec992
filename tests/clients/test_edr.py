"""OGC API - Environmental Data Retrieval 1.1 at /edr, read as clients read it:
CoverageJSON validated with covjson-pydantic, CSV parsed with pandas, GeoJSON with
json, NetCDF opened with xarray, cubes opened with the edr-xarray backend.

Every expected value is computed here from the local files (netCDF4/xarray, joined
along time for multi-file datasets, see cirrus_ref.Reference): the nearest cell by
index on each axis (1-D lat/lon) or by great-circle distance over all cells (2-D
lat/lon of rotated and curvilinear grids), cells inside polygons by ray casting,
radius and corridor cells by haversine distance (R = 6371.0088 km), time labels with
cftime in the dataset's calendar."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from datetime import timedelta

import cftime
import numpy as np
import pandas as pd
import pytest
import requests
import xarray as xr
from covjson_pydantic.coverage import Coverage, CoverageCollection

from conftest import main_server, short_id

R_EARTH_KM = 6371.0088
KM_PER = {"km": 1.0, "m": 0.001, "mi": 1.609344, "nmi": 1.852}
COVJSON_TYPE = "application/prs.coverage+json"
SPATIAL_QUERIES = {"position", "radius", "area", "cube", "trajectory", "corridor", "locations"}
# a served x/y names a cell when it is this close (degrees) to the cell's centre in the
# file; test_cell_centres_are_the_files checks the served positions more tightly
CELL_TOL = 1e-3
COORD_TOL = 1e-5

MIROC = "CMIP6.ScenarioMIP.MIROC.MIROC6.ssp119.r1i1p1f1.day.tas.gn.v20191016"
EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"
EUR22 = "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029"
TOS = "CMIP6.ScenarioMIP.CNRM-CERFACS.CNRM-CM6-1.ssp245.r1i1p1f2.Omon.tos.gn.v20190219"
CESM2 = "CMIP6.CMIP.NCAR.CESM2.amip.r1i1p1f1.Amon.cl.gn.v20190319"
HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"

# a triangle over France that crosses the prime meridian (lon, lat)
FRANCE = [(-5.0, 43.0), (8.0, 43.0), (3.0, 51.0), (-5.0, 43.0)]


# --------------------------------------------------------------------------- geometry


def norm_lon(lon):
    """Longitudes in -180..180."""
    return ((np.asarray(lon, dtype=float) + 180.0) % 360.0) - 180.0


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlam = p2 - p1, np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return 2 * R_EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def inside_polygon(lon, lat, ring):
    """Even-odd ray casting in the lon/lat plane (ring: closed list of (lon, lat))."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    inside = np.zeros(np.broadcast(lon, lat).shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(ring[:-1], ring[1:]):
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (lon < x_at)
    return inside


def _unit(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def polyline_distance_km(lat, lon, vertices):
    """Great-circle distance from points to a line string of (lon, lat) vertices:
    cross-track distance where the foot of the perpendicular lies on a segment, else
    the distance to the nearer end of that segment."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    p = _unit(lat, lon)
    best = np.full(lat.shape, np.inf)
    for (lon_a, lat_a), (lon_b, lat_b) in zip(vertices[:-1], vertices[1:]):
        a, b = _unit(lat_a, lon_a), _unit(lat_b, lon_b)
        n = np.cross(a, b)
        n /= np.linalg.norm(n)
        s = p @ n
        foot = p - s[..., None] * n
        on_arc = (np.cross(a, foot) @ n >= 0) & (np.cross(foot, b) @ n >= 0)
        cross_track = R_EARTH_KM * np.arcsin(np.clip(np.abs(s), 0.0, 1.0))
        ends = np.minimum(haversine_km(lat, lon, lat_a, lon_a), haversine_km(lat, lon, lat_b, lon_b))
        best = np.minimum(best, np.where(on_arc, cross_track, ends))
    return best


def clear_distance(distances, target, margin_frac=0.004):
    """A distance near `target` with no cell centre within margin_frac of it, so that
    the answer does not hinge on rounding or on the Earth model's last digits."""
    for f in np.arange(1.0, 1.3, 0.01):
        d = target * f
        if np.min(np.abs(distances - d)) > margin_frac * d:
            return float(round(d, 3))
    raise AssertionError(f"no clear distance near {target}")


def wkt_ring(ring) -> str:
    return "POLYGON((" + ",".join(f"{x} {y}" for x, y in ring) + "))"


def wkt_line(vertices) -> str:
    return "LINESTRING(" + ",".join(f"{x} {y}" for x, y in vertices) + ")"


# --------------------------------------------------------------------------- the source files


def iso(d) -> str:
    """A cftime date as the ISO label an EDR answer carries (seconds, Z)."""
    if d.microsecond >= 500_000:
        d = d + timedelta(seconds=1)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


def _attr(v, name):
    return v.getncattr(name) if name in v.ncattrs() else None


def _is_coord(v, kind: str) -> bool:
    sn, units = _attr(v, "standard_name"), str(_attr(v, "units") or "")
    if kind == "lat":
        return sn == "latitude" or units in ("degrees_north", "degree_north", "degrees_N")
    return sn == "longitude" or units in ("degrees_east", "degree_east", "degrees_E")


def local_grid(nc, name: str, time_dim: str):
    """(two_d, lat, lon, z) of a variable (time, [z], y, x) on a lat/lon grid, else None."""
    v = nc.variables[name]
    dims = v.dimensions
    if len(dims) not in (3, 4) or dims[0] != time_dim:
        return None
    ydim, xdim = dims[-2:]
    vy, vx = nc.variables.get(ydim), nc.variables.get(xdim)
    if vy is not None and vx is not None and vy.ndim == 1 and vx.ndim == 1 \
            and _is_coord(vy, "lat") and _is_coord(vx, "lon"):
        two_d, lat, lon = False, vy[:], vx[:]
        if len(lon) < 2:
            return None  # a zonal mean: no longitude to query
    else:
        lat = lon = None
        for c in nc.variables.values():
            if c.dimensions == (ydim, xdim) and c.dtype.kind == "f":
                if _is_coord(c, "lat"):
                    lat = c[:]
                elif _is_coord(c, "lon"):
                    lon = c[:]
        if lat is None or lon is None:
            return None
        two_d = True
    z = None
    if len(dims) == 4:
        zv = nc.variables.get(dims[1])
        if zv is None:
            return None
        z = np.asarray(zv[:], dtype=float)
    return two_d, np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), z


@dataclass
class SourceGrid:
    """One EDR collection as the local files give it."""

    id: str
    var: str
    ref: object
    two_d: bool
    lat: np.ndarray  # (ny,) or (ny, nx)
    lon: np.ndarray
    z: np.ndarray | None
    calendar: str
    dates: list
    labels: list
    _data: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.lat.shape if self.two_d else (len(self.lat), len(self.lon))

    def cells(self):
        """(LAT, LON) of every cell centre, shape (ny, nx)."""
        if self.two_d:
            return self.lat, self.lon
        lon2, lat2 = np.meshgrid(self.lon, self.lat)
        return lat2, lon2

    def cell(self, j: int, i: int) -> tuple[float, float]:
        lat2, lon2 = self.cells()
        return float(lat2[j, i]), float(lon2[j, i])

    @property
    def data(self) -> np.ndarray:
        """Decoded values (time, [z], y, x), missing values as NaN."""
        if self._data is None:
            arr = self.ref.read(self.var, decoded=True)
            self._data = np.ma.filled(np.ma.asarray(arr).astype("f8"), np.nan)
        return self._data

    def epoch_seconds(self) -> np.ndarray:
        return np.asarray(cftime.date2num(self.dates, "seconds since 1970-01-01", self.calendar), float)

    def nearest(self, lon: float, lat: float) -> tuple[int, int]:
        if self.two_d:
            d = haversine_km(lat, lon, self.lat, self.lon)
            return tuple(int(k) for k in np.unravel_index(np.argmin(d), d.shape))
        j = int(np.argmin(np.abs(self.lat - lat)))
        i = int(np.argmin(np.abs(norm_lon(self.lon - lon))))
        return j, i

    def index_of(self, x: float, y: float) -> tuple[int, int]:
        """The cell whose centre is at (x, y) (any longitude frame, CELL_TOL)."""
        lat2, lon2 = self.cells()
        off = np.maximum(np.abs(lat2 - y), np.abs(norm_lon(lon2 - x)))
        j, i = np.unravel_index(np.argmin(off), off.shape)
        assert off[j, i] < CELL_TOL, f"{self.id}: no cell centre at ({x}, {y})"
        return int(j), int(i)


_GRIDS: dict[str, SourceGrid] = {}


def _time_of(ref):
    """cftime dates of the joined time axis, decoded file by file."""
    dates, calendar = [], None
    for nc, keep in zip(ref._nc, ref.kept):
        tv = nc.variables[ref.time_dim]
        cal = str(_attr(tv, "calendar") or "standard")
        calendar = calendar or cal
        d = cftime.num2date(np.asarray(tv[:], dtype="f8")[keep], _attr(tv, "units"), cal,
                            only_use_cftime_datetimes=True)
        dates.extend(np.atleast_1d(d).tolist())
    return dates, calendar


def find_grid_var(ref):
    """The first variable of a dataset that lies on a lat/lon grid (or None)."""
    if ref.time_dim is None:
        return None
    for name in ref.first.variables:
        g = local_grid(ref.first, name, ref.time_dim)
        if g is not None:
            return name
    return None


def source_grid(server, cid: str) -> SourceGrid:
    """The collection's parameter on its grid in the local files (cached)."""
    if cid not in _GRIDS:
        ref = server.reference(cid)
        params = collection(server, cid)["parameter_names"]
        assert len(params) == 1, f"{cid}: parameters {list(params)}"
        var = next(iter(params))
        g = local_grid(ref.first, var, ref.time_dim)
        assert g is not None, f"{cid}: {var} is not on a lat/lon grid in {ref.files[0]}"
        dates, calendar = _time_of(ref)
        _GRIDS[cid] = SourceGrid(cid, var, ref, *g, calendar, dates, [iso(d) for d in dates])
    return _GRIDS[cid]


def gridded_ids() -> list[str]:
    """Datasets with a variable on a lat/lon grid (zonal means excluded), from the
    local files."""
    srv = main_server()
    out = []
    for d in srv.datasets():
        if "_zm" in d["id"]:
            continue
        if find_grid_var(srv.reference(d["id"])) is not None:
            out.append(d["id"])
    return out


def pytest_generate_tests(metafunc):
    if "grid_id" in metafunc.fixturenames:
        ids = gridded_ids()
        metafunc.parametrize("grid_id", ids, ids=[short_id(i) for i in ids])


def sample_points(g: SourceGrid, n: int = 3):
    """2-3 query points near distinct cell centres (offset a little towards a
    neighbour), one of them on a missing value when the first step has some:
    [(lon, lat, (j, i) of the nearest cell)]."""
    ny, nx = g.shape
    lat2, lon2 = g.cells()
    cands = [(ny // 2, nx // 2), (ny // 3, nx - 1), ((2 * ny) // 3, 0), (ny - 1, nx // 3), (0, nx // 2)]
    first = g.data[(0,) * (g.data.ndim - 2)]
    missing = np.argwhere(np.isnan(first) & (np.abs(lat2) < 85))
    cands = cands[:2] + ([tuple(missing[len(missing) // 2])] if len(missing) else []) + cands[2:]
    out, seen = [], set()
    for j, i in cands:
        if not (0 <= j < ny and 0 <= i < nx) or abs(lat2[j, i]) > 85:
            continue
        jn = j + 1 if j + 1 < ny else j - 1
        i_n = i + 1 if i + 1 < nx else i - 1
        dlat = (lat2[jn, i] - lat2[j, i]) if (ny > 1 and not g.two_d) else (lat2[j, i_n] - lat2[j, i])
        dlon = float(norm_lon(lon2[j, i_n] - lon2[j, i])) if nx > 1 else 0.0
        step = math.hypot(dlat, dlon) or 1.0
        f = min(0.1, 0.5 / step)
        lon = round(float(norm_lon(lon2[j, i] + f * dlon)), 6)
        lat = round(float(lat2[j, i] + f * dlat), 6)
        cell = g.nearest(lon, lat)
        if cell not in seen:
            seen.add(cell)
            out.append((lon, lat, cell))
        if len(out) == n:
            break
    assert len(out) >= 2, f"{g.id}: fewer than 2 sample points"
    return out


# --------------------------------------------------------------------------- HTTP and documents


def collection(server, cid: str) -> dict:
    return server.json(f"/edr/collections/{cid}")


def edr(srv, path: str, **params) -> requests.Response:
    """GET /edr/collections/{path} with query parameters (`_` in names becomes `-`)."""
    return srv.get(f"/edr/collections/{path}", params={k.replace("_", "-"): v for k, v in params.items()})


def edr_ok(srv, path: str, **params) -> requests.Response:
    r = edr(srv, path, **params)
    assert r.status_code == 200, f"GET {r.url} -> {r.status_code}: {r.text[:600]}"
    return r


def covjson(r: requests.Response, calendar: str) -> dict:
    """A CoverageJSON answer: its structure checked here, and validated with
    covjson-pydantic unless the calendar has dates that are no real dates (360_day)."""
    assert r.headers["content-type"].startswith(COVJSON_TYPE), r.headers["content-type"]
    doc = r.json()
    assert doc["type"] in ("Coverage", "CoverageCollection"), doc["type"]
    for cov in doc.get("coverages", [doc]):
        assert cov["type"] == "Coverage" and cov["domain"]["type"] == "Domain"
        for name, rng in cov["ranges"].items():
            assert rng["type"] == "NdArray" and name in (doc.get("parameters") or cov.get("parameters"))
            assert len(rng["values"]) == math.prod(rng["shape"]) and len(rng["axisNames"]) == len(rng["shape"])
    if calendar != "360_day":
        model = CoverageCollection if doc["type"] == "CoverageCollection" else Coverage
        model.model_validate_json(r.text)
    return doc


def range_array(rng: dict, order) -> np.ndarray:
    """The values of an NdArray range (null -> NaN) with its axes in `order`."""
    vals = np.array([np.nan if v is None else v for v in rng["values"]], dtype=float)
    arr = vals.reshape(rng["shape"])
    names = rng["axisNames"]
    assert sorted(names) == sorted(order), f"axisNames {names}, expected {order}"
    return arr.transpose([names.index(n) for n in order])


def assert_values(got, expected, what: str):
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    nul_got, nul_exp = np.isnan(got), np.isnan(expected)
    assert np.array_equal(nul_got, nul_exp), (
        f"{what}: null at {np.argwhere(nul_got & ~nul_exp)[:5].tolist()} where the file has values, "
        f"values at {np.argwhere(~nul_got & nul_exp)[:5].tolist()} where it has none")
    np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=what, equal_nan=True)


def assert_problem(r: requests.Response, status: int):
    assert r.status_code == status, f"GET {r.url}: {r.status_code}, expected {status}: {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert body.get("status") == status and body.get("title") and str(body.get("detail", "")).strip(), body


def link(doc: dict, rel: str) -> str | None:
    return next((ln["href"] for ln in doc.get("links", []) if ln["rel"] == rel), None)


def check_point_coverage(g: SourceGrid, cov: dict, cell, t_index=None):
    """A coverage at one cell: its x/y are the cell centre, its t labels and values
    those of the source (all steps, or `t_index`)."""
    t_index = np.arange(len(g.labels)) if t_index is None else np.asarray(t_index)
    j, i = cell
    lat, lon = g.cell(j, i)
    axes = cov["domain"]["axes"]
    what = f"{g.id} cell {cell} ({lon}, {lat})"
    assert len(axes["x"]["values"]) == 1 and len(axes["y"]["values"]) == 1, axes.keys()
    x, y = axes["x"]["values"][0], axes["y"]["values"][0]
    assert abs(y - lat) < CELL_TOL and abs(norm_lon(x - lon)) < CELL_TOL, (
        f"{what}: the answer is the cell at ({x}, {y}), the nearest cell is at ({lon}, {lat})")
    assert axes["t"]["values"] == [g.labels[k] for k in t_index], f"{what}: t differs"
    rng = cov["ranges"][g.var]
    if g.z is None:
        assert cov["domain"]["domainType"] == "PointSeries", cov["domain"]["domainType"]
        assert rng["axisNames"] == ["t"], rng["axisNames"]
        assert_values(range_array(rng, ["t"]), g.data[t_index, j, i], what)
    else:
        assert cov["domain"]["domainType"] == "Grid", cov["domain"]["domainType"]
        assert rng["axisNames"] == ["t", "z", "y", "x"], rng["axisNames"]
        np.testing.assert_allclose(axes["z"]["values"], g.z, rtol=1e-12)
        got = range_array(rng, ["t", "z", "y", "x"])[:, :, 0, 0]
        assert_values(got, g.data[t_index, :, j, i], what)


def collection_cells(g: SourceGrid, doc: dict):
    """[(j, i)] of the coverages of a CoverageCollection, in their order."""
    assert doc["type"] == "CoverageCollection", doc["type"]
    return [g.index_of(c["domain"]["axes"]["x"]["values"][0], c["domain"]["axes"]["y"]["values"][0])
            for c in doc["coverages"]]


# --------------------------------------------------------------------------- landing, collections


def test_landing_and_conformance(server):
    land = server.json("/edr")
    assert link(land, "self") and link(land, "conformance") and link(land, "data")
    conf = server.json("/edr/conformance")["conformsTo"]
    for c in ("core", "collections", "json", "geojson", "covjson", "queries"):
        assert f"http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/{c}" in conf, c
    assert requests.get(link(land, "data"), timeout=60).json()["collections"]


def test_collections_paging(server):
    page = server.json("/edr/collections?limit=2")
    total = page["numberMatched"]
    assert len(page["collections"]) == 2 and page["numberReturned"] == 2
    all_ids = {d["id"] for d in server.datasets()}
    # the datasets with something to query: every gridded one, not the files of no grid
    assert set(gridded_ids()) <= all_ids and total < len(all_ids), (total, len(all_ids))
    seen = [c["id"] for c in page["collections"]]
    url, hops = link(page, "next"), 0
    assert url, "a first page of 2 has no next link"
    while url:
        page = requests.get(url, timeout=60).json()
        assert 1 <= len(page["collections"]) <= 2 and page["numberMatched"] == total
        seen += [c["id"] for c in page["collections"]]
        url, hops = link(page, "next"), hops + 1
        assert hops <= total, "the next links do not end"
    assert len(seen) == total and len(set(seen)) == total, \
        f"visited {len(seen)} ({len(set(seen))} distinct) of {total}"
    assert set(gridded_ids()) <= set(seen) <= all_ids


def test_collection_metadata(server):
    for cid in gridded_ids():
        g = source_grid(server, cid)
        col = collection(server, cid)
        assert col["id"] == cid and g.var in col["parameter_names"]
        assert SPATIAL_QUERIES <= set(col["data_queries"]), col["data_queries"].keys()
        assert {"CoverageJSON", "GeoJSON", "CSV", "NetCDF"} <= set(col["output_formats"])
        assert col["extent"]["temporal"]["interval"] == [[g.labels[0], g.labels[-1]]], cid
        w, s, e, n = col["extent"]["spatial"]["bbox"][0]
        lat2, lon2 = g.cells()
        assert s - 1e-6 <= np.min(lat2) and np.max(lat2) <= n + 1e-6, (cid, (w, s, e, n))
        if w <= e:
            assert np.all((norm_lon(lon2) >= w - 1e-6) & (norm_lon(lon2) <= e + 1e-6)), (cid, (w, s, e, n))
        if g.z is not None:
            np.testing.assert_allclose(col["extent"]["vertical"]["values"], g.z, rtol=1e-12)


# --------------------------------------------------------------------------- position on every grid


def test_position_equals_nearest_cell(server, grid_id):
    g = source_grid(server, grid_id)
    pts = sample_points(g)
    lon, lat, cell = pts[0]
    doc = covjson(edr_ok(server, f"{grid_id}/position", coords=f"POINT({lon} {lat})"), g.calendar)
    assert doc["type"] == "Coverage", doc["type"]
    check_point_coverage(g, doc, cell)
    multi = "MULTIPOINT(" + ",".join(f"({x} {y})" for x, y, _ in pts) + ")"
    doc = covjson(edr_ok(server, f"{grid_id}/position", coords=multi, parameter_name=g.var), g.calendar)
    assert doc["type"] == "CoverageCollection" and len(doc["coverages"]) == len(pts), doc["type"]
    for cov, (_, _, c) in zip(doc["coverages"], pts):
        check_point_coverage(g, cov, c)


def test_cell_centres_are_the_files(server):
    """The x/y of a position answer are the centre of the cell it answers with as
    the file records it (its lat/lon variables), to COORD_TOL degrees, on every grid
    (which cell is answered is test_position_equals_nearest_cell's concern)."""
    off = []
    for cid in gridded_ids():
        g = source_grid(server, cid)
        for lon, lat, _ in sample_points(g):
            axes = edr_ok(server, f"{cid}/position", coords=f"POINT({lon} {lat})").json()["domain"]["axes"]
            x, y = axes["x"]["values"][0], axes["y"]["values"][0]
            j, i = g.index_of(x, y)
            flat, flon = g.cell(j, i)
            if abs(y - flat) > COORD_TOL or abs(norm_lon(x - flon)) > COORD_TOL:
                off.append(f"{short_id(cid)} cell {(j, i)}: served ({x}, {y}), file lon/lat ({flon}, {flat})")
    assert not off, "served cell centres differ from the files':\n" + "\n".join(off)


# --------------------------------------------------------------------------- area and cube


def box_selection(server, cid: str, w, s, e, n) -> xr.DataArray:
    """xarray's selection of a regular-grid source in a lon/lat box: longitudes in
    -180..180 sorted ascending, latitudes in the file's order."""
    g = source_grid(server, cid)
    da = server.reference(cid).xarray()[g.var]
    da = da.assign_coords(lon=norm_lon(da["lon"].values)).sortby("lon")
    lat = da["lat"].values
    return da.sel(lon=slice(w, e)).isel(lat=np.flatnonzero((lat >= s) & (lat <= n)))


def check_grid_coverage(doc: dict, expected: xr.DataArray, labels, var: str):
    assert doc["type"] == "Coverage" and doc["domain"]["domainType"] == "Grid", doc["domain"]["domainType"]
    axes = doc["domain"]["axes"]
    np.testing.assert_allclose(axes["x"]["values"], expected["lon"].values, atol=1e-9, err_msg="x")
    np.testing.assert_allclose(axes["y"]["values"], expected["lat"].values, atol=1e-9, err_msg="y")
    assert axes["t"]["values"] == labels
    got = range_array(doc["ranges"][var], ["t", "y", "x"])
    assert_values(got, expected.transpose("time", "lat", "lon").values, var)


def test_area_regular_grid_is_masked_selection(server):
    xs, ys = [p[0] for p in FRANCE], [p[1] for p in FRANCE]
    box = box_selection(server, MIROC, min(xs), min(ys), max(xs), max(ys))
    lon2, lat2 = np.meshgrid(box["lon"].values, box["lat"].values)
    mask = inside_polygon(lon2, lat2, FRANCE)
    assert 10 < mask.sum() < mask.size and (box["lon"].values < 0).any()
    expected = box.where(xr.DataArray(mask, dims=("lat", "lon")))
    doc = covjson(edr_ok(server, f"{MIROC}/area", coords=wkt_ring(FRANCE)), "standard")
    check_grid_coverage(doc, expected, source_grid(server, MIROC).labels, "tas")


CUBES = {
    "MIROC6": (MIROC, (-5.0, 42.0, 8.0, 51.0), None),
    "descending-lat": ("misc/classic_desc_lat.nc", (-20.0, -30.0, 40.0, 30.0), "2000-03"),
}


@pytest.mark.parametrize("case", CUBES)
def test_cube_regular_grid_is_box_selection(server, case):
    cid, (w, s, e, n), month = CUBES[case]
    g = source_grid(server, cid)
    t_index = [k for k, lab in enumerate(g.labels) if month is None or lab.startswith(month)]
    expected = box_selection(server, cid, w, s, e, n).isel(time=t_index)
    params = {"bbox": f"{w},{s},{e},{n}", "crs": "CRS84"} | ({"datetime": month} if month else {})
    doc = covjson(edr_ok(server, f"{cid}/cube", **params), g.calendar)
    check_grid_coverage(doc, expected, [g.labels[k] for k in t_index], g.var)


AREAS = {
    "EUR-22-rotated": (EUR22, [(6, 45), (11, 45), (8.5, 48), (6, 45)], None),
    "tos-curvilinear": (TOS, [(-12, 36), (-6, 36), (-6, 42), (-12, 42), (-12, 36)], None),
    "EUR-11-joined": (EUR11, [(-20, 30), (30, 30), (30, 60), (-20, 60), (-20, 30)],
                      "2075-12-30T00:00:00Z/2076-01-02T00:00:00Z"),
}


@pytest.mark.parametrize("case", AREAS)
def test_area_2d_grid_cells_inside(server, case):
    cid, ring, dt = AREAS[case]
    g = source_grid(server, cid)
    lat2, lon2 = g.cells()
    inside = inside_polygon(norm_lon(lon2), lat2, ring)
    expected_cells = [tuple(int(k) for k in c) for c in np.argwhere(inside)]  # row-major = file order
    assert len(expected_cells) >= 2
    t_index = [k for k, lab in enumerate(g.labels) if dt is None or dt[:20] <= lab <= dt[21:]]
    params = {"coords": wkt_ring(ring)} | ({"datetime": dt} if dt else {})
    doc = covjson(edr_ok(server, f"{cid}/area", **params), g.calendar)
    got_cells = collection_cells(g, doc)
    assert got_cells == expected_cells, (
        f"cells {sorted(set(got_cells) - set(expected_cells))[:5]} should not be there, "
        f"{sorted(set(expected_cells) - set(got_cells))[:5]} are missing (or the order differs)")
    for cov, c in zip(doc["coverages"], got_cells):
        check_point_coverage(g, cov, c, t_index)
    if case.startswith("tos"):
        assert any(np.isnan(g.data[0][c]) for c in got_cells), "the tos area should include land cells"


# --------------------------------------------------------------------------- radius, corridor, trajectory

RADII = {
    "MIROC6": (MIROC, (2.3, 48.8), 300, "km"),
    "EUR-22": (EUR22, (10.0, 47.0), 40, "mi"),
    "tos": (TOS, (-20.0, 40.0), 250, "km"),
}


@pytest.mark.parametrize("case", RADII)
def test_radius_cells_within_distance(server, case):
    cid, (lon, lat), target, units = RADII[case]
    g = source_grid(server, cid)
    lat2, lon2 = g.cells()
    dist = haversine_km(lat, lon, lat2, lon2)
    within = clear_distance(dist / KM_PER[units], target)
    expected = [tuple(int(k) for k in c) for c in np.argwhere(dist <= within * KM_PER[units])]
    assert len(expected) >= 3
    doc = covjson(edr_ok(server, f"{cid}/radius", coords=f"POINT({lon} {lat})", within=within,
                         within_units=units), g.calendar)
    got = collection_cells(g, doc)
    assert got == expected, (
        f"within {within} {units}: extra {sorted(set(got) - set(expected))[:5]}, "
        f"missing {sorted(set(expected) - set(got))[:5]} (or the order differs)")
    for cov, c in zip(doc["coverages"], got):
        check_point_coverage(g, cov, c)


CORRIDORS = {
    "MIROC6": (MIROC, [(2.35, 48.85), (13.4, 52.5)], 300, "km"),
    "EUR-22": (EUR22, [(5.0, 45.0), (10.0, 46.5), (15.0, 45.0)], 30, "mi"),
    "tos": (TOS, [(-40.0, 30.0), (-20.0, 35.0)], 200, "km"),
}


@pytest.mark.parametrize("case", CORRIDORS)
def test_corridor_cells_within_half_width(server, case):
    cid, line, target, units = CORRIDORS[case]
    g = source_grid(server, cid)
    lat2, lon2 = g.cells()
    dist = polyline_distance_km(lat2, lon2, line)
    width = 2 * clear_distance(dist / KM_PER[units], target / 2)
    expected = [tuple(int(k) for k in c) for c in np.argwhere(dist <= width / 2 * KM_PER[units])]
    assert len(expected) >= 3
    doc = covjson(edr_ok(server, f"{cid}/corridor", coords=wkt_line(line), corridor_width=width,
                         width_units=units), g.calendar)
    got = collection_cells(g, doc)
    assert got == expected, (
        f"width {width} {units}: extra {sorted(set(got) - set(expected))[:5]}, "
        f"missing {sorted(set(expected) - set(got))[:5]} (or the order differs)")
    for cov, c in zip(doc["coverages"], got):
        check_point_coverage(g, cov, c)


def test_trajectory_linestringm(server):
    g = source_grid(server, EUR11)
    # vertex times 5 h after a step, 8 h after the last step of the first file, 9 h
    # before the first step of the second file
    when = ["2071-01-03T05:00:00", "2075-12-31T20:00:00", "2076-01-01T03:00:00"]
    verts = [(8.0, 49.3), (10.5, 38.0), (0.6, 25.0)]
    ms = [cftime.date2num(cftime.datetime.strptime(w, "%Y-%m-%dT%H:%M:%S", calendar="standard"),
                          "seconds since 1970-01-01", "standard") for w in when]
    coords = "LINESTRINGM(" + ",".join(f"{x} {y} {int(m)}" for (x, y), m in zip(verts, ms)) + ")"
    doc = covjson(edr_ok(server, f"{EUR11}/trajectory", coords=coords), g.calendar)
    assert doc["type"] == "Coverage" and doc["domain"]["domainType"] == "Trajectory"
    comp = doc["domain"]["axes"]["composite"]
    assert comp["coordinates"] == ["t", "x", "y"] and len(comp["values"]) == len(verts)
    epoch = g.epoch_seconds()
    expected = []
    for (x, y), m, (t_lab, cx, cy) in zip(verts, ms, comp["values"]):
        j, i = g.nearest(x, y)
        k = int(np.argmin(np.abs(epoch - m)))
        lat, lon = g.cell(j, i)
        assert t_lab == g.labels[k] and abs(cy - lat) < CELL_TOL and abs(norm_lon(cx - lon)) < CELL_TOL, \
            (t_lab, cx, cy, g.labels[k], lon, lat)
        expected.append(g.data[k, j, i])
    assert [v[0] for v in comp["values"]] == ["2071-01-03T12:00:00Z", "2075-12-31T12:00:00Z",
                                               "2076-01-01T12:00:00Z"]
    assert_values(range_array(doc["ranges"][g.var], ["composite"]), expected, "trajectory")


# --------------------------------------------------------------------------- datetime and z

DATETIMES = {
    "interval-across-files": (EUR11, "2075-12-30T00:00:00Z/2076-01-02T23:00:00Z",
                              lambda lab: "2075-12-30T00:00:00Z" <= lab <= "2076-01-02T23:00:00Z"),
    "open-start": (EUR11, "../2071-01-03T12:00:00Z", lambda lab: lab <= "2071-01-03T12:00:00Z"),
    "open-end": (EUR11, "2080-12-29T00:00:00Z/..", lambda lab: lab >= "2080-12-29T00:00:00Z"),
    "list": (EUR11, "2071-01-03T12:00:00Z,2072-02-29T12:00:00Z,2076-01-01T12:00:00Z",
             ["2071-01-03T12:00:00Z", "2072-02-29T12:00:00Z", "2076-01-01T12:00:00Z"]),
    "month": (EUR11, "2072-02", lambda lab: lab.startswith("2072-02-")),
    "instant-nearest": (EUR11, "2071-01-03T05:00:00Z", ["2071-01-03T12:00:00Z"]),
    # a date names a day: the step of that day, not the previous day's (tie at midnight)
    "date": (EUR11, "2076-01-01", ["2076-01-01T12:00:00Z"]),
    "date-list": (HADGEM, "2100-02-16,2100-04-16", ["2100-02-16T00:00:00Z", "2100-04-16T00:00:00Z"]),
    "360_day-month": (HADGEM, "2100-02", ["2100-02-16T00:00:00Z"]),
    "360_day-Feb-30": (HADGEM, "2100-02-30", ["2100-02-16T00:00:00Z"]),
    "noleap-month": (CESM2, "1952-02", ["1952-02-14T00:00:00Z"]),
}


@pytest.mark.parametrize("case", DATETIMES)
def test_datetime_forms(server, case):
    cid, dt, want = DATETIMES[case]
    g = source_grid(server, cid)
    wanted = [lab for lab in g.labels if want(lab)] if callable(want) else want
    assert wanted and set(wanted) <= set(g.labels), wanted
    t_index = [g.labels.index(lab) for lab in wanted]
    lon, lat, cell = sample_points(g)[0]
    doc = covjson(edr_ok(server, f"{cid}/position", coords=f"POINT({lon} {lat})", datetime=dt), g.calendar)
    got = doc["domain"]["axes"]["t"]["values"]
    assert got == wanted, \
        f"datetime={dt}: steps {got[:4]}...{got[-2:]} ({len(got)}), expected {wanted[:4]}... ({len(wanted)})"
    check_point_coverage(g, doc, cell, t_index)


def test_datetime_outside_or_impossible_is_400(server):
    for cid, dt in [(EUR11, "2090-01-01"), (EUR11, "2000-01-01/2001-01-01"), (EUR11, "2071-02-30"),
                    (CESM2, "1952-02-29")]:
        assert_problem(edr(server, f"{cid}/position", coords="POINT(8 49)" if cid == EUR11 else "POINT(124 3)",
                           datetime=dt), 400)


def _levels(server):
    return collection(server, CESM2)["extent"]["vertical"]["values"]


Z_CASES = {
    "list": lambda v: (f"{v[21]!r},{v[24]!r}", [21, 24]),
    "interval": lambda v: (f"{v[24]!r}/{v[21]!r}", [21, 22, 23, 24]),
    "repeat": lambda v: (f"R2/{v[21]!r}/{v[22] - v[21]!r}", [21, 22]),
    "single": lambda v: (f"{v[25]!r}", [25]),
}


@pytest.mark.parametrize("case", Z_CASES)
def test_z_levels(server, case):
    g = source_grid(server, CESM2)
    levels = _levels(server)
    np.testing.assert_allclose(levels, g.z, rtol=1e-12)
    z, idx = Z_CASES[case](levels)
    dt = "1950-01-01T00:00:00Z/1950-03-31T00:00:00Z"
    t_index = [k for k, lab in enumerate(g.labels) if "1950-01-01" <= lab <= "1950-03-31"]
    lon, lat, (j, i) = sample_points(g)[0]
    doc = covjson(edr_ok(server, f"{CESM2}/position", coords=f"POINT({lon} {lat})", datetime=dt, z=z), g.calendar)
    axes = doc["domain"]["axes"]
    np.testing.assert_allclose(axes["z"]["values"], g.z[idx], rtol=1e-12, err_msg=f"z={z}")
    assert axes["t"]["values"] == [g.labels[k] for k in t_index]
    if len(idx) == 1:  # one level: a PointSeries with a single-valued z axis
        assert doc["domain"]["domainType"] == "PointSeries", doc["domain"]["domainType"]
        got = range_array(doc["ranges"]["cl"], ["t"])[:, None]
    else:
        assert doc["domain"]["domainType"] == "Grid", doc["domain"]["domainType"]
        got = range_array(doc["ranges"]["cl"], ["t", "z", "y", "x"])[:, :, 0, 0]
    expected = g.data[np.ix_(t_index, idx)][:, :, j, i]
    assert np.nanmax(expected) > 0, "levels with cloud were expected"
    assert_values(got, expected, f"cl z={z}")


# --------------------------------------------------------------------------- other formats


def records_from_covjson(doc: dict, var: str) -> dict:
    """{(t, [z,] x, y): value} of the non-null cells of a Coverage/Collection; null
    values of point coverages are kept (NaN)."""
    out = {}
    for cov in doc.get("coverages", [doc]):
        axes = cov["domain"]["axes"]
        rng = cov["ranges"][var]
        names = rng["axisNames"]
        arr = np.array([np.nan if v is None else v for v in rng["values"]], float).reshape(rng["shape"])
        point = len(axes["x"]["values"]) == 1 == len(axes["y"]["values"])
        for idx in np.ndindex(*arr.shape):
            pos = dict(zip(names, idx))
            v = arr[idx]
            if np.isnan(v) and not point:
                continue  # outside the polygon
            key = (axes["t"]["values"][pos["t"]],)
            if "z" in pos:
                key += (round(axes["z"]["values"][pos["z"]], 9),)
            key += (round(axes["x"]["values"][pos.get("x", 0)], 9), round(axes["y"]["values"][pos.get("y", 0)], 9))
            out[key] = v
    return out


def records_from_csv(text: str, var: str, has_z: bool) -> dict:
    df = pd.read_csv(io.StringIO(text))
    cols = ["datetime"] + [c for c in df.columns if has_z and c not in ("datetime", "longitude", "latitude", var)] \
        + ["longitude", "latitude"]
    assert var in df.columns and all(c in df.columns for c in cols), list(df.columns)
    out = {}
    for row in df.itertuples(index=False):
        r = row._asdict()
        key = (r["datetime"],) + tuple(round(float(r[c]), 9) for c in cols[1:])
        out[key] = float(r[var])
    return out


def records_from_geojson(doc: dict, var: str, zname: str | None) -> dict:
    assert doc["type"] == "FeatureCollection"
    out = {}
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        p = f["properties"]
        x, y = f["geometry"]["coordinates"]
        key = (p["datetime"],) + ((round(p[zname], 9),) if zname else ()) + (round(x, 9), round(y, 9))
        out[key] = np.nan if p[var] is None else float(p[var])
    return out


def assert_same_records(got: dict, expected: dict, what: str):
    assert set(got) == set(expected), (
        f"{what}: extra {sorted(set(got) - set(expected))[:3]}, missing {sorted(set(expected) - set(got))[:3]}")
    keys = sorted(expected)
    assert_values([got[k] for k in keys], [expected[k] for k in keys], what)


FORMAT_CASES = {
    "tos-points-with-land": (TOS, "position", {"coords": "MULTIPOINT((-30 40),(-28 41),(10 50))"}),
    "CESM2-levels": (CESM2, "position", {"coords": "POINT(124 3)", "z": "-691.3894303143024,-820.8583686500788",
                                         "datetime": "1950-01-01T00:00:00Z/1950-03-31T00:00:00Z"}),
    "MIROC6-area": (MIROC, "area", {"coords": wkt_ring(FRANCE)}),
    "EUR-11-radius": (EUR11, "radius", {"coords": "POINT(8 45)", "within": "1500", "within-units": "km",
                                        "datetime": "2075-12-31T00:00:00Z/2076-01-01T23:00:00Z"}),
}


@pytest.mark.parametrize("case", FORMAT_CASES)
def test_csv_and_geojson_equal_covjson(server, case):
    cid, query, params = FORMAT_CASES[case]
    g = source_grid(server, cid)
    base = covjson(edr_ok(server, f"{cid}/{query}", **params), g.calendar)
    expected = records_from_covjson(base, g.var)
    assert len(expected) >= 3
    r = edr_ok(server, f"{cid}/{query}", **params, f="CSV")
    assert r.headers["content-type"].startswith("text/csv"), r.headers["content-type"]
    assert_same_records(records_from_csv(r.text, g.var, g.z is not None), expected, f"{case} CSV")
    r = edr_ok(server, f"{cid}/{query}", **params, f="GeoJSON")
    assert r.headers["content-type"].startswith("application/geo+json"), r.headers["content-type"]
    zname = None
    if g.z is not None:
        zname = next(k for k in r.json()["features"][0]["properties"] if k not in ("datetime", g.var))
    assert_same_records(records_from_geojson(r.json(), g.var, zname), expected, f"{case} GeoJSON")


def open_netcdf(r: requests.Response, tmp_path, name="edr.nc") -> xr.Dataset:
    assert r.status_code == 200, f"GET {r.url} -> {r.status_code}: {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/x-netcdf"), r.headers["content-type"]
    assert r.content[:4] == b"\x89HDF", "not a NetCDF-4 (HDF5) file"
    path = tmp_path / name
    path.write_bytes(r.content)
    return xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)).load()


def netcdf_index(ds: xr.Dataset, lat: float, lon: float) -> tuple:
    """Index (over the data's last two dims) of the cell centred at (lat, lon)."""
    lat_v, lon_v = ds["lat"].values, ds["lon"].values
    if lat_v.ndim == 1:
        j = np.flatnonzero(np.abs(lat_v - lat) < 1e-6)
        i = np.flatnonzero(np.abs(norm_lon(lon_v - lon)) < 1e-6)
        assert len(j) == 1 and len(i) == 1, (lat, lon, lat_v, lon_v)
        return int(j[0]), int(i[0])
    hit = np.argwhere((np.abs(lat_v - lat) < 1e-6) & (np.abs(norm_lon(lon_v - lon)) < 1e-6))
    assert len(hit) == 1, (lat, lon)
    return tuple(int(k) for k in hit[0])


def check_netcdf_cells(g: SourceGrid, ds: xr.Dataset, cells, t_index):
    """The asked cells carry the source values, the other cells of the file are fill."""
    assert [iso(d) for d in ds["time"].values] == [g.labels[k] for k in t_index]
    v = ds[g.var].values  # (time, y, x), fill decoded to NaN
    asked = np.zeros(v.shape[-2:], dtype=bool)
    for j, i in cells:
        a, b = netcdf_index(ds, *g.cell(j, i))
        asked[a, b] = True
        assert_values(v[:, a, b], g.data[t_index, j, i], f"NetCDF cell {(j, i)}")
    assert np.isnan(v[:, ~asked]).all(), "cells that were not asked for are not fill values"


def test_netcdf_points_regular(server, tmp_path):
    g = source_grid(server, MIROC)
    pts = [(2.3, 48.8), (-70.0, -30.0)]
    r = edr(server, f"{MIROC}/position", coords="MULTIPOINT(" + ",".join(f"({x} {y})" for x, y in pts) + ")",
            f="NetCDF")
    ds = open_netcdf(r, tmp_path)
    assert ds[g.var].shape == (1, 2, 2), ds[g.var].shape
    check_netcdf_cells(g, ds, [g.nearest(x, y) for x, y in pts], [0])


def test_netcdf_points_rotated_across_files(server, tmp_path):
    g = source_grid(server, EUR11)
    pts = [(8.0, 49.3), (10.5, 38.0), (-3.0, 36.0)]
    dt = "2075-12-30T00:00:00Z/2076-01-02T00:00:00Z"
    t_index = [k for k, lab in enumerate(g.labels) if dt[:20] <= lab <= dt[21:]]
    r = edr(server, f"{EUR11}/position", coords="MULTIPOINT(" + ",".join(f"({x} {y})" for x, y in pts) + ")",
            datetime=dt, f="NetCDF")
    ds = open_netcdf(r, tmp_path)
    check_netcdf_cells(g, ds, [g.nearest(x, y) for x, y in pts], t_index)


def test_netcdf_area_regular(server, tmp_path):
    g = source_grid(server, MIROC)
    ds = open_netcdf(edr(server, f"{MIROC}/area", coords=wkt_ring(FRANCE), f="NetCDF"), tmp_path)
    lat2, lon2 = g.cells()
    cells = [tuple(int(k) for k in c) for c in np.argwhere(inside_polygon(norm_lon(lon2), lat2, FRANCE))]
    check_netcdf_cells(g, ds, cells, [0])


def test_netcdf_area_longitudes_monotonic(server, tmp_path):
    """CF (section 5): a coordinate variable is strictly monotonic; an area that
    crosses the prime meridian on a 0..360 grid must not give lon = 357, 358, 0, 1."""
    ds = open_netcdf(edr(server, f"{MIROC}/area", coords=wkt_ring(FRANCE), f="NetCDF"), tmp_path)
    lon = ds["lon"].values
    assert np.all(np.diff(lon) > 0) or np.all(np.diff(lon) < 0), f"lon is not monotonic: {lon.tolist()}"


# --------------------------------------------------------------------------- edr-xarray


def test_edr_xarray_opens_a_cube(server):
    w, s, e, n = -5.0, 42.0, 8.0, 51.0
    ds = xr.open_dataset(f"{server.url}/edr/collections/{MIROC}", engine="edr", bbox=(w, s, e, n),
                         datetime="2015-01-01T00:00:00Z/2015-01-02T00:00:00Z")
    try:
        got = ds["tas"].load()
    finally:
        ds.close()
    expected = box_selection(server, MIROC, w, s, e, n).isel(time=0)
    assert got.dims == ("t", "y", "x"), got.dims
    np.testing.assert_allclose(got["x"].values, expected["lon"].values, atol=1e-9)
    np.testing.assert_allclose(got["y"].values, expected["lat"].values, atol=1e-9)
    assert str(got["t"].values[0])[:19] == "2015-01-01T12:00:00"
    assert_values(got.values[0], expected.values, "edr-xarray tas")


# --------------------------------------------------------------------------- errors

ERRORS = {
    "bad-wkt": (f"{MIROC}/position", {"coords": "POINT(2.3)"}, 400),
    "not-wkt": (f"{MIROC}/position", {"coords": "CIRCLE(2 48, 5)"}, 400),
    "no-coords": (f"{MIROC}/position", {}, 400),
    "bad-datetime": (f"{MIROC}/position", {"coords": "POINT(2 48)", "datetime": "2015-13-45"}, 400),
    "unknown-parameter": (f"{MIROC}/position", {"coords": "POINT(2 48)", "parameter-name": "pr"}, 400),
    "crs-3857": (f"{MIROC}/position", {"coords": "POINT(2 48)", "crs": "EPSG:3857"}, 400),
    "outside-regional-grid": (f"{EUR11}/position", {"coords": "POINT(150 -30)"}, 400),
    "unknown-format": (f"{MIROC}/position", {"coords": "POINT(2 48)", "f": "XML"}, 400),
    "bad-units": (f"{MIROC}/radius", {"coords": "POINT(2 48)", "within": "3", "within-units": "parsec"}, 400),
    "unknown-collection": ("no.such.collection", {}, 404),
    "unknown-collection-query": ("no.such.collection/position", {"coords": "POINT(2 48)"}, 404),
    "unknown-query": (f"{MIROC}/banana", {"coords": "POINT(2 48)"}, 404),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_problem_json(server, case):
    path, params, status = ERRORS[case]
    assert_problem(server.get(f"/edr/collections/{path}", params=params), status)
    assert server.alive() and server.healthy()
    assert edr(server, f"{MIROC}/position", coords="POINT(2 48)", f="CSV").status_code == 200


def test_too_large_is_413(server, start_server):
    srv = start_server([server.esgf], extra_args=["--max-response-bytes", "1000"], name="edr-limit")
    assert_problem(edr(srv, f"{MIROC}/cube", bbox="-10,30,30,60"), 413)
    assert srv.alive() and srv.healthy()
    small = edr(srv, f"{MIROC}/position", coords="POINT(2 48)", f="CSV")
    assert small.status_code == 200 and len(small.content) < 1000, small.text[:200]


# --------------------------------------------------------------------------- locations


def test_locations(server, start_server, tmp_path):
    box = [[-2, 43], [8, 43], [8, 50], [-2, 50], [-2, 43]]
    features = [
        {"type": "Feature", "id": "paris", "properties": {"name": "Paris"},
         "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}},
        {"type": "Feature", "properties": {"name": "france-box"},
         "geometry": {"type": "Polygon", "coordinates": [box]}},
    ]
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    srv = start_server([server.esgf], extra_args=["--edr-locations", str(path)], name="edr-locations")
    listed = edr_ok(srv, f"{MIROC}/locations").json()
    assert listed["type"] == "FeatureCollection"
    assert sorted(f["id"] for f in listed["features"]) == ["france-box", "paris"]
    paris = covjson(edr_ok(srv, f"{MIROC}/locations/paris"), "standard")
    assert paris == edr_ok(srv, f"{MIROC}/position", coords="POINT(2.35 48.85)").json()
    check_point_coverage(source_grid(server, MIROC), paris, source_grid(server, MIROC).nearest(2.35, 48.85))
    area = edr_ok(srv, f"{MIROC}/locations/france-box").json()
    assert area == edr_ok(srv, f"{MIROC}/area", coords=wkt_ring(box)).json()
    assert_problem(edr(srv, f"{MIROC}/locations/atlantis"), 404)
