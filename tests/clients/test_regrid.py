"""The `regrid` process (and `reproject`) checked against CDO (Debian `cdo`): `remapnn`,
`remapbil` and `remapcon` onto the same target grids (a CDO grid description written
from the grid cirrus returns), on the real ESGF samples (MIROC6 Gaussian grid, the
CORDEX rotated-pole EUR-22 file, the curvilinear CNRM `tos` ocean file with land
masked) and the synthetic samples.

- nearest and bilinear: mean absolute difference below 1e-4 of the field's range over
  the cells both give a value;
- conservative: the area-weighted mean is preserved to 1e-6 (relative): over the
  globe for global sources, and over a block of whole target cells inside the source
  domain for regional/ocean sources (the source side computed here with an independent
  polygon clipper in the (longitude, sin latitude) plane, from the file's cell
  vertices);
- the process is offered by WPS (DescribeProcess) and OGC API - Processes, chains in
  `orchestrate`, keeps weights under the state directory, names files as rook does.

Numbers are printed (run with `-s` to see them)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import xml.etree.ElementTree as ET

import netCDF4
import numpy as np
import pytest
import requests

from proc_util import CNRM, EUR22, MIROC, SYN_DAY, execute, problem, run_ok

EUR44 = "cordex.output.EUR-44.CIRRUS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.CIRRUS-RCM1.v1.day.tas.v20250101"
CDO = shutil.which("cdo")
assert CDO, "cdo (Debian package cdo, installed by scripts/test) is not installed"

CDO_OP = {"nearest_s2d": "remapnn", "bilinear": "remapbil", "conservative": "remapcon"}
RESULTS: dict = {}


@pytest.fixture(scope="module", autouse=True)
def summary_file():
    """After the module, writes its numbers to $CIRRUS_REGRID_RESULTS if set."""
    yield
    import os
    target = os.environ.get("CIRRUS_REGRID_RESULTS")
    if target:
        with open(target, "w") as fh:
            json.dump(RESULTS, fh, indent=1)


# --------------------------------------------------------------------------- helpers


def local_files(server, dsid: str):
    entry = next(d for d in server.datasets() if d["id"] == dsid)
    return [server.local_path(f) for f in entry["files"]]


def regrid(server, tmp_path, collection: str, method: str, grid: str, custom: str | None = None, **extra):
    inputs = {"collection": collection, "method": method, "grid": grid, **extra}
    if custom is not None:
        inputs["custom_grid"] = custom
    doc = run_ok(server, "regrid", inputs)
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in doc["files"]:
        r = requests.get(f["href"], timeout=300)
        assert r.status_code == 200, r.text[:300]
        p = tmp_path / f["title"]
        p.write_bytes(r.content)
        paths.append(p)
    return doc, paths


def cdo_grid(path, out):
    """A CDO grid description of the (evenly spaced) lat/lon grid of a result."""
    with netCDF4.Dataset(path) as nc:
        lat, lon = nc["lat"][:].astype(float), nc["lon"][:].astype(float)
    assert np.allclose(np.diff(lat), lat[1] - lat[0]) and np.allclose(np.diff(lon), lon[1] - lon[0])
    out.write_text(
        f"gridtype = lonlat\nxsize = {lon.size}\nysize = {lat.size}\n"
        f"xfirst = {float(lon[0])!r}\nxinc = {float(lon[1] - lon[0])!r}\n"
        f"yfirst = {float(lat[0])!r}\nyinc = {float(lat[1] - lat[0])!r}\n"
    )
    return out


def cdo_remap(op, grid, src, out, var):
    subprocess.run([CDO, "-s", "-O", f"{op},{grid}", f"-selname,{var}", str(src), str(out)], check=True,
                   capture_output=True, timeout=600)
    return out


def values(path, var):
    with netCDF4.Dataset(path) as nc:
        v = nc[var][:]
        return np.ma.filled(v.astype(float), np.nan)


def compare(mine, cdo, label):
    """Mean absolute difference over cells both define, relative to the field's range."""
    n = min(mine.shape[0], cdo.shape[0])
    a, b = mine[:n], cdo[:n]
    assert a.shape == b.shape, (a.shape, b.shape)
    both = np.isfinite(a) & np.isfinite(b)
    assert both.sum() > 0.5 * np.isfinite(b).sum(), f"{label}: only {both.sum()} common cells"
    rng = float(np.nanmax(b) - np.nanmin(b))
    mad = float(np.abs(a - b)[both].mean()) / rng
    RESULTS[label] = {"mad_over_range": mad, "common": int(both.sum()), "cdo_only": int((np.isfinite(b) & ~np.isfinite(a)).sum()),
                      "cirrus_only": int((np.isfinite(a) & ~np.isfinite(b)).sum())}
    print(f"\n{label}: MAD/range {mad:.3g} over {both.sum()} cells "
          f"(cdo only {RESULTS[label]['cdo_only']}, cirrus only {RESULTS[label]['cirrus_only']})")
    return mad


