"""Geospatial cases of the benchmarks, registered in bench.py's CASES:

- regrid: the OGC API process `regrid` (synchronous execution, result downloaded)
  against CDO on the same files: 1 degree global daily tas (31 days) onto the
  0.25 degree global grid (0pt25deg, 720 x 1440), bilinear and conservative, and the
  CORDEX EUR-11 rotated-pole grid (424 x 412, 31 days, from `cirrus-testdata
  eur11-daily`) onto a 0.1 degree regional grid (550 x 1100), bilinear and
  conservative. Cold: a fresh cirrus (empty state directory, the weights are computed)
  against CDO's one-shot `remapbil`/`remapcon`; warm: the weights cached under the state
  directory against CDO's `remap,GRID,WEIGHTS` with weights made beforehand by
  `genbil`/`gencon` (their time is printed). Values are compared (mean absolute
  difference over the field's range).
- geotiff: `/coverage/{dataset}/{var}.tif` of native subsets against `gdal_translate`
  (-srcwin / bands, same DEFLATE + floating-point predictor, 256 x 256 tiles) of the
  NetCDF file, and reprojection of the EUR-11 rotated-pole field to EPSG:3035 (10 km,
  bilinear) against `gdal_translate -of VRT` (to give GDAL the rotated-pole CRS) +
  `gdalwarp` onto the same extent and size. Cold: a fresh cirrus, first request; warm: a
  new request of the same coverage (a dummy `f=` parameter defeats the response-file
  cache, so the file is made again); cached: the same URL again (the response cache).
- wms: GetMap 256 x 256 PNG tiles (EPSG:3857, 16 tiles of the global 1 degree layer at
  zoom 2 and 16 of the EUR-11 layer at zoom 4): cold = the first request of each tile
  on a fresh server (one client), warm = wrk cycling through the same tiles with 4 and
  32 connections; p50/p99 and requests/s against the target (warm p50 < 10 ms, p99 <
  100 ms). There is no WMS peer installed (ncWMS/THREDDS are Java servers), so the
  peer column holds the target.

Rows have bench.py's shape (case, request, bytes, cirrus, peer, peer/cirrus).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import bench
import perf_cases

QUICK = "--quick" in sys.argv or os.environ.get("CIRRUS_BENCH_QUICK") == "1"

WMS_P50_TARGET = 0.010
WMS_P99_TARGET = 0.100
GLOBAL = "tas_1deg_31d.nc"
EUR = "tas_eur11_31d.nc"
EUR_GRID = "-45 65 0.1 20 75 0.1"  # lon0 lon1 dlon lat0 lat1 dlat
E = 20037508.342789244  # half the Web Mercator extent (m)


# ---------------------------------------------------------------- data


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def ensure_geo_sources():
    """The directory cirrus serves for these cases (two files: 1-degree global daily tas,
    31 days, cut with ncks from the one-year benchmark file keeping its chunks, deflate
    and shuffle; and EUR-11 daily tas, 31 days) and the CDO copy of the EUR-11 file
    without its 2-D lat/lon (CDO then sees the rotated-pole projection and computes the
    cell corners remapcon needs; with the 2-D coordinates it sees a curvilinear grid
    without corners and refuses). Returns (dir, {name: path}, cdo eur path)."""
    src = os.path.join(bench.DATA, "geo_src")
    os.makedirs(src, exist_ok=True)
    g = os.path.join(src, GLOBAL)
    if not os.path.exists(g):
        flat, name = bench.ensure_daily(1, 1.0)
        run(["ncks", "-O", "-d", "time,0,30", os.path.realpath(os.path.join(flat, name)), g + ".tmp"])
        os.rename(g + ".tmp", g)
    eur_root = os.path.join(bench.DATA, "eur11_31d")
    if not os.path.isdir(eur_root):
        shutil.rmtree(eur_root + ".tmp", ignore_errors=True)
        run([bench.TESTDATA, "eur11-daily", "--out", eur_root + ".tmp", "--days", "31"])
        os.rename(eur_root + ".tmp", eur_root)
    e = os.path.join(src, EUR)
    if not os.path.exists(e):
        [f] = [os.path.join(dp, f) for dp, _, fs in os.walk(eur_root) for f in fs if f.endswith(".nc")]
        os.symlink(f, e)
    cdo_eur = os.path.join(bench.DATA, "geo_cdo", "tas_eur11_31d_projection.nc")
    if not os.path.exists(cdo_eur):
        os.makedirs(os.path.dirname(cdo_eur), exist_ok=True)
        tmp = cdo_eur + ".tmp.nc"
        run(["ncatted", "-O", "-a", "coordinates,tas,d,,", os.path.realpath(e), tmp])
        run(["ncks", "-O", "-x", "-v", "lat,lon", tmp, cdo_eur])
        os.unlink(tmp)
    return src, {GLOBAL: g, EUR: os.path.realpath(e)}, cdo_eur


def weights_seconds(server_name):
    """Seconds the last server named so spent computing regridding weights (from its log)."""
    import re

    try:
        with open(os.path.join(bench.LOGS, f"{server_name}.log"), errors="replace") as f:
            text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
    except OSError:
        return None
    found = re.findall(r"regridding weights computed.*?seconds=([\d.]+)", text)
    return sum(map(float, found)) if found else None


def work_dir(name):
    """A fresh scratch directory in /dev/shm (results, CDO and GDAL outputs: the disk may be
    short of room on a shared machine)."""
    d = os.path.join(perf_cases.SHM, f"cirrus-bench-{name}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def timed(argv):
    t = time.perf_counter()
    run(argv)
    return time.perf_counter() - t


# ---------------------------------------------------------------- regrid


def cdo_grid(path, out):
    """A CDO grid description of the (evenly spaced) lat/lon grid of a cirrus result."""
    import netCDF4
    import numpy as np

    with netCDF4.Dataset(path) as nc:
        lat, lon = nc["lat"][:].astype(float), nc["lon"][:].astype(float)
    if not (np.allclose(np.diff(lat), lat[1] - lat[0]) and np.allclose(np.diff(lon), lon[1] - lon[0])):
        raise RuntimeError(f"{path}: the target grid is not evenly spaced")
    with open(out, "w") as f:
        f.write(f"gridtype = lonlat\nxsize = {lon.size}\nysize = {lat.size}\n"
                f"xfirst = {float(lon[0])!r}\nxinc = {float(lon[1] - lon[0])!r}\n"
                f"yfirst = {float(lat[0])!r}\nyinc = {float(lat[1] - lat[0])!r}\n")
    return out


def mad_over_range(a_path, b_path, var="tas"):
    """Mean absolute difference of two regridded files (first and last time step) over
    the cells both define, relative to the field's range; and the fraction of cells
    defined by one only."""
    import netCDF4
    import numpy as np

    def v(p):
        with netCDF4.Dataset(p) as nc:
            x = nc[var]
            return np.stack([np.ma.filled(x[i].astype(float), np.nan) for i in (0, x.shape[0] - 1)])

    a, b = v(a_path), v(b_path)
    if a.shape != b.shape:
        raise RuntimeError(f"shapes differ: {a.shape} {b.shape}")
    both = np.isfinite(a) & np.isfinite(b)
    one = float((np.isfinite(a) != np.isfinite(b)).mean())
    return float(np.abs(a - b)[both].mean() / (np.nanmax(b) - np.nanmin(b))), one


def case_regrid(rows, repeat):
    """regrid process against CDO (remapbil/remapcon), cold and warm weights."""
    src_dir, files, cdo_eur = ensure_geo_sources()
    work = work_dir("regrid-out")
    n_cold = min(repeat, 2)
    n_warm = min(repeat, 3)
    requests = [
        # label, inputs, CDO operator, CDO source
        ("1deg->0.25deg bilinear (31 d)", {"collection": GLOBAL, "method": "bilinear", "grid": "0pt25deg"},
         "bil", files[GLOBAL]),
        ("1deg->0.25deg conservative (31 d)", {"collection": GLOBAL, "method": "conservative", "grid": "0pt25deg"},
         "con", files[GLOBAL]),
        ("EUR-11->0.1deg bilinear (31 d)",
         {"collection": EUR, "method": "bilinear", "grid": "custom", "custom_grid": EUR_GRID}, "bil", cdo_eur),
        ("EUR-11->0.1deg conservative (31 d)",
         {"collection": EUR, "method": "conservative", "grid": "custom", "custom_grid": EUR_GRID}, "con", cdo_eur),
    ]
    cdo_fmt = ["-f", "nc4", "-z", "zip_1"]
    print(f"regrid: cirrus = OGC API regrid process, synchronous, result downloaded (NetCDF-4 deflate 1 + "
          f"shuffle); CDO {cdo_fmt} single-threaded; {n_cold} cold and {n_warm} warm runs each", flush=True)
    for k, (label, inputs, op, cdo_src) in enumerate(requests):
        grid = os.path.join(work, f"grid{k}.txt")
        out = os.path.join(work, f"cdo{k}.nc")
        weights = os.path.join(work, f"weights{k}.nc")
        tc_cold, td_cold, wc = [], [], []
        mine = None
        for i in range(n_cold):
            s, base, state = perf_cases.cirrus_server(src_dir, name="cirrus-regrid", state_parent=perf_cases.SHM)
            with s:
                keep = os.path.join(work, f"cirrus{k}") if i == 0 else None
                if keep:
                    os.makedirs(keep)
                t, size, kept = bench.cirrus_execute(base, "regrid", inputs, keep)
                tc_cold.append(t)
                if kept:
                    [mine] = kept
                    cdo_grid(mine, grid)
            shutil.rmtree(state, ignore_errors=True)
            wc.append(weights_seconds("cirrus-regrid"))
            td_cold.append(timed(["cdo", "-s", "-O", *cdo_fmt, f"remap{op},{grid}", cdo_src, out]))
        mad, one_only = mad_over_range(mine, out)
        print(f"regrid {label}: cirrus vs CDO remap{op}: MAD/range {mad:.2g}, cells defined by one only "
              f"{one_only:.2%}", flush=True)
        if mad > 1e-3:
            raise RuntimeError(f"regrid {label}: cirrus and CDO disagree (MAD/range {mad:.2g})")
        s, base, state = perf_cases.cirrus_server(src_dir, name="cirrus-regrid", state_parent=perf_cases.SHM)
        with s:
            bench.cirrus_execute(base, "regrid", inputs)  # weights computed and kept
            gen = timed(["cdo", "-s", "-O", f"gen{op},{grid}", cdo_src, weights])
            tc, td = [], []
            for _ in range(n_warm):
                tc.append(bench.cirrus_execute(base, "regrid", inputs)[0])
                td.append(timed(["cdo", "-s", "-O", *cdo_fmt, f"remap,{grid},{weights}", cdo_src, out]))
        shutil.rmtree(state, ignore_errors=True)
        c_cold, d_cold = statistics.median(tc_cold), statistics.median(td_cold)
        c_warm, d_warm = statistics.median(tc), statistics.median(td)
        w = statistics.median(wc) if None not in wc else float("nan")
        print(f"regrid {label}: cirrus cold {c_cold:.2f} s warm {c_warm:.2f} s (weights {w:.2f} s in its log); "
              f"CDO remap{op} {d_cold:.2f} s, gen{op} {gen:.2f} s + remap {d_warm:.2f} s", flush=True)
        rows.append(("regrid vs CDO", f"{label} cold: remap{op}", size, c_cold, d_cold, d_cold / c_cold))
        rows.append(("regrid vs CDO", f"{label} warm: gen{op}'d remap", size, c_warm, d_warm, d_warm / c_warm))
    shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- geotiff

GTIFF_CO = ["-co", "TILED=YES", "-co", "BLOCKXSIZE=256", "-co", "BLOCKYSIZE=256", "-co", "COMPRESS=DEFLATE",
            "-co", "PREDICTOR=3"]


def gdal_info(path):
    return json.loads(run(["gdalinfo", "-json", path]).stdout)


def band(path, b, tmp):
    """Band b of a raster as float64 (NaN for nodata), read by GDAL."""
    import numpy as np

    info = gdal_info(path)
    w, h = info["size"]
    raw = os.path.join(tmp, "band.bin")
    run(["gdal_translate", "-q", "-of", "ENVI", "-ot", "Float64", "-b", str(b), path, raw])
    v = np.fromfile(raw, dtype=np.float64).reshape(h, w)
    nd = info["bands"][b - 1].get("noDataValue")
    v[(v > 1e19) | (np.isclose(v, nd, rtol=1e-6) if nd is not None else False)] = np.nan
    return v


def rotated_vrt(nc_path, out, bands=None):
    """gdal_translate argv writing a VRT of the EUR-11 NetCDF field with its rotated-pole
    CRS (GDAL's netCDF driver does not turn rotated_latitude_longitude into one) and the
    rlon/rlat extent (rows south-up as GDAL reads this file)."""
    import netCDF4

    with netCDF4.Dataset(nc_path) as nc:
        rlon, rlat = nc["rlon"][:].astype(float), nc["rlat"][:].astype(float)
        p = nc["rotated_pole"]
        proj = (f"+proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p={float(p.grid_north_pole_latitude)} "
                f"+lon_0={180 + float(p.grid_north_pole_longitude)} +R=6371229 +no_defs")
    dx, dy = rlon[1] - rlon[0], rlat[1] - rlat[0]
    ullr = [rlon[0] - dx / 2, rlat[-1] + dy / 2, rlon[-1] + dx / 2, rlat[0] - dy / 2]
    b = [a for i in (bands or []) for a in ("-b", str(i))]
    return ["gdal_translate", "-q", "-of", "VRT", *b, "-a_srs", proj, "-a_ullr", *map(str, ullr),
            f"NETCDF:{nc_path}:tas", out]


def case_geotiff(rows, repeat):
    """/coverage/{id}/tas.tif against gdal_translate and gdalwarp."""
    import numpy as np

    src_dir, files, _ = ensure_geo_sources()
    work = work_dir("geotiff-out")
    g, e = files[GLOBAL], files[EUR]
    n_cold = min(repeat, 3)
    # GDAL reads the 1-degree file north-up: row 0 is 89.5 N, column 0 is 0.5 E
    reqs = [
        # label, coverage path and query, peer argv lists (out = {out}), exact (else MAD/range), flip rows
        ("1deg region 75x45, 31 bands", f"{GLOBAL}/tas.tif?bbox=0,30,75,75",
         [["gdal_translate", "-q", *GTIFF_CO, "-srcwin", "0", "15", "75", "45", f"NETCDF:{g}:tas", "{out}"]], True),
        ("1deg global 360x180, 31 bands", f"{GLOBAL}/tas.tif",
         [["gdal_translate", "-q", *GTIFF_CO, f"NETCDF:{g}:tas", "{out}"]], True),
        ("EUR-11 native 424x412, 31 bands", f"{EUR}/tas.tif",
         [["gdal_translate", "-q", *GTIFF_CO, f"NETCDF:{e}:tas", "{out}"]], True),
        ("EUR-11->EPSG:3035 10 km bilinear, 1 band", f"{EUR}/tas.tif?time=2071-01-05&crs=EPSG:3035&method=bilinear"
         "&resolution=10000", "warp5", False),
        ("EUR-11->EPSG:3035 10 km bilinear, 31 bands", f"{EUR}/tas.tif?crs=EPSG:3035&method=bilinear"
         "&resolution=10000", "warp", False),
    ]
    print(f"geotiff: cirrus = GET /coverage/... (curl to /dev/null); GDAL {run(['gdalinfo', '--version']).stdout.strip()}"
          f" writes GTiff {' '.join(GTIFF_CO[1::2])}; cold = fresh cirrus ({n_cold} runs), warm = same request with a "
          f"new dummy f= parameter (file made again), cached = the same URL (response cache)", flush=True)
    # cold: a fresh server (and state) per run and request
    cold = {label: [] for label, *_ in reqs}
    cold_weights = {label: [] for label, *_ in reqs}
    for _ in range(n_cold):
        for label, q, *_ in reqs:
            s, base, state = perf_cases.cirrus_server(src_dir, name="cirrus-geotiff", state_parent=perf_cases.SHM)
            with s:
                cold[label].append(bench.fetch(f"{base}/coverage/{q}")[0])
            shutil.rmtree(state, ignore_errors=True)
            cold_weights[label].append(weights_seconds("cirrus-geotiff") or 0.0)
    s, base, state = perf_cases.cirrus_server(src_dir, name="cirrus-geotiff", state_parent=perf_cases.SHM)
    n = 0
    with s:
        for label, q, peer, exact in reqs:
            mine = os.path.join(work, "cirrus.tif")
            with open(mine, "wb") as f:
                f.write(bench.body(f"{base}/coverage/{q}"))
            out = os.path.join(work, "gdal.tif")
            if isinstance(peer, str):  # reprojection: gdalwarp onto the grid cirrus chose
                info = gdal_info(mine)
                w, h = info["size"]
                gt = info["geoTransform"]
                te = [gt[0], gt[3] + gt[5] * h, gt[0] + gt[1] * w, gt[3]]
                vrt = os.path.join(work, "src.vrt")
                peer = [rotated_vrt(e, vrt, [5] if peer == "warp5" else None),
                        ["gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:3035", "-te", *map(str, te),
                         "-ts", str(w), str(h), "-r", "bilinear", "-srcnodata", "1e20", "-dstnodata", "1e20",
                         *GTIFF_CO, vrt, "{out}"]]
            argvs = [[a.replace("{out}", out) for a in argv] for argv in peer]

            def gdal():
                if os.path.exists(out):
                    os.unlink(out)
                t = time.perf_counter()
                for argv in argvs:
                    run(argv)
                return time.perf_counter() - t

            gdal()
            ia, ib = gdal_info(mine), gdal_info(out)
            if ia["size"] != ib["size"] or len(ia["bands"]) != len(ib["bands"]):
                raise RuntimeError(f"geotiff {label}: cirrus {ia['size']} x {len(ia['bands'])} bands, GDAL "
                                   f"{ib['size']} x {len(ib['bands'])}")
            a, b = band(mine, 1, work), band(out, 1, work)
            if exact:
                if not (np.array_equal(a, b, equal_nan=True) or np.array_equal(a, b[::-1], equal_nan=True)):
                    raise RuntimeError(f"geotiff {label}: cirrus and gdal_translate give different values")
                check = "values equal"
            else:
                both = np.isfinite(a) & np.isfinite(b)
                mad = float(np.abs(a - b)[both].mean() / (np.nanmax(b) - np.nanmin(b)))
                one = float((np.isfinite(a) != np.isfinite(b)).mean())
                if mad > 1e-2:
                    raise RuntimeError(f"geotiff {label}: cirrus and gdalwarp disagree (MAD/range {mad:.2g})")
                check = f"MAD/range {mad:.2g}, pixels defined by one only {one:.2%}"
            tc, tk, tg = [], [], []
            for _ in range(repeat):
                n += 1
                sep = "&" if "?" in q else "?"
                t, size = bench.fetch(f"{base}/coverage/{q}{sep}f={n}")
                tc.append(t)
                tk.append(bench.fetch(f"{base}/coverage/{q}")[0])
                tg.append(gdal())
            mc, mk, mg, c0 = (statistics.median(x) for x in (tc, tk, tg, cold[label]))
            cw = statistics.median(cold_weights[label])
            print(f"geotiff {label}: {size} bytes; {check}; cirrus cold {c0:.3f} s (of which weights {cw:.3f} s) "
                  f"warm {mc:.3f} s cached {mk:.4f} s;"
                  f" GDAL {mg:.3f} s ({' + '.join(a[0] for a in argvs)})", flush=True)
            case = "tif vs gdalwarp" if "EPSG" in label else "tif vs translate"
            rows.append((case, f"{label} cold", size, c0, mg, mg / c0))
            rows.append((case, f"{label} warm", size, mc, mg, mg / mc))
            rows.append((case, f"{label} cached", size, mk, mg, mg / mk))
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- wms


def tile_bbox(z, x, y):
    size = 2 * E / 2 ** z
    x0, y1 = -E + x * size, E - y * size
    return f"{x0!r},{y1 - size!r},{x0 + size!r},{y1!r}"


def wms_paths(time_by_layer):
    base = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&STYLES=&FORMAT=image/png&TRANSPARENT=TRUE" \
           "&WIDTH=256&HEIGHT=256&CRS=EPSG:3857"
    tiles = [(GLOBAL, 2, x, y) for x in range(4) for y in range(4)]
    tiles += [(EUR, 4, x, y) for x in range(6, 10) for y in range(3, 7)]  # Europe at zoom 4
    return [f"{base}&LAYERS={layer}/tas&BBOX={tile_bbox(z, x, y)}&TIME={time_by_layer[layer]}"
            for layer, z, x, y in tiles]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def case_wms(rows, repeat):
    """GetMap 256x256 PNG: cold first requests of tiles, warm under concurrent load."""
    perf_cases.wrk_available()
    src_dir, _, _ = ensure_geo_sources()
    seconds = 3 if QUICK else 10
    s, base, state = perf_cases.cirrus_server(src_dir, name="cirrus-wms", state_parent=perf_cases.SHM)
    with s:
        # cold: the first request of every tile on a fresh server, one at a time; the
        # first of all also opens the layer (its time is printed separately)
        paths = wms_paths({GLOBAL: "2015-01-10", EUR: "2071-01-10"})
        cold, sizes = [], []
        for p in paths:
            t, size = bench.fetch(base + p)
            cold.append(t)
            sizes.append(size)
        first = cold[0], cold[16]
        # a second set of cold tiles: a new time step on layers already open
        paths2 = wms_paths({GLOBAL: "2015-01-20", EUR: "2071-01-20"})
        cold2 = [bench.fetch(base + p)[0] for p in paths2]
        size = int(statistics.mean(sizes))
        print(f"wms: first GetMap of each layer on a fresh server {first[0] * 1e3:.1f} / {first[1] * 1e3:.1f} ms; "
              f"cold tiles p50 {pct(cold, 50) * 1e3:.1f} ms p99 {pct(cold, 99) * 1e3:.1f} ms; cold tiles of a new "
              f"time step p50 {pct(cold2, 50) * 1e3:.1f} ms p99 {pct(cold2, 99) * 1e3:.1f} ms; PNG {size} bytes "
              f"on average", flush=True)
        rows.append(("wms", f"GetMap cold p50 ({len(cold)} first tiles)", size, pct(cold, 50), None, None))
        rows.append(("wms", f"GetMap cold p99 ({len(cold)} first tiles)", size, pct(cold, 99), None, None))
        rows.append(("wms", f"GetMap cold p50 (new time step, {len(cold2)})", size, pct(cold2, 50), None, None))
        # warm: every tile once more, then wrk cycling through them
        for p in paths:
            bench.fetch(base + p)
        script = perf_cases.lua_paths([json.dumps(p) for p in paths]) + (
            "local i = 0\nrequest = function()\n  i = i % #paths + 1\n"
            "  return wrk.format(\"GET\", paths[i]())\nend\n")
        errors = []
        for conns in (4, 32):
            r = perf_cases.wrk_result(perf_cases.wrk_start(base, conns, seconds, script))
            print(f"wms warm {conns} conn: {r['requests']} requests {r['rps']:.0f} req/s p50 {r['p50_us'] / 1e3:.2f} ms "
                  f"p99 {r['p99_us'] / 1e3:.2f} ms max {r['max_us'] / 1e3:.1f} ms errors {r['errors']}", flush=True)
            if r["errors"]:
                errors.append(f"{r['errors']} errors with {conns} connections")
            p50, p99 = r["p50_us"] / 1e6, r["p99_us"] / 1e6
            err = f", {r['errors']} ERRORS" if r["errors"] else ""
            rows.append(("wms/target", f"GetMap warm p50 {conns} conn ({r['rps']:.0f} req/s{err})", size, p50,
                         WMS_P50_TARGET, WMS_P50_TARGET / p50))
            rows.append(("wms/target", f"GetMap warm p99 {conns} conn", size, p99, WMS_P99_TARGET, WMS_P99_TARGET / p99))
    shutil.rmtree(state, ignore_errors=True)
    if errors:
        raise RuntimeError(f"wms under load: {'; '.join(errors)}")
