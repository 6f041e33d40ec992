"""GeoTIFF / COG and reprojection, checked with GDAL (Debian `gdal-bin`):

- `/coverage/{dataset}/{variable}.tif` (direct downloads): `gdalinfo` reads the CRS,
  geotransform, nodata, bands and their metadata (time, units, variable); native
  grids give the source values exactly; reprojected ones equal `gdalwarp` of the same
  source (a GeoTIFF of the rotated-pole grid in its `ob_tran` CRS) within interpolation
  tolerance; `cog=true` gives a valid Cloud-Optimized GeoTIFF (LAYOUT=COG, overviews,
  GDAL's validate_cloud_optimized_geotiff when the system GDAL Python is there);
- `.nc` downloads (native subset, EPSG:4326 and projected x/y with the CRS);
- errors as problem+json (400, 404, 413);
- the `reproject` process (OGC API) returning GeoTIFF."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import netCDF4
import numpy as np
import pytest
import requests

from proc_util import CNRM, EUR22, SYN_DAY, run_ok

# GDAL's command line tools (Debian gdal-bin, installed by scripts/test) are the reference
assert shutil.which("gdalinfo") and shutil.which("gdalwarp"), "gdal-bin is not installed"
SYSTEM_PY = "/usr/bin/python3"


def local_file(server, dsid: str, k: int = 0):
    entry = next(d for d in server.datasets() if d["id"] == dsid)
    return server.local_path(entry["files"][k])


def get(server, path: str, tmp_path, name: str, **params):
    r = requests.get(f"{server.url}/coverage/{path}", params=params, timeout=300)
    assert r.status_code == 200, f"{path} {params}: {r.status_code} {r.text[:500]}"
    p = tmp_path / name
    p.write_bytes(r.content)
    return p, r


def info(path):
    out = subprocess.run(["gdalinfo", "-json", "-mdd", "all", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def band(path, tmp_path, b=1):
    """A band as float64 (NaN for nodata), read by GDAL into raw binary."""
    meta = info(path)
    w, h = meta["size"]
    raw = tmp_path / f"{path.stem}_{b}.bin"
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", "-ot", "Float64", "-b", str(b), str(path), str(raw)], check=True)
    v = np.fromfile(raw, dtype=np.float64).reshape(h, w)
    nd = meta["bands"][b - 1].get("noDataValue")
    if nd is not None:
        v[np.isclose(v, nd, rtol=1e-6)] = np.nan
    return v


def rotated_source_tif(server, tmp_path):
    """The EUR-22 field as a GeoTIFF in its native rotated CRS, made by GDAL itself from
    the NetCDF file (rlon/rlat evenly spaced)."""
    src = local_file(server, EUR22)
    with netCDF4.Dataset(src) as nc:
        rlon, rlat = nc["rlon"][:].astype(float), nc["rlat"][:].astype(float)
        p = nc["rotated_latitude_longitude"]
        proj = (f"+proj=ob_tran +o_proj=longlat +o_lon_p={float(p.north_pole_grid_longitude)} "
                f"+o_lat_p={float(p.grid_north_pole_latitude)} +lon_0={180 + float(p.grid_north_pole_longitude)} "
                "+R=6371229 +no_defs")
    dx, dy = rlon[1] - rlon[0], rlat[1] - rlat[0]
    ullr = [rlon[0] - dx / 2, rlat[-1] + dy / 2, rlon[-1] + dx / 2, rlat[0] - dy / 2]
    out = tmp_path / "eur22_rotated.tif"
    # GDAL's netCDF driver gives rows south-up for this file: -a_ullr with the top at rlat[-1]
    subprocess.run(["gdal_translate", "-q", "-a_srs", proj, "-a_ullr", *map(str, ullr), f"NETCDF:{src}:tas", str(out)],
                   check=True)
    return out, proj


# --------------------------------------------------------------------------- native grids


def test_native_rotated_pole_geotiff(server, tmp_path):
    p, r = get(server, f"{EUR22}/tas.tif", tmp_path, "native.tif")
    assert r.headers["content-type"].startswith("image/tiff")
    m = info(p)
    assert m["size"] == [225, 201]
    with netCDF4.Dataset(local_file(server, EUR22)) as nc:
        rlon, rlat = nc["rlon"][:].astype(float), nc["rlat"][:].astype(float)
        src = np.ma.filled(nc["tas"][0].astype(float), np.nan)
    gt = m["geoTransform"]
    assert np.allclose(gt, [rlon[0] - 0.11, 0.22, 0, rlat[-1] + 0.11, 0, -0.22], atol=1e-9), gt
    b = m["bands"][0]
    assert b["noDataValue"] == pytest.approx(1e20, rel=1e-6)
    assert b["unit"] == "K" and b["description"] == "tas 2021-01-16T12:00:00"
    md = b["metadata"][""]
    assert md["time"] == "2021-01-16T12:00:00" and md["NETCDF_VARNAME"] == "tas" and md["units"] == "K"
    assert md["standard_name"] == "air_temperature"
    # the rotated pole (not expressible as GeoTIFF keys) is in the metadata
    assert "+proj=ob_tran" in m["metadata"][""]["crs_proj4"] and "o_lat_p=39.25" in m["metadata"][""]["crs_proj4"]
    assert np.array_equal(band(p, tmp_path), src[::-1])


def test_native_regular_grid_bands_and_frames(server, tmp_path):
    p, _ = get(server, f"{SYN_DAY}/tas.tif", tmp_path, "syn.tif", time="2015-01-01/2015-01-10", bbox="-30,30,30,60")
    m = info(p)
    assert len(m["bands"]) == 10
    times = [b["metadata"][""]["time"] for b in m["bands"]]
    assert times[0].startswith("2015-01-01") and times[-1].startswith("2015-01-10")
    assert "4326" in m["coordinateSystem"]["wkt"]
    gt = m["geoTransform"]
    with netCDF4.Dataset(local_file(server, SYN_DAY)) as nc:
        lat, lon = nc["lat"][:].astype(float), nc["lon"][:].astype(float)
        tas = nc["tas"][:10].astype(float)
    xs = gt[0] + gt[1] * (np.arange(m["size"][0]) + 0.5)
    ys = gt[3] + gt[5] * (np.arange(m["size"][1]) + 0.5)
    assert xs.min() >= -30 - 1e-9 and xs.max() <= 30 + 1e-9 and ys.min() >= 30 - 1e-9 and ys.max() <= 60 + 1e-9
    ii = [int(np.argmin(np.abs((lon - x + 180) % 360 - 180))) for x in xs]
    jj = [int(np.argmin(np.abs(lat - y))) for y in ys]
    want = tas[9][np.ix_(jj, ii)]
    assert np.array_equal(band(p, tmp_path, 10), want)
    # one instant: the day it names
    p2, _ = get(server, f"{SYN_DAY}/tas.tif", tmp_path, "one.tif", time="2015-01-05")
    assert len(info(p2)["bands"]) == 1


# --------------------------------------------------------------------------- reprojection vs gdalwarp


@pytest.mark.parametrize("method, gdal_r", [("nearest", "near"), ("bilinear", "bilinear")])
@pytest.mark.parametrize("crs", ["EPSG:3035", "EPSG:4326", "EPSG:3857"])
def test_reprojection_equals_gdalwarp(server, tmp_path, crs, method, gdal_r):
    p, _ = get(server, f"{EUR22}/tas.tif", tmp_path, "mine.tif", crs=crs, method=method)
    m = info(p)
    w, h = m["size"]
    if method == "bilinear":
        # gdalwarp widens its bilinear kernel when the target is coarser than the source;
        # compare on a finer target, where both interpolate between the 4 nearest cells
        p, _ = get(server, f"{EUR22}/tas.tif", tmp_path, "fine.tif", crs=crs, method=method,
                   width=str(2 * w), height=str(2 * h))
        m = info(p)
        w, h = m["size"]
    gt = m["geoTransform"]
    code = crs.split(":")[1]
    assert f'ID["EPSG",{code}]' in m["coordinateSystem"]["wkt"], m["coordinateSystem"]["wkt"][-200:]
    assert gt[2] == 0 and gt[4] == 0 and gt[5] < 0
    src, _ = rotated_source_tif(server, tmp_path)
    ref = tmp_path / "gdalwarp.tif"
    te = [gt[0], gt[3] + gt[5] * h, gt[0] + gt[1] * w, gt[3]]
    subprocess.run(["gdalwarp", "-q", "-overwrite", "-et", "0", "-t_srs", crs, "-te", *map(str, te), "-ts", str(w), str(h),
                    "-r", gdal_r, "-srcnodata", "1e20", "-dstnodata", "1e20", str(src), str(ref)], check=True)
    a, b = band(p, tmp_path), band(ref, tmp_path)
    both = np.isfinite(a) & np.isfinite(b)
    assert both.sum() > 0.3 * a.size
    rng = np.nanmax(b) - np.nanmin(b)
    diff = np.abs(a - b)[both]
    mad, equal = diff.mean() / rng, float((diff == 0).mean())
    # coverage of the domain agrees except on its edge
    edge = float((np.isfinite(a) != np.isfinite(b)).sum()) / np.isfinite(b).sum()
    print(f"\nEUR-22 -> {crs} {method} ({w}x{h}): MAD/range vs gdalwarp {mad:.3g}, equal pixels {equal:.4f}, "
          f"edge mismatch {edge:.4f}")
    assert edge < 0.02
    if method == "nearest":
        assert equal > 0.99
    else:
        assert mad < 1e-4 and np.percentile(diff, 99) < 0.01 * rng


def test_polar_stereographic_of_a_curvilinear_ocean(server, tmp_path):
    p, _ = get(server, f"{CNRM}/tos.tif", tmp_path, "arctic.tif", crs="EPSG:3413", resolution="50000")
    m = info(p)
    assert 'ID["EPSG",3413]' in m["coordinateSystem"]["wkt"]
    assert m["geoTransform"][1] == 50000 and m["geoTransform"][5] == -50000
    v = band(p, tmp_path)
    with netCDF4.Dataset(local_file(server, CNRM)) as nc:
        src = np.ma.filled(nc["tos"][0].astype(float), np.nan)
    assert np.isfinite(v).sum() > 1000
    # nearest: every value is a source value
    assert np.isin(v[np.isfinite(v)].astype(np.float32), src[np.isfinite(src)].astype(np.float32)).all()
    # the default is the data's own grid for regular/rotated ones, lon/lat for curvilinear
    p2, _ = get(server, f"{CNRM}/tos.tif", tmp_path, "default.tif")
    assert "4326" in info(p2)["coordinateSystem"]["wkt"]


# --------------------------------------------------------------------------- COG


def test_cloud_optimized_geotiff(server, tmp_path):
    p, _ = get(server, f"{EUR22}/tas.tif", tmp_path, "cog.tif", crs="EPSG:3035", resolution="5000", cog="true")
    m = info(p)
    assert m["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert m["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"] == "DEFLATE"
    assert m["bands"][0].get("overviews"), "a COG of this size has overviews"
    assert m["bands"][0]["block"] == [256, 256]
    if os.path.exists(SYSTEM_PY) and subprocess.run([SYSTEM_PY, "-c", "import osgeo_utils"], capture_output=True).returncode == 0:
        out = subprocess.run([SYSTEM_PY, "-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff", str(p)],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "is a valid cloud optimized GeoTIFF" in out.stdout, out.stdout + out.stderr


# --------------------------------------------------------------------------- NetCDF downloads


def test_netcdf_downloads(server, tmp_path):
    p, r = get(server, f"{EUR22}/tas.nc", tmp_path, "native.nc", bbox="0,45,10,55")
    with netCDF4.Dataset(p) as nc:
        assert {"rlat", "rlon"} <= set(nc.dimensions) and "rotated_latitude_longitude" in nc.variables
        assert nc["tas"].shape[1] < 201 and nc["tas"].shape[2] < 225
    p, _ = get(server, f"{EUR22}/tas.nc", tmp_path, "ll.nc", crs="EPSG:4326", resolution="0.5", bbox="-10,35,30,60",
               method="bilinear")
    with netCDF4.Dataset(p) as nc:
        assert nc["lat"].size == 50 and nc["lon"].size == 80 and nc["lat"].bounds == "lat_bnds"
        assert nc["tas"].dimensions == ("time", "lat", "lon")
    p, _ = get(server, f"{EUR22}/tas.nc", tmp_path, "laea.nc", crs="EPSG:3035", resolution="25000")
    with netCDF4.Dataset(p) as nc:
        assert nc["tas"].dimensions == ("time", "y", "x") and nc["tas"].grid_mapping == "crs"
        assert "LAEA" in nc["crs"].crs_wkt or "Lambert Azimuthal" in nc["crs"].crs_wkt
        assert nc["x"].units == "m" and nc["lat"].shape == (nc["y"].size, nc["x"].size)
    m = json.loads(subprocess.run(["gdalinfo", "-json", f"NETCDF:{p}:tas"], capture_output=True, text=True, check=True).stdout)
    assert "Lambert Azimuthal" in m["coordinateSystem"]["wkt"]


# --------------------------------------------------------------------------- errors and caching


@pytest.mark.parametrize("path, params, status", [
    ("nope.nope/tas.tif", {}, 404),
    (f"{EUR22}/nope.tif", {}, 404),
    (f"{EUR22}/tas.png", {}, 400),
    (f"{EUR22}/tas.tif", {"bbox": "1,2,3"}, 400),
    (f"{EUR22}/tas.tif", {"crs": "EPSG:999999"}, 400),
    (f"{EUR22}/tas.tif", {"time": "1900-01-01/1900-02-01"}, 400),
    (f"{EUR22}/tas.tif", {"method": "cubic"}, 400),
    (f"{EUR22}/tas.tif", {"width": "100"}, 400),
    (f"{EUR22}/tas.tif", {"crs": "EPSG:4326", "width": "30000", "height": "30000"}, 413),
])
def test_errors_are_problem_json(server, path, params, status):
    r = requests.get(f"{server.url}/coverage/{path}", params=params, timeout=60)
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["status"] == status and p["detail"]


def test_repeated_downloads_are_cached(server, tmp_path):
    q = {"crs": "EPSG:3035", "resolution": "20000", "method": "bilinear"}
    _, r1 = get(server, f"{EUR22}/tas.tif", tmp_path, "a.tif", **q)
    _, r2 = get(server, f"{EUR22}/tas.tif", tmp_path, "b.tif", **q)
    assert r1.headers["etag"] == r2.headers["etag"] and r1.content == r2.content
    r3 = requests.get(f"{server.url}/coverage/{EUR22}/tas.tif", params=q, headers={"If-None-Match": r1.headers["etag"]},
                      timeout=60)
    assert r3.status_code == 304


# --------------------------------------------------------------------------- the reproject process


def test_reproject_process(server, tmp_path):
    doc = run_ok(server, "reproject", {"collection": EUR22, "crs": "EPSG:3035", "resolution": "25000",
                                       "method": "bilinear", "output_format": "cog"})
    [f] = [x for x in doc["files"] if x["title"].endswith(".tif")]
    assert "_reproject-bilinear-EPSG3035-" in f["title"]
    p = tmp_path / f["title"]
    p.write_bytes(requests.get(f["href"], timeout=120).content)
    m = info(p)
    assert 'ID["EPSG",3035]' in m["coordinateSystem"]["wkt"] and m["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert m["geoTransform"][1] == 25000
    # the same as the direct download of the same request
    q, _ = get(server, f"{EUR22}/tas.tif", tmp_path, "direct.tif", crs="EPSG:3035", resolution="25000", method="bilinear")
    assert np.array_equal(band(p, tmp_path), band(q, tmp_path), equal_nan=True)