def cell_areas(lat_b, lon_b):
    """Areas (sr) of regular lat/lon cells from (n, 2) bounds."""
    mu = np.abs(np.sin(np.radians(lat_b[:, 1])) - np.sin(np.radians(lat_b[:, 0])))
    return mu[:, None] * np.radians(np.abs(lon_b[:, 1] - lon_b[:, 0]))[None, :]


def area_mean(field, area):
    ok = np.isfinite(field)
    return float((field[ok] * np.broadcast_to(area, field.shape)[ok]).sum() / np.broadcast_to(area, field.shape)[ok].sum())


# an independent polygon clipper in the (lon, sin lat) plane


def _clip(poly, axis, v, above):
    out = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ia = a[axis] >= v if above else a[axis] <= v
        ib = b[axis] >= v if above else b[axis] <= v
        if ia:
            out.append(a)
        if ia != ib:
            t = (v - a[axis]) / (b[axis] - a[axis])
            q = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
            q[axis] = v
            out.append(tuple(q))
    return out


def _shoelace(p):
    if len(p) < 3:
        return 0.0
    x = np.array([q[0] for q in p]) - p[0][0]
    y = np.array([q[1] for q in p]) - p[0][1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))) / 2


def box_integral(vlon, vlat, clon, field, box):
    """Sum of field * area(cell intersect box) (sr) over source cells, the cells given by
    their vertices (n, 4) in degrees; box = (lon0, lon1, lat0, lat1)."""
    l0, l1, b0, b1 = box
    m0, m1 = math.sin(math.radians(b0)), math.sin(math.radians(b1))
    centre = (l0 + l1) / 2
    c = centre + (clon - centre + 180) % 360 - 180  # centres near the box
    lam = c[:, None] + (vlon - c[:, None] + 180) % 360 - 180
    mu = np.sin(np.radians(vlat))
    inside = (lam >= l0) & (lam <= l1) & (mu >= m0) & (mu <= m1)
    full = inside.all(axis=1)
    outside = (lam.max(1) <= l0) | (lam.min(1) >= l1) | (mu.max(1) <= m0) | (mu.min(1) >= m1)
    total, used = 0.0, 0
    for k in np.nonzero(~outside)[0]:
        poly = list(zip(lam[k], mu[k]))
        if not full[k]:
            for axis, v, above in ((0, l0, True), (0, l1, False), (1, m0, True), (1, m1, False)):
                poly = _clip(poly, axis, v, above)
                if not poly:
                    break
        a = math.radians(1) * _shoelace(poly)
        if a > 0:
            assert np.isfinite(field[k]), f"source cell {k} in the box is missing"
            total += field[k] * a
            used += 1
    return total, used


