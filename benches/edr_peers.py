"""The OGC API - EDR peers of cirrus's `position` query, served from the same NetCDF files.

Two xarray-based servers, installed in their own virtualenv (benches/.venv-edr, from
benches/requirements-edr.txt):

- pygeoapi's xarray EDR provider (`pygeoapi.provider.xarray_edr.XarrayEDRProvider`),
  its Flask app under gunicorn (1 sync worker);
- xpublish with the xpublish-edr plugin (FastAPI under uvicorn, 1 worker).

Each function returns `(argv, env, probe_url, position_url)`: the command to start the
server (run it with `subprocess.Popen(argv, env=env)`), its environment, a URL that
answers 200 once the server is up, and `position_url(lon, lat)` giving the URL of an EDR
position query for the whole time series of `tas` at that point, answered in
CoverageJSON. Both peers open the files with `xr.open_mfdataset` (joined along time).

Caveats: both pick the nearest cell in the files' own longitudes (0..360 here), so a
negative longitude lands on the 0.5° column: ask in the files' frame. Both answer
dask-computed series at xarray's default chunks (the files' chunks: one dask task per
day), pygeoapi without a way to change them. pygeoapi labels the noleap time axis
"Gregorian" (its `t` values are cftime's "YYYY-MM-DD hh:mm:ss"); xpublish-edr fails on
cftime dates, so its script relabels noleap dates as datetime64 (same dates).

Only the standard library is imported here: the peers run in the venv's python.
"""

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse

BENCH = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(BENCH, ".venv-edr")
PYTHON = os.path.join(VENV, "bin", "python")


def _wkt_point(lon, lat):
    return f"POINT({float(lon)!r} {float(lat)!r})"


def _env(**extra):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def pygeoapi_server(files, port, collection="tas"):
    """pygeoapi (its xarray EDR provider) serving `files` as the collection `collection`.

    The provider opens one path with `xr.open_dataset`, or, when the path holds a `*`,
    a glob with `xr.open_mfdataset` (xarray sorts the matches; `combine="by_coords"`
    orders them by time anyway). The files are linked into a directory of the temp dir
    so that any list of files becomes one glob. The config (JSON, which is YAML) and
    the OpenAPI document pygeoapi requires (`pygeoapi openapi generate`, which opens
    the dataset: a few seconds) are written to that temp dir here, removed at exit.
    """
    files = [os.path.abspath(f) for f in files]
    if not files:
        raise ValueError("no files")
    tmp = tempfile.mkdtemp(prefix="pygeoapi-edr-")
    atexit.register(shutil.rmtree, tmp, True)  # the config and links, when the caller exits
    if len(files) == 1:
        data = files[0]
    else:
        ddir = os.path.join(tmp, "data")
        os.mkdir(ddir)
        for i, f in enumerate(files):
            os.symlink(f, os.path.join(ddir, f"{i:05d}-{os.path.basename(f)}"))
        data = os.path.join(ddir, "*.nc" if all(f.endswith(".nc") for f in files) else "*")
    base = f"http://127.0.0.1:{port}"
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": base,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 10},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "OpenStreetMap"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "cirrus bench peer", "description": "EDR peer",
                               "keywords": ["bench"], "url": base,
                               "terms_of_service": base},
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "cirrus bench"},
            "contact": {"name": "cirrus bench"},
        },
        "resources": {
            collection: {
                "type": "collection",
                "title": collection,
                "description": f"{collection} from {len(files)} NetCDF file(s)",
                "keywords": [collection],
                "extents": {"spatial": {"bbox": [-180, -90, 180, 90],
                                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "providers": [{
                    "type": "edr",
                    "name": "xarray-edr",
                    "data": data,
                    "x_field": "lon",
                    "y_field": "lat",
                    "time_field": "time",
                    "format": {"name": "NetCDF", "mimetype": "application/x-netcdf"},
                }],
            }
        },
    }
    cfg = os.path.join(tmp, "pygeoapi-config.yml")
    with open(cfg, "w") as f:
        json.dump(config, f, indent=1)
    openapi = os.path.join(tmp, "pygeoapi-openapi.yml")
    env = _env(PYGEOAPI_CONFIG=cfg, PYGEOAPI_OPENAPI=openapi)
    gen = subprocess.run([os.path.join(VENV, "bin", "pygeoapi"), "openapi", "generate", cfg,
                          "--output-file", openapi], env=env, capture_output=True, text=True)
    if gen.returncode != 0:
        raise RuntimeError(f"pygeoapi openapi generate failed:\n{gen.stderr[-4000:]}")
    argv = [PYTHON, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
            "--timeout", "600", "--log-level", "warning", "pygeoapi.flask_app:APP"]

    def position_url(lon, lat):
        q = urllib.parse.urlencode({"coords": _wkt_point(lon, lat), "parameter-name": "tas",
                                    "f": "json"})
        return f"{base}/collections/{collection}/position?{q}"

    return argv, env, f"{base}/collections/{collection}?f=json", position_url


XPUBLISH_EDR = r"""
import json, sys, xarray as xr, xpublish
from xpublish_edr import CfEdrPlugin
port, chunks, files = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3:]
ds = xr.open_mfdataset(files, combine="by_coords", data_vars="minimal", coords="minimal",
                       compat="override", chunks=chunks)
# xpublish-edr cannot serialise cftime dates (500 on /position and on the collection
# metadata): a noleap or 360_day time axis is relabelled with the same dates as datetime64
# (exact for noleap; 360_day's Feb 30 would fail here).
if isinstance(ds.indexes.get("time"), xr.CFTimeIndex):
    time = ds.indexes["time"].to_datetimeindex(unsafe=True, time_unit="ns")
    ds = ds.assign_coords(time=("time", time, ds["time"].attrs))
xpublish.Rest({"tas": ds}, plugins={"edr": CfEdrPlugin()}).serve(
    host="127.0.0.1", port=port, log_level="warning")
"""


def xpublish_edr_server(files, port, chunks=None):
    """xpublish + the xpublish-edr plugin serving `files` (xr.open_mfdataset) as `tas`.

    `chunks` goes to `xr.open_mfdataset`: None (its default) gives dask chunks of the
    files' own chunks (one day here: one dask task per day). A tuned setting such as
    {"time": <steps per file>, "lat": 30, "lon": 30} is about 3x faster on a series;
    {"time": <steps per file>} alone holds a whole file's field per chunk in memory.
    """
    files = [os.path.abspath(f) for f in files]
    if not files:
        raise ValueError("no files")
    base = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-c", XPUBLISH_EDR, str(port), json.dumps(chunks), *files]

    def position_url(lon, lat):
        q = urllib.parse.urlencode({"coords": _wkt_point(lon, lat), "parameter-name": "tas"})
        return f"{base}/datasets/tas/edr/position?{q}"

    return argv, _env(), f"{base}/datasets/tas/edr/", position_url