def box_check(label, out_path, var, src_path, src_var, vlon_name, vlat_name, box):
    """Conservation over a block of whole target cells: the target's area integral equals
    the source cells' integral over the same box."""
    with netCDF4.Dataset(out_path) as nc:
        lat_b, lon_b = nc["lat_bnds"][:].astype(float), nc["lon_bnds"][:].astype(float)
        f = np.ma.filled(nc[var][0].astype(float), np.nan)
    rows = np.nonzero((lat_b.min(1) >= box[2] - 1e-9) & (lat_b.max(1) <= box[3] + 1e-9))[0]
    cols = np.nonzero((lon_b.min(1) >= box[0] - 1e-9) & (lon_b.max(1) <= box[1] + 1e-9))[0]
    assert rows.size > 5 and cols.size > 5
    block = f[np.ix_(rows, cols)]
    assert np.isfinite(block).all(), f"{label}: target cells in the box are missing"
    area = cell_areas(lat_b[rows], lon_b[cols])
    target = float((block * area).sum())
    box = (lon_b[cols].min(), lon_b[cols].max(), lat_b[rows].min(), lat_b[rows].max())
    with netCDF4.Dataset(src_path) as nc:
        src = np.ma.filled(nc[src_var][0].astype(float), np.nan).ravel()
        vlon = np.asarray(nc[vlon_name][:], dtype=float).reshape(-1, 4)
        vlat = np.asarray(nc[vlat_name][:], dtype=float).reshape(-1, 4)
        clon = np.asarray(nc["lon"][:], dtype=float).ravel()
    source, used = box_integral(vlon, vlat, clon, src, box)
    rel = abs(target - source) / abs(source)
    RESULTS[label] = {"relative_difference": rel, "target_cells": int(block.size), "source_cells": used}
    print(f"\n{label}: box {box} integral target {target:.10g} source {source:.10g} rel. diff {rel:.3g} "
          f"({block.size} target cells, {used} source cells)")
    assert rel < 1e-6, f"{label}: area integral not preserved ({rel:.3g})"


# --------------------------------------------------------------------------- vs CDO


@pytest.mark.parametrize("method", ["nearest_s2d", "bilinear", "conservative"])
@pytest.mark.parametrize("grid", ["1deg", "2pt5deg"])
def test_miroc_gaussian_vs_cdo(server, tmp_path, method, grid):
    doc, [out] = regrid(server, tmp_path, MIROC, method, grid)
    assert out.name.endswith(f"_regrid-{method}-{ {'1deg': '180x360', '2pt5deg': '72x144'}[grid]}_cells_grid.nc".replace(" ", ""))
    src = local_files(server, MIROC)[0]
    ref = cdo_remap(CDO_OP[method], cdo_grid(out, tmp_path / "grid.txt"), src, tmp_path / "cdo.nc", "tas")
    mine, theirs = values(out, "tas"), values(ref, "tas")
    mad = compare(mine, theirs, f"MIROC6 tas {method} {grid}")
    if method != "conservative":
        assert mad < 1e-4
    else:
        assert mad < 1e-3
        # global: the area-weighted mean is preserved
        with netCDF4.Dataset(src) as nc:
            sa = cell_areas(nc["lat_bnds"][:].astype(float), nc["lon_bnds"][:].astype(float))
        with netCDF4.Dataset(out) as nc:
            ta = cell_areas(nc["lat_bnds"][:].astype(float), nc["lon_bnds"][:].astype(float))
        ms, mt = area_mean(values(src, "tas")[0], sa), area_mean(mine[0], ta)
        rel = abs(ms - mt) / abs(ms)
        RESULTS[f"MIROC6 tas conservative {grid} mean"] = rel
        print(f"\nMIROC6 conservative {grid}: area mean source {ms:.9f} target {mt:.9f} rel. diff {rel:.3g}")
        assert rel < 1e-6


def test_miroc_to_quarter_degree_bilinear(server, tmp_path):
    doc, [out] = regrid(server, tmp_path, MIROC, "bilinear", "0pt25deg")
    with netCDF4.Dataset(out) as nc:
        assert nc["lat"].shape == (720,) and nc["lon"].shape == (1440,)
        assert nc["lat"][0] == -89.875 and nc["lon"][0] == 0.125
    ref = cdo_remap("remapbil", cdo_grid(out, tmp_path / "g.txt"), local_files(server, MIROC)[0], tmp_path / "c.nc", "tas")
    assert compare(values(out, "tas"), values(ref, "tas"), "MIROC6 tas bilinear 0pt25deg") < 1e-4


EUR_GRID = "-45 65 0.25 20 75 0.25"


@pytest.mark.parametrize("method", ["nearest_s2d", "bilinear", "conservative"])
def test_cordex_rotated_pole_vs_cdo(server, tmp_path, method):
    doc, [out] = regrid(server, tmp_path, EUR22, method, "custom", EUR_GRID)
    assert out.name.endswith(f"_regrid-{method}-220x440_cells_grid.nc")
    src = local_files(server, EUR22)[0]
    ref = cdo_remap(CDO_OP[method], cdo_grid(out, tmp_path / "grid.txt"), src, tmp_path / "cdo.nc", "tas")
    mad = compare(values(out, "tas"), values(ref, "tas"), f"EUR-22 tas {method}")
    assert mad < (1e-4 if method != "conservative" else 1e-3)
    if method == "conservative":
        box_check("EUR-22 conservative box", out, "tas", src, "tas", "lon_vertices", "lat_vertices", (0.0, 10.0, 45.0, 55.0))


@pytest.mark.parametrize("method", ["nearest_s2d", "bilinear", "conservative"])
def test_curvilinear_ocean_vs_cdo(server, tmp_path, method):
    doc, [out] = regrid(server, tmp_path, CNRM, method, "1deg")
    src = local_files(server, CNRM)[0]
    ref = cdo_remap(CDO_OP[method], cdo_grid(out, tmp_path / "grid.txt"), src, tmp_path / "cdo.nc", "tos")
    mad = compare(values(out, "tos"), values(ref, "tos"), f"CNRM tos {method}")
    assert mad < (1e-4 if method != "conservative" else 1e-3)
    if method == "conservative":
        # a block of the tropical Pacific: ocean everywhere
        box_check("CNRM tos conservative box", out, "tos", src, "tos", "bounds_lon", "bounds_lat", (190.0, 215.0, -20.0, 5.0))


def test_synthetic_multi_file_conservative_and_bilinear(server, tmp_path):
    # 2 files x 365 days joined: every time step regridded, means preserved on each
    doc, outs = regrid(server, tmp_path, SYN_DAY, "conservative", "1deg")
    files = local_files(server, SYN_DAY)
    mine = np.concatenate([values(p, "tas") for p in outs])
    assert mine.shape == (730, 180, 360)
    with netCDF4.Dataset(files[0]) as nc:
        sa = cell_areas(nc["lat_bnds"][:].astype(float), nc["lon_bnds"][:].astype(float))
    with netCDF4.Dataset(outs[0]) as nc:
        ta = cell_areas(nc["lat_bnds"][:].astype(float), nc["lon_bnds"][:].astype(float))
    src = np.concatenate([values(f, "tas") for f in files])
    worst = max(abs(area_mean(src[t], sa) - area_mean(mine[t], ta)) / abs(area_mean(src[t], sa)) for t in range(0, 730, 7))
    RESULTS["SYN tas conservative 1deg worst daily mean"] = worst
    print(f"\nsynthetic 2.5deg -> 1deg conservative, 730 days: worst relative mean difference {worst:.3g}")
    assert worst < 1e-6
    ref = cdo_remap("remapcon", cdo_grid(outs[0], tmp_path / "g.txt"), files[0], tmp_path / "c.nc", "tas")
    assert compare(mine[:365], values(ref, "tas"), "SYN tas conservative 1deg") < 1e-3
    doc, outs = regrid(server, tmp_path, EUR44, "bilinear", "0pt5deg")
    ref = cdo_remap("remapbil", cdo_grid(outs[0], tmp_path / "g2.txt"), local_files(server, EUR44)[0], tmp_path / "c2.nc", "tas")
    assert compare(values(outs[0], "tas"), values(ref, "tas"), "EUR-44 synthetic tas bilinear 0pt5deg") < 1e-4


# --------------------------------------------------------------------------- behaviour


def test_adaptive_masking_threshold_on_coasts(server, tmp_path):
    counts = {}
    for thr in (0.0, 0.5, 1.0):
        _, [out] = regrid(server, tmp_path / str(thr), CNRM, "conservative", "2pt5deg", adaptive_masking_threshold=thr)
        counts[thr] = int(np.isfinite(values(out, "tos")).sum())
    print(f"\nCNRM tos conservative 2pt5deg valid cells by threshold: {counts}")
    assert counts[0.0] > counts[0.5] > counts[1.0] > 0


def test_output_is_cf_with_history_and_provenance(server, tmp_path):
    doc, [out] = regrid(server, tmp_path, EUR22, "bilinear", "auto")
    with netCDF4.Dataset(out) as nc:
        assert nc["lat"].bounds == "lat_bnds" and nc["lon"].bounds == "lon_bnds"
        assert nc["lat"].units == "degrees_north" and nc["lat_bnds"].shape == (nc["lat"].size, 2)
        tas = nc["tas"]
        assert tas.standard_name == "air_temperature" and tas.units == "K" and tas.dimensions == ("time", "lat", "lon")
        assert not hasattr(tas, "grid_mapping")
        assert "rotated_latitude_longitude" not in nc.variables and "rlat" not in nc.dimensions
        assert "height" in nc.variables and "height" in tas.coordinates
        assert nc.history.splitlines()[0].count("regrid") >= 1
        assert nc.regrid_method == "bilinear" and nc.Conventions.startswith("CF-1.7")
        assert "time_bnds" in nc.variables
        # auto: the source's extent and about its resolution
        nlat, nlon = nc["lat"].size, nc["lon"].size
    assert (nlat, nlon) == (201, 225)
    assert out.name.endswith(f"_regrid-bilinear-{nlat}x{nlon}_cells_grid.nc")
    prov = requests.get(doc["prov"]["href"], timeout=30).json()
    acts = [a for a in prov["activity"].values() if a.get("cirrus:operation") == "regrid"]
    assert acts and acts[0]["cirrus:method"] == "bilinear"


def test_weights_are_kept_under_the_state_directory(server, tmp_path):
    wdir = server.state / "cache" / "regrid-weights"
    regrid(server, tmp_path, EUR22, "conservative", "2pt5deg")
    files = list(wdir.glob("conservative-*.weights"))
    assert files, f"no weights files in {wdir}"
    before = {f: f.stat().st_mtime for f in files}
    regrid(server, tmp_path / "again", EUR22, "conservative", "2pt5deg")
    assert {f: f.stat().st_mtime for f in wdir.glob("conservative-*.weights")} == before


def test_grid_of_another_dataset(server, tmp_path):
    _, [out] = regrid(server, tmp_path, EUR22, "bilinear", MIROC)
    with netCDF4.Dataset(out) as a, netCDF4.Dataset(local_files(server, MIROC)[0]) as b:
        assert np.allclose(a["lat"][:], b["lat"][:]) and np.allclose(a["lon"][:], b["lon"][:])
        assert np.allclose(a["lat_bnds"][:], b["lat_bnds"][:])


def tif_values(path, tmp_path, band=1):
    """A band of a GeoTIFF as float32, read by GDAL (gdal_translate to raw ENVI)."""
    raw = tmp_path / f"{path.stem}_b{band}.bin"
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-b", str(band), str(path), str(raw)], check=True)
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(path)], capture_output=True, text=True, check=True).stdout)
    w, h = info["size"]
    return np.fromfile(raw, dtype=np.float32).reshape(h, w).astype(float)


def test_geotiff_output(server, tmp_path):
    _, [out] = regrid(server, tmp_path, CNRM, "bilinear", "1deg", output_format="cog")
    assert out.suffix == ".tif"
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(out)], capture_output=True, text=True, check=True).stdout)
    assert info["size"] == [360, 180]
    assert info["geoTransform"] == [0.0, 1.0, 0.0, 90.0, 0.0, -1.0]
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert info["bands"][0]["metadata"][""]["time"].startswith("2015-01-16")
    assert "4326" in info["coordinateSystem"]["wkt"]
    nc = tmp_path / "nc"
    nc.mkdir()
    _, [ref] = regrid(server, nc, CNRM, "bilinear", "1deg")
    a = values(ref, "tos")[0][::-1]  # north-up
    b = tif_values(out, tmp_path)
    b[b > 1e19] = np.nan
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    assert np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-5)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("inputs, needle", [
    ({"grid": "custom"}, "Parameter 'custom_grid' is required when grid='custom'"),
    ({"grid": "custom", "custom_grid": "1 2 3 4"}, "Invalid custom_grid format: expected 1, 2, 3, or 6 values, got 4"),
    ({"method": "patch"}, "not allowed"),
    ({"grid": "nonsense-grid"}, "neither a grid name"),
    ({"adaptive_masking_threshold": "2"}, "0..1"),
])
def test_invalid_inputs(server, inputs, needle):
    r = execute(server, "regrid", {"collection": EUR22, **inputs})
    assert r.status_code == 400, r.text
    assert needle in problem(r)["detail"]


# --------------------------------------------------------------------------- protocols


def test_offered_by_wps_and_ogc_api(server):
    r = requests.get(f"{server.url}/wps", params={"service": "WPS", "request": "DescribeProcess", "version": "1.0.0",
                                                  "identifier": "regrid"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    root = ET.fromstring(r.content)
    ids = [e.text for e in root.iter("{http://www.opengis.net/ows/1.1}Identifier")]
    for i in ("regrid", "collection", "method", "grid", "custom_grid", "adaptive_masking_threshold", "output_format"):
        assert i in ids, ids
    allowed = [e.text for e in root.iter("{http://www.opengis.net/ows/1.1}Value")]
    assert {"nearest_s2d", "bilinear", "conservative"} <= set(allowed)
    caps = requests.get(f"{server.url}/wps", params={"service": "WPS", "request": "GetCapabilities"}, timeout=30).text
    assert "<ows:Identifier>regrid</ows:Identifier>" in caps and "<ows:Identifier>reproject</ows:Identifier>" in caps
    p = requests.get(f"{server.url}/processes/regrid", timeout=30).json()
    assert p["id"] == "regrid" and {"collection", "method", "grid", "custom_grid", "adaptive_masking_threshold"} <= set(p["inputs"])
    assert requests.get(f"{server.url}/processes/reproject", timeout=30).json()["id"] == "reproject"


def test_orchestrate_subset_regrid_average(server, tmp_path):
    wf = {
        "doc": "subset -> regrid -> average",
        "inputs": {"tas": [SYN_DAY]},
        "steps": {
            "subset_tas": {"run": "subset", "in": {"collection": "inputs/tas", "time": "2015-01-01/2015-03-31"}},
            "regrid_tas": {"run": "regrid", "in": {"collection": "subset_tas/output", "method": "bilinear", "grid": "1deg"}},
            "average_tas": {"run": "average", "in": {"collection": "regrid_tas/output", "dims": "time"}},
        },
        "outputs": {"output": "average_tas/output"},
    }
    doc = run_ok(server, "orchestrate", {"workflow": json.dumps(wf)})
    [f] = doc["files"]
    p = tmp_path / f["title"]
    p.write_bytes(requests.get(f["href"], timeout=120).content)
    assert f["title"].endswith("_avg-t.nc"), f["title"]
    with netCDF4.Dataset(p) as nc:
        assert nc["tas"].shape == (180, 360)
        got = np.ma.filled(nc["tas"][:].astype(float), np.nan)
    # the same by hand: CDO on the first 90 days, then the mean
    src = local_files(server, SYN_DAY)[0]
    subprocess.run([CDO, "-s", "-O", "seltimestep,1/90", str(src), str(tmp_path / "s.nc")], check=True)
    grid = cdo_grid(p, tmp_path / "g.txt")
    ref = values(cdo_remap("remapbil", grid, tmp_path / "s.nc", tmp_path / "r.nc", "tas"), "tas").mean(axis=0)
    both = np.isfinite(got) & np.isfinite(ref)
    mad = float(np.abs(got - ref)[both].mean() / (np.nanmax(ref) - np.nanmin(ref)))
    print(f"\norchestrate subset->regrid->average vs CDO: MAD/range {mad:.3g}")
    assert mad < 1e-4
