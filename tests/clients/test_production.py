"""Production features, end to end on the real binary: API keys and authentication on
every protocol (each refusal in that protocol's own error format, read by the real
clients with credentials), read restrictions per data root, the per-client rate limit,
response and job-input size limits, job limits (per user and global), the request
timeout, observability (/metrics, /ready, request ids, JSON access log), the usage
report, and graceful shutdown (streams drained, running jobs handed back).

Every test starts its own servers (`start_server`) on the ESGF samples, or on one year
of synthetic daily data (`cirrus-testdata cmip6-daily`) where a slow job or a large
response is needed. Expected values come from the local files or from an independent
count of what the test itself sent and received, never from server code.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import requests

import conftest
from cirrus_ref import parse_dap_error
from conftest import _SESSION, CirrusServer, session_tmp, shared_data

INM = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619"  # NetCDF-4, 2 x 2, 1032 months
HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"  # 13 files joined
EUR22 = "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029"
INM_REL = "CMIP6/ScenarioMIP/INM/INM-CM5-0/ssp245/r1i1p1f1/Amon/rlds/gr1/v20190619"
HADGEM_REL = "cmip5/output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas"

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-9876543210", "admin": "admin-key-5555555555"}
WPS_PROCESSES = {"subset", "average", "average_time", "weighted_average", "orchestrate"}

NS = {
    "wps1": "http://www.opengis.net/wps/1.0.0",
    "ows11": "http://www.opengis.net/ows/1.1",
    "ows2": "http://www.opengis.net/ows/2.0",
    "ogc": "http://www.opengis.net/ogc",
    "wms": "http://www.opengis.net/wms",
}
IDENTITY = {"Accept-Encoding": "identity"}


# --------------------------------------------------------------------------- helpers


def esgf() -> Path:
    return (shared_data() / "esgf").resolve()


def inm_file() -> Path:
    (f,) = sorted((esgf() / INM_REL).glob("*.nc"))
    return f


def keyed_server(start_server, roots, args, name, keys=None):
    """A server whose process has CIRRUS_API_KEYS (user:key pairs) in its environment."""
    keys = KEYS if keys is None else keys
    old = os.environ.get("CIRRUS_API_KEYS")
    os.environ["CIRRUS_API_KEYS"] = ",".join(f"{u}:{k}" for u, k in keys.items())
    try:
        return start_server(roots, args, name)
    finally:
        if old is None:
            os.environ.pop("CIRRUS_API_KEYS", None)
        else:
            os.environ["CIRRUS_API_KEYS"] = old


def restart_on_same_state(old: CirrusServer) -> CirrusServer:
    """A new server process with the same data, flags, state directory and log."""
    srv = CirrusServer(old.roots, old.workdir, extra_args=old.extra_args, name=old.name)
    _SESSION["servers"].append(srv)
    return srv.start()


def basic(user: str, key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def creds(how: str | None, user: str = "alice") -> dict:
    key = KEYS[user]
    return {
        None: {},
        "basic": basic(user, key),
        "token": {"PRIVATE-TOKEN": key},
        "bearer": {"Authorization": f"Bearer {key}"},
    }[how]


def get(srv, path, how=None, user="alice", headers=None, **kw) -> requests.Response:
    h = {**creds(how, user), **(headers or {})}
    kw.setdefault("timeout", 120)
    return requests.get(srv.url + path, headers=h, **kw)


def post(srv, path, how=None, user="alice", headers=None, **kw) -> requests.Response:
    h = {**creds(how, user), **(headers or {})}
    kw.setdefault("timeout", 300)
    return requests.post(srv.url + path, headers=h, **kw)


def execute(srv, process, inputs, how=None, user="alice", asynchronous=False, timeout=300) -> requests.Response:
    headers = {"Prefer": "respond-async"} if asynchronous else {}
    return post(srv, f"/processes/{process}/execution", how, user, headers=headers, json={"inputs": inputs},
                timeout=timeout)


# ---- error formats: each returns the message text after checking the document


def dap2_error(r: requests.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("content-description") == "dods_error", dict(r.headers)
    assert r.headers["content-type"].startswith("text/plain"), r.headers["content-type"]
    _code, msg = parse_dap_error(r.text)
    return msg


def dap4_error(r: requests.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/vnd.opendap.dap4.error+xml"), r.headers["content-type"]
    root = ET.fromstring(r.content)
    assert root.tag == "Error" and root.get("httpcode") == str(status), r.text[:300]
    msg = root.findtext("Message")
    assert msg, r.text[:300]
    return msg


def ows_error(r: requests.Response, status: int, version: str = "1.0.0") -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/xml"), r.headers["content-type"]
    ows = "ows2" if version == "2.0.0" else "ows11"
    root = ET.fromstring(r.content)
    assert root.tag == f"{{{NS[ows]}}}ExceptionReport" and root.get("version") == version, r.text[:400]
    ex = root.find(f"{ows}:Exception", NS)
    assert ex is not None and ex.get("exceptionCode"), r.text[:400]
    msg = ex.findtext(f"{ows}:ExceptionText", namespaces=NS)
    assert msg, r.text[:400]
    return msg


def wms_error(r: requests.Response, status: int, version: str = "1.3.0") -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    root = ET.fromstring(r.content)
    if version == "1.3.0":
        assert r.headers["content-type"].startswith("text/xml"), r.headers["content-type"]
        assert root.tag == f"{{{NS['ogc']}}}ServiceExceptionReport", r.text[:400]
        ex = root.find("ogc:ServiceException", NS)
    else:
        assert r.headers["content-type"].startswith("application/vnd.ogc.se_xml"), r.headers["content-type"]
        assert root.tag == "ServiceExceptionReport", r.text[:400]
        ex = root.find("ServiceException")
    assert root.get("version") == version, r.text[:400]
    assert ex is not None and ex.text, r.text[:400]
    return ex.text


def problem(r: requests.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    p = r.json()
    assert p["status"] == status and p.get("type") and p.get("title") and p.get("detail"), p
    return p["detail"]


def plain_error(r: requests.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/plain"), r.headers["content-type"]
    assert r.text.strip(), "empty error body"
    return r.text


def wps2_error(r, status):
    return ows_error(r, status, "2.0.0")


def wms111_error(r, status):
    return wms_error(r, status, "1.1.1")


# one representative URL per protocol (INM: a 2 x 2 grid, every response is small)
PROTOCOL_URLS = [
    ("dap2-dds", f"/opendap/{INM}.dds", dap2_error),
    ("dap2-dods", f"/opendap/{INM}.dods?rlds[0:1:1][0:1:1][0:1:1]", dap2_error),
    ("dap4-dmr", f"/opendap/{INM}.dmr", dap4_error),
    ("dap4-dap", f"/opendap/{INM}.dap?dap4.ce=/rlds[0:1][0:1][0:1]", dap4_error),
    ("netcdf", f"/opendap/{INM}.nc?rlds[0:1:1][0:1:1][0:1:1]", dap2_error),
    ("opendap-html", f"/opendap/{INM}.html", plain_error),
    ("catalog-json", "/datasets", problem),
    ("thredds", "/catalog.xml", problem),
    ("wps-1.0.0", "/wps?service=WPS&request=GetCapabilities&version=1.0.0", ows_error),
    ("wps-2.0.0", "/wps?service=WPS&request=GetCapabilities&AcceptVersions=2.0.0", wps2_error),
    ("ogc-processes", "/processes", problem),
    ("ogc-jobs", "/jobs", problem),
    ("cds-catalogue", "/api/catalogue/v1/collections", problem),
    ("cds-retrieve", "/api/retrieve/v1/processes", problem),
    ("wms-1.3.0", "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0", wms_error),
    ("wms-1.1.1", "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1", wms111_error),
    ("tiles", f"/tiles/{INM}/rlds/0/0/0.png", plain_error),
    ("coverage", f"/coverage/{HADGEM}/tas.tif?time=2050-01", problem),
    ("stac", "/stac", problem),
    ("stac-collections", "/stac/collections", problem),
]


def parse_metrics(text: str) -> tuple[dict, dict]:
    """Prometheus text format 0.0.4 -> ({(name, labels): value}, {family: type})."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            assert parts[1] in ("HELP", "TYPE") and len(parts) == 4, line
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)', line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = tuple(sorted(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(m.group(3))
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1)) if m.group(1) not in types else m.group(1)
        assert family in types or m.group(1) in types, f"sample {m.group(1)} has no # TYPE"
    return samples, types


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(srv) -> dict:
    r = srv.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers["content-type"]
    return parse_metrics(r.text)[0]


def eventually(check, timeout=3.0, step=0.05):
    """Poll `check()` (returns a value or None/False) until truthy or the timeout; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


# --------------------------------------------------------------------------- slow data


@pytest.fixture(scope="module")
def daily_root() -> Path:
    """One year of daily 2-degree tas (NetCDF-4, deflate): an average over time runs
    for seconds in the debug build, a full `.dods` of it is ~24 MB. Shared with
    test_replicas.py (same directory)."""
    gen = conftest.testdata_bin()
    if gen is None:
        pytest.fail("the cirrus-testdata binary is needed (cargo build -p cirrus-testdata)", pytrace=False)
    root = session_tmp() / "replicas-data"
    if not root.exists():
        tmp = session_tmp() / "replicas-data.tmp"
        subprocess.run([str(gen), "cmip6-daily", "--out", str(tmp), "--years", "1", "--res", "2"],
                       check=True, capture_output=True, timeout=600)
        tmp.rename(root)
    return root


def daily_id(srv) -> str:
    (ds,) = [d["id"] for d in srv.json("/datasets")["datasets"]]
    return ds


# a job that runs for seconds in the debug build: the whole year regridded to 1 degree
# (weights computed, 95 MB of output written); averages became too fast for this
SLOW_PROCESS = "regrid"
SLOW = {"method": "bilinear", "grid": "1deg"}


def wait_status(srv, job_id, until, timeout=120, how="basic", user="alice") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = get(srv, f"/jobs/{job_id}", how, user)
        assert r.status_code == 200, r.text[:300]
        j = r.json()
        if until(j):
            return j
        assert time.monotonic() < deadline, f"job {job_id} did not reach the expected state: {j}"
        time.sleep(0.05)


# --------------------------------------------------------------------------- 1. authentication


@pytest.fixture(scope="module")
def auth_server(start_server):
    return keyed_server(start_server, [esgf()], ["--auth-required"], "auth")


def test_auth_required_on_every_protocol(auth_server):
    srv = auth_server
    for label, path, check in PROTOCOL_URLS:
        r = get(srv, path)
        assert r.status_code == 401, f"{label}: anonymous {path} -> {r.status_code}"
        assert r.headers.get("www-authenticate", "").startswith("Basic"), f"{label}: {dict(r.headers)}"
        msg = check(r, 401)
        assert "API key" in msg, f"{label}: {msg!r}"
        for how in ("basic", "token", "bearer"):
            r = get(srv, path, how)
            assert r.status_code == 200, f"{label}: {path} with the key ({how}) -> {r.status_code}: {r.text[:300]}"
    # the user name of basic authentication does not matter, the password is the key
    assert get(srv, f"/opendap/{INM}.dds", headers=basic("anybody", KEYS["bob"])).status_code == 200


def test_wrong_key_is_refused_in_every_protocol(auth_server):
    srv = auth_server
    bad = "nope-not-a-key"
    for label, path, check in PROTOCOL_URLS:
        for headers, where in ((basic("alice", bad), "basic authentication"),
                               ({"PRIVATE-TOKEN": bad}, "PRIVATE-TOKEN"),
                               ({"Authorization": f"Bearer {bad}"}, "Authorization")):
            r = get(srv, path, headers=headers)
            assert r.status_code == 401, f"{label} with a wrong key in {where} -> {r.status_code}"
            assert r.headers.get("www-authenticate", "").startswith("Basic"), f"{label}: {dict(r.headers)}"
            msg = check(r, 401)
            assert "not a valid API key" in msg or "is not valid" in msg, f"{label}: {msg!r}"
            assert where in msg, f"{label}: the message does not say where the key was found: {msg!r}"
    # a wrong key is refused even where no key is needed
    r = get(srv, "/api/catalogue/v1/collections", headers={"PRIVATE-TOKEN": bad})
    assert r.status_code == 401


def test_probes_stay_open(auth_server):
    srv = auth_server
    r = get(srv, "/health")
    assert (r.status_code, r.text.strip()) == (200, "ok")
    r = get(srv, "/ready")
    assert r.status_code == 200 and r.text.startswith("ready"), r.text
    r = get(srv, "/metrics")
    assert r.status_code == 200 and "cirrus_requests_total" in r.text


def test_netcdf4_with_credentials(auth_server):
    """libnetcdf's DAP2 client, with user:key in the URL (as users write it, or in .netrc)."""
    srv = auth_server
    with netCDF4.Dataset(str(inm_file())) as local:
        local.set_auto_maskandscale(False)
        want = local["rlds"][:]
        want_time = local["time"][:]
    url = f"http://alice:{KEYS['alice']}@127.0.0.1:{srv.port}/opendap/{INM}"
    with netCDF4.Dataset(url) as remote:
        remote.set_auto_maskandscale(False)
        got = remote["rlds"][:]
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), "rlds differs bit for bit"
        assert np.array_equal(remote["time"][:], want_time)
    with pytest.raises(OSError):
        netCDF4.Dataset(srv.dap_url(INM))
    with pytest.raises(OSError):
        netCDF4.Dataset(f"http://alice:wrong@127.0.0.1:{srv.port}/opendap/{INM}")


def test_pydap_with_credentials(auth_server):
    from pydap.client import open_url

    srv = auth_server
    with netCDF4.Dataset(str(inm_file())) as local:
        local.set_auto_maskandscale(False)
        want = local["rlds"][10:20]
    # pydap passes on the Authorization: Bearer header of the session it is given
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {KEYS['alice']}"
    ds = open_url(srv.dap_url(INM), session=s)
    got = np.asarray(ds["rlds"]["rlds"][10:20].data)
    assert np.array_equal(got, want)
    with pytest.raises(Exception):  # noqa: B017 - pydap raises requests' HTTPError or its own
        open_url(srv.dap_url(INM), session=requests.Session())


def gdal(args, userpwd=None, timeout=120) -> subprocess.CompletedProcess:
    cmd = [*args]
    if userpwd:
        cmd += ["--config", "GDAL_HTTP_USERPWD", userpwd]
    env = dict(os.environ, GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_MAX_RETRY="0")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_gdal_with_credentials(auth_server, tmp_path):
    """gdalinfo on a coverage GeoTIFF through /vsicurl/, on the WMS capabilities, and
    gdal_translate of a WMS layer (GetMap), with GDAL_HTTP_USERPWD."""
    srv = auth_server
    f = sorted((esgf() / HADGEM_REL).glob("*203012-205511.nc"))[0]
    with netCDF4.Dataset(str(f)) as nc:
        t = nc["time"]
        dates = netCDF4.num2date(t[:], t.units, t.calendar)
        (i,) = [k for k, d in enumerate(dates) if (d.year, d.month) == (2050, 1)]
        field = np.asarray(nc["tas"][i], dtype="f4")
        nlat, nlon = field.shape
    url = f"/vsicurl/{srv.url}/coverage/{HADGEM}/tas.tif?time=2050-01"
    userpwd = f"alice:{KEYS['alice']}"
    p = gdal(["gdalinfo", "-json", "-stats", url], userpwd)
    assert p.returncode == 0, p.stderr[-1500:]
    info = json.loads(p.stdout)
    assert info["driverShortName"] == "GTiff"
    assert info["size"] == [nlon, nlat]
    (band,) = info["bands"]
    assert band["minimum"] == pytest.approx(float(field.min()), abs=1e-3)
    assert band["maximum"] == pytest.approx(float(field.max()), abs=1e-3)
    p = gdal(["gdalinfo", url])
    assert p.returncode != 0, "gdalinfo read the coverage without credentials"
    # the WMS driver: the layers of the capabilities become subdatasets
    wms = f"WMS:{srv.url}/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetCapabilities"
    p = gdal(["gdalinfo", wms], userpwd)
    assert p.returncode == 0, p.stderr[-1500:]
    assert f"LAYERS={HADGEM}%2Ftas&" in p.stdout and f"LAYERS={INM}%2Frlds&" in p.stdout, p.stdout[:2000]
    p = gdal(["gdalinfo", wms])
    assert p.returncode != 0, "gdalinfo read the WMS capabilities without credentials"
    layer = (f"WMS:{srv.url}/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS={HADGEM}%2Ftas"
             "&SRS=EPSG:4326&BBOX=-180,-90,180,90")
    out = tmp_path / "map.tif"
    p = gdal(["gdal_translate", "-q", "-outsize", "64", "32", "-of", "GTiff", layer, str(out)], userpwd)
    assert p.returncode == 0, p.stderr[-1500:]
    p = gdal(["gdalinfo", "-json", "-stats", str(out)])
    bands = json.loads(p.stdout)["bands"]
    assert len(bands) in (3, 4) and json.loads(p.stdout)["size"] == [64, 32]
    assert any(b["stdDev"] > 0 for b in bands[:3]), "the map is one flat colour"
    p = gdal(["gdal_translate", "-q", "-outsize", "64", "32", layer, str(tmp_path / "anon.tif")])
    assert p.returncode != 0, "gdal_translate drew the WMS layer without credentials"


def test_owslib_with_credentials(auth_server):
    from owslib.wps import WebProcessingService

    srv = auth_server
    wps = WebProcessingService(srv.url + "/wps", version="1.0.0", username="alice", password=KEYS["alice"])
    assert WPS_PROCESSES <= {p.identifier for p in wps.processes}
    with pytest.raises(Exception):  # noqa: B017 - OWSLib raises HTTPError/ServiceException on 401
        WebProcessingService(srv.url + "/wps", version="1.0.0")


# --------------------------------------------------------------------------- 2. restricted roots


@pytest.fixture(scope="module")
def restricted_server(start_server):
    return keyed_server(start_server, [esgf()], ["--restrict", f"{esgf() / 'cordex'}=alice"], "restricted")


def cordex_ids() -> list[str]:
    """The CORDEX dataset ids, from the files (directories below cordex/ down to the version)."""
    ids = set()
    for f in (esgf() / "cordex").rglob("*.nc"):
        rel = f.parent.relative_to(esgf()).parts
        ids.add(".".join(rel))
    assert len(ids) >= 3, ids
    return sorted(ids)


def test_restricted_root_catalog_and_dap(restricted_server, auth_server):
    srv = restricted_server
    cordex = cordex_ids()
    anon = {d["id"] for d in get(srv, "/datasets").json()["datasets"]}
    bobs = {d["id"] for d in get(srv, "/datasets", "basic", "bob").json()["datasets"]}
    alices = {d["id"] for d in get(srv, "/datasets", "basic", "alice").json()["datasets"]}
    assert not anon & set(cordex), anon & set(cordex)
    assert not bobs & set(cordex)
    assert set(cordex) <= alices, set(cordex) - alices
    assert alices - set(cordex) == anon == bobs
    assert INM in anon
    # THREDDS catalog too
    assert "cordex" not in get(srv, "/catalog.xml").text
    assert EUR22 in get(srv, "/catalog.xml", "token", "alice").text

    r = get(srv, f"/opendap/{EUR22}.dds")
    assert r.headers.get("www-authenticate", "").startswith("Basic")
    assert "API key" in dap2_error(r, 401)
    r = get(srv, f"/opendap/{EUR22}.dds", "basic", "bob")
    assert "www-authenticate" not in r.headers
    assert "does not give access" in dap2_error(r, 403)
    dap4_error(get(srv, f"/opendap/{EUR22}.dmr", "token", "bob"), 403)
    r = get(srv, f"/opendap/{EUR22}.dds", "basic", "alice")
    assert r.status_code == 200, r.text[:300]
    ref = get(auth_server, f"/opendap/{EUR22}.dds", "basic", "bob")  # an unrestricted server
    assert ref.status_code == 200
    assert r.text == ref.text
    # a dataset that does not exist stays a 404 for everybody
    dap2_error(get(srv, "/opendap/cordex.no.such.dataset.dds", "basic", "bob"), 404)
    dap2_error(get(srv, "/opendap/cordex.no.such.dataset.dds"), 404)


def wms_layer_names(r: requests.Response) -> set[str]:
    assert r.status_code == 200, r.text[:300]
    root = ET.fromstring(r.content)
    return {n.text for n in root.iter(f"{{{NS['wms']}}}Name")} | {n.text for n in root.iter("Name")}


def test_restricted_root_wms(restricted_server):
    srv = restricted_server
    caps = "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"
    anon = wms_layer_names(get(srv, caps))
    alices = wms_layer_names(get(srv, caps, "basic", "alice"))
    bobs = wms_layer_names(get(srv, caps, "token", "bob"))
    assert f"{INM}/rlds" in anon
    assert not [n for n in anon | bobs if n and n.startswith("cordex.")], "cordex layers offered to others"
    assert f"{EUR22}/tas" in alices
    assert anon == bobs and anon < alices


def test_restricted_root_jobs(restricted_server):
    srv = restricted_server
    inputs = {"collection": EUR22}
    r = execute(srv, "subset", inputs, "basic", "bob")
    assert r.status_code in (400, 403), (r.status_code, r.text[:300])
    detail = problem(r, r.status_code)
    assert EUR22 in detail
    r = execute(srv, "subset", inputs)  # anonymous
    assert r.status_code in (400, 401, 403), (r.status_code, r.text[:300])
    r = execute(srv, "subset", inputs, "basic", "alice")
    assert r.status_code == 200, f"alice's job on her restricted collection: {r.status_code} {r.text[:500]}"
    files = r.json()["files"]
    assert files and all(f["file:size"] > 0 for f in files)


# --------------------------------------------------------------------------- 3. rate limit


@pytest.fixture(scope="module")
def rate_server(start_server):
    keys = {f"u{i}": f"rate-key-{i:04d}" for i in range(8)}
    srv = keyed_server(start_server, [esgf()], ["--rate-limit", "2", "--rate-burst", "3"], "rate", keys=keys)
    srv.keys = keys
    return srv


def test_rate_limit_per_protocol(rate_server):
    """Each protocol's request is the 4th of a quick burst of one client (its own key,
    so its own bucket): 429 + Retry-After in that protocol's error format."""
    srv = rate_server
    cases = [
        (f"/opendap/{INM}.dds", dap2_error),
        (f"/opendap/{INM}.dmr", dap4_error),
        ("/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0", wms_error),
        ("/wps?service=WPS&request=GetCapabilities&version=1.0.0", ows_error),
        ("/processes", problem),
    ]
    for n, (path, check) in enumerate(cases):
        user = f"u{n}"
        h = {"PRIVATE-TOKEN": srv.keys[user]}
        with requests.Session() as s:
            t0 = time.monotonic()
            statuses = [s.get(srv.url + "/conformance", headers=h, timeout=30).status_code for _ in range(3)]
            r = s.get(srv.url + path, headers=h, timeout=30)
            took = time.monotonic() - t0
        assert took < 0.45, f"the burst took {took:.2f} s: too slow to test a rate of 2/s"
        assert statuses == [200, 200, 200], statuses
        msg = check(r, 429)
        assert "too many requests" in msg, msg
        ra = r.headers.get("retry-after")
        assert ra is not None and re.fullmatch(r"\d+", ra) and int(ra) >= 1, ra


def test_rate_limit_buckets_and_recovery(rate_server):
    srv = rate_server
    ha, hb = {"PRIVATE-TOKEN": srv.keys["u6"]}, {"PRIVATE-TOKEN": srv.keys["u7"]}
    url = srv.url + f"/opendap/{INM}.dds"
    with requests.Session() as s:
        codes = [s.get(url, headers=ha, timeout=30).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429], codes
        r = s.get(url, headers=ha, timeout=30)
        assert r.status_code == 429
        wait = int(r.headers["retry-after"])
        # another key: its own bucket
        assert s.get(url, headers=hb, timeout=30).status_code == 200
        # probes are never limited
        assert all(s.get(srv.url + "/health", headers=ha, timeout=30).status_code == 200 for _ in range(20))
        assert s.get(srv.url + "/metrics", headers=ha, timeout=30).status_code == 200
        time.sleep(wait)
        r = s.get(url, headers=ha, timeout=30)
        assert r.status_code == 200, f"after waiting Retry-After ({wait} s): {r.status_code}"
    # anonymous clients are limited by address
    with requests.Session() as s:
        codes = [s.get(url, timeout=30).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429], codes
    samples = scrape(srv)
    assert metric(samples, "cirrus_rate_limited_total") >= 7
    assert metric(samples, "cirrus_requests_total", protocol="dap2", status="429") >= 3


# --------------------------------------------------------------------------- 4. size limits


@pytest.fixture(scope="module")
def small_server(start_server):
    return start_server([esgf()], ["--max-response-bytes", "1000", "--max-job-input-bytes", "1000"], "limits")


def inm_xdr_size() -> int:
    """The XDR data of `.dods?rlds` (a Grid: rlds and its maps time, lat, lon), from the file."""
    with netCDF4.Dataset(str(inm_file())) as nc:
        nt, ny, nx = nc["rlds"].shape
    return (8 + 4 * nt * ny * nx) + (8 + 8 * nt) + (8 + 8 * ny) + (8 + 8 * nx)


def sizes_in(msg: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", msg)]


def test_response_size_limits(small_server, auth_server):
    srv = small_server
    want = inm_xdr_size()
    # the same response from a server without the limit: its data part has exactly this size
    full = get(auth_server, f"/opendap/{INM}.dods?rlds", "basic", headers=IDENTITY)
    assert full.status_code == 200
    assert len(full.content.split(b"\nData:\n", 1)[1]) == want

    r = get(srv, f"/opendap/{INM}.dods?rlds", headers=IDENTITY)
    msg = dap2_error(r, 413)  # the whole body is the error: no data was sent
    assert want in sizes_in(msg) and 1000 in sizes_in(msg), msg
    assert "limit" in msg

    r = get(srv, f"/opendap/{INM}.nc")
    msg = dap2_error(r, 413)
    assert 1000 in sizes_in(msg) and max(sizes_in(msg)) >= 1032 * 4 * 4, msg

    r = get(srv, f"/opendap/{INM}.dap", params={"dap4.ce": "/rlds"})
    msg = dap4_error(r, 413)
    assert 1000 in sizes_in(msg) and max(sizes_in(msg)) >= 1032 * 4 * 4, msg

    # small selections still work
    r = get(srv, f"/opendap/{INM}.dods?rlds.rlds[0:1:1][0:1:1][0:1:1]", headers=IDENTITY)
    assert r.status_code == 200, r.text[:300]
    assert len(r.content.split(b"\nData:\n", 1)[1]) == 8 + 4 * 8
    r = get(srv, f"/opendap/{INM}.dap", params={"dap4.ce": "/rlds[0:1][0:1][0:1]"})
    assert r.status_code == 200, r.text[:300]
    # metadata is not limited
    assert get(srv, f"/opendap/{INM}.dds").status_code == 200


def test_job_input_limits(small_server):
    srv = small_server
    r = execute(srv, "subset", {"collection": INM})
    detail = problem(r, 413)
    p = r.json()
    assert p["type"].endswith("too-large") and p["title"], p
    assert "1000" in detail and "limit" in detail, detail
    assert max(sizes_in(detail)) >= 1032 * 4 * 4, detail

    params = {"service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "subset",
              "DataInputs": f"collection={INM}"}
    r = requests.get(srv.url + "/wps", params=params, timeout=120)
    msg = ows_error(r, 413)
    assert "1000" in msg, msg

    small = {"collection": INM, "time": "2015-01-01/2015-03-31"}
    r = execute(srv, "subset", small)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["files"]
    params["DataInputs"] = f"collection={INM};time=2015-01-01/2015-03-31"
    r = requests.get(srv.url + "/wps", params=params, timeout=120)
    assert r.status_code == 200, r.text[:500]
    root = ET.fromstring(r.content)
    assert root.find("wps1:Status/wps1:ProcessSucceeded", NS) is not None, r.text[:800]


# --------------------------------------------------------------------------- 5. job limits


def test_job_limits(start_server, daily_root):
    keys = {**KEYS, "carol": "carol-key-0000000000"}
    srv = keyed_server(start_server, [daily_root],
                       ["--workers", "1", "--max-jobs-per-user", "1", "--queue-limit", "2"], "joblimits", keys)
    ds = daily_id(srv)
    inputs = {"collection": ds, **SLOW}
    carol = {"PRIVATE-TOKEN": keys["carol"]}
    ids = []
    try:
        r = execute(srv, SLOW_PROCESS, inputs, "basic", "alice", asynchronous=True)
        assert r.status_code == 201, r.text[:300]
        ids.append(r.json()["jobID"])
        r = execute(srv, SLOW_PROCESS, inputs, "basic", "alice", asynchronous=True)
        detail = problem(r, 429)
        assert "alice" in detail and "limit 1" in detail, detail
        assert re.fullmatch(r"\d+", r.headers.get("retry-after", "")), dict(r.headers)
        r = execute(srv, SLOW_PROCESS, inputs, "token", "bob", asynchronous=True)
        assert r.status_code == 201, f"bob's first job: {r.status_code} {r.text[:300]}"
        ids.append(r.json()["jobID"])
        # two jobs waiting or running: the queue is full for everybody
        r = post(srv, f"/processes/{SLOW_PROCESS}/execution", headers={**carol, "Prefer": "respond-async"},
                 json={"inputs": inputs})
        detail = problem(r, 429)
        assert "limit 2" in detail, detail
        assert re.fullmatch(r"\d+", r.headers.get("retry-after", "")), dict(r.headers)
        params = {"service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "average",
                  "DataInputs": f"collection={ds};dims=time", "storeExecuteResponse": "true", "status": "true"}
        r = requests.get(srv.url + "/wps", params=params, headers=carol, timeout=60)
        assert r.status_code == 429, r.text[:300]
        assert re.fullmatch(r"\d+", r.headers.get("retry-after", ""))
    finally:
        for i in ids:
            requests.delete(f"{srv.url}/jobs/{i}", headers=creds("basic"), timeout=30)


# --------------------------------------------------------------------------- 6. request timeout


def test_request_timeout(start_server, daily_root):
    srv = start_server([daily_root], ["--request-timeout", "1", "--workers", "1"], "timeout")
    ds = daily_id(srv)
    t0 = time.monotonic()
    r = execute(srv, SLOW_PROCESS, {"collection": ds, **SLOW})
    took = time.monotonic() - t0
    detail = problem(r, 503)
    assert "request_timeout" in detail, detail
    assert took < 5, f"the 503 came after {took:.1f} s"
    assert srv.healthy()
    r = srv.get("/processes")
    assert r.status_code == 200
    r = srv.get(f"/opendap/{ds}.dds")
    assert r.status_code == 200
    assert metric(scrape(srv), "cirrus_request_timeouts_total") == 1
    assert srv.alive()


# --------------------------------------------------------------------------- 7. observability


@pytest.fixture(scope="module")
def obs_server(start_server):
    return start_server([esgf()], ["--log-format", "json", "--workers", "2"], "observe")


def test_metrics_counts(obs_server):
    srv = obs_server
    before = scrape(srv)
    paths = [f"/opendap/{INM}.dds", f"/opendap/{INM}.das", f"/opendap/{INM}.dods?rlds[0:1:99][0:1:1][0:1:1]",
             f"/opendap/{HADGEM}.dds"]
    received = 0
    for p in paths:
        r = srv.get(p, headers=IDENTITY)
        assert r.status_code == 200
        received += len(r.content)

    def settled():
        s = scrape(srv)
        return s if metric(s, "cirrus_response_bytes_total", protocol="dap2") - metric(
            before, "cirrus_response_bytes_total", protocol="dap2") >= received else None

    after = eventually(settled) or scrape(srv)
    d = lambda name, **lab: metric(after, name, **lab) - metric(before, name, **lab)  # noqa: E731
    assert d("cirrus_requests_total", protocol="dap2", status="200") == len(paths)
    assert d("cirrus_response_bytes_total", protocol="dap2") == received
    assert d("cirrus_request_duration_seconds_count", protocol="dap2") == len(paths)
    # histograms: cumulative buckets, +Inf == count, for every protocol
    protos = {dict(k[1])["protocol"] for k in after if k[0] == "cirrus_request_duration_seconds_bucket"}
    assert "dap2" in protos
    for p in protos:
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in after.items()
                          if k[0] == "cirrus_request_duration_seconds_bucket" and dict(k[1])["protocol"] == p))
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{p}: buckets not cumulative: {buckets}"
        assert buckets[-1][0] == float("inf")
        assert buckets[-1][1] == metric(after, "cirrus_request_duration_seconds_count", protocol=p)
    # a 404 is counted under its status
    assert srv.get("/opendap/no.such.dataset.dds").status_code == 404
    s = scrape(srv)
    assert metric(s, "cirrus_requests_total", protocol="dap2", status="404") == \
        metric(after, "cirrus_requests_total", protocol="dap2", status="404") + 1
    assert metric(s, "cirrus_workers") == 2
    assert metric(s, "cirrus_datasets") == len(srv.json("/datasets")["datasets"])


def test_metrics_chunk_cache(obs_server):
    srv = obs_server
    path = f"/opendap/{INM}.dods?rlds"  # NetCDF-4 (HDF5 chunks)
    s0 = scrape(srv)
    a = srv.get(path, headers=IDENTITY)
    s1 = scrape(srv)
    b = srv.get(path, headers=IDENTITY)
    s2 = scrape(srv)
    assert a.status_code == b.status_code == 200 and a.content == b.content
    assert metric(s1, "cirrus_chunk_cache_misses_total") > metric(s0, "cirrus_chunk_cache_misses_total")
    assert metric(s2, "cirrus_chunk_cache_hits_total") > metric(s1, "cirrus_chunk_cache_hits_total")
    assert metric(s2, "cirrus_chunk_cache_misses_total") == metric(s1, "cirrus_chunk_cache_misses_total")
    assert 0 < metric(s2, "cirrus_chunk_cache_bytes") <= metric(s2, "cirrus_chunk_cache_capacity_bytes")


def test_metrics_jobs(obs_server):
    srv = obs_server
    before = scrape(srv)
    r = execute(srv, "subset", {"collection": INM, "time": "2015-01-01/2015-12-31"})
    assert r.status_code == 200, r.text[:300]
    after = scrape(srv)
    assert metric(after, "cirrus_jobs", state="successful") == metric(before, "cirrus_jobs", state="successful") + 1
    assert metric(after, "cirrus_jobs_run_total") == metric(before, "cirrus_jobs_run_total") + 1
    assert metric(after, "cirrus_job_store_up") == 1
    assert metric(after, "cirrus_workers") == 2


def test_ready_and_request_ids(obs_server):
    srv = obs_server
    r = srv.get("/ready")
    assert r.status_code == 200 and r.text.startswith("ready"), r.text
    r = srv.get(f"/opendap/{INM}.dds", headers={"X-Request-Id": "my-trace-42"})
    assert r.headers["x-request-id"] == "my-trace-42"
    seen = set()
    for p in (f"/opendap/{INM}.dds", "/processes", "/no/such/path"):
        rid = srv.get(p).headers.get("x-request-id", "")
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
        seen.add(rid)
    assert len(seen) == 3
    # an unusable id is replaced
    r = srv.get("/processes", headers={"X-Request-Id": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_json_access_log(obs_server):
    srv = obs_server
    sent = {}
    for p, h in ((f"/opendap/{INM}.das", {}), ("/processes", {"X-Request-Id": "log-check-1"}),
                 ("/opendap/no.such.thing.dds", {}), ("/wms?SERVICE=WMS&REQUEST=GetCapabilities", {})):
        r = srv.get(p, headers=h)
        sent[r.headers["x-request-id"]] = (p, r.status_code)

    def access_lines():
        out = {}
        lines = [ln for ln in srv.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        for ln in lines:
            if ln.startswith("$ "):  # the command line the test harness writes
                continue
            try:
                rec = json.loads(ln)
            except json.JSONDecodeError:
                pytest.fail(f"a log line is not JSON: {ln[:300]!r}")
            f = rec.get("fields", {})
            if f.get("message") == "request":
                out.setdefault(f.get("request_id"), []).append(rec)
        return out if set(sent) <= set(out) else None

    logged = eventually(access_lines) or access_lines() or {}
    for rid, (path, status) in sent.items():
        assert rid in logged, f"no access-log line with request_id {rid} ({path})"
        (rec,) = logged[rid]
        f = rec["fields"]
        assert f["uri"] == path and f["status"] == status and f["method"] == "GET", f
        assert rec["level"] == "INFO"


# --------------------------------------------------------------------------- 8. usage report


def test_usage_report(start_server):
    srv = keyed_server(start_server, [esgf()], ["--admin-users", "admin"], "usage")
    paths = [f"/opendap/{INM}.dds", f"/opendap/{INM}.das", f"/opendap/{INM}.dods?rlds[0:1:9][0:1:1][0:1:1]",
             f"/opendap/{HADGEM}.dds", f"/opendap/{HADGEM}.dods?tas.tas[0:1:1][0:1:1][0:1:1]"]
    total = 0
    for p in paths:
        r = get(srv, p, "basic", "alice", headers=IDENTITY)
        assert r.status_code == 200
        total += len(r.content)
    get(srv, "/processes", "token", "alice")  # another protocol, not counted below

    def report():
        r = get(srv, "/admin/usage?by=user,protocol", "token", "admin")
        assert r.status_code == 200, r.text[:300]
        doc = r.json()
        assert doc["by"] == ["user", "protocol"]
        rows = [u for u in doc["usage"] if u["user"] == "alice" and u["protocol"] == "dap2"]
        return rows if rows and rows[0]["requests"] == len(paths) else None

    rows = eventually(report, timeout=2.0)
    assert rows, "alice's DAP2 requests are not in the usage report"
    (row,) = rows
    assert row["requests"] == len(paths) and row["bytes"] == total, (row, total)

    by_ds = get(srv, "/admin/usage?by=user,dataset,protocol", "bearer", "admin").json()["usage"]
    inm = [u for u in by_ds if u["user"] == "alice" and u["dataset"] == INM and u["protocol"] == "dap2"]
    assert [u["requests"] for u in inm] == [3], by_ds

    r = get(srv, "/admin/usage?by=user,protocol&format=csv", "basic", "admin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == "user,protocol,requests,bytes,seconds"
    assert any(ln.startswith(f"alice,dap2,{len(paths)},{total},") for ln in lines[1:]), lines

    r = get(srv, "/admin/usage", "basic", "alice")
    assert "www-authenticate" not in r.headers
    problem(r, 403)
    r = get(srv, "/admin/usage")
    problem(r, 401)
    assert r.headers.get("www-authenticate", "").startswith("Basic")
    problem(get(srv, "/admin/usage?from=yesterday", "basic", "admin"), 400)
    problem(get(srv, "/admin/usage?by=colour", "basic", "admin"), 400)


# --------------------------------------------------------------------------- 9. graceful shutdown


def test_shutdown_drains_streams(start_server, daily_root):
    srv = start_server([daily_root], ["--shutdown-grace", "20"], "drain")
    ds = daily_id(srv)
    path = f"/opendap/{ds}.dods?tas"
    full = srv.get(path, headers=IDENTITY)
    assert full.status_code == 200 and len(full.content) > 20_000_000
    want = full.content

    r = requests.get(srv.url + path, headers=IDENTITY, stream=True, timeout=60)
    assert r.status_code == 200
    got = bytearray(r.raw.read(64 * 1024))
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    probes = []

    def probe():
        try:
            p = requests.get(srv.url + "/ready", timeout=5)
            probes.append((p.status_code, p.text.strip()))
        except requests.ConnectionError:
            probes.append(("refused", ""))

    t0 = time.monotonic()
    while True:
        piece = r.raw.read(256 * 1024)
        if not piece:
            break
        got += piece
        if len(probes) < 5:
            threading.Thread(target=probe).start()
        time.sleep(0.02)
    took = time.monotonic() - t0
    assert len(got) == len(want), f"received {len(got)} of {len(want)} bytes after SIGTERM"
    assert bytes(got) == want
    assert took > 0.5, "the download ended too fast to have overlapped the shutdown"
    assert srv.proc.wait(timeout=30) == 0, srv.log_tail()
    time.sleep(0.1)
    assert probes, "no /ready probe was made during the drain"
    assert all(p[0] in (503, "refused") for p in probes), probes
    assert all(p[1] == "stopping" for p in probes if p[0] == 503), probes


def test_shutdown_hands_running_jobs_back(start_server, daily_root):
    srv = start_server([daily_root], ["--shutdown-grace", "1", "--workers", "1"], "handback")
    ds = daily_id(srv)
    r = execute(srv, SLOW_PROCESS, {"collection": ds, **SLOW}, asynchronous=True)
    assert r.status_code == 201, r.text[:300]
    job = r.json()["jobID"]
    wait_status(srv, job, lambda j: j["status"] == "running", how=None)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(timeout=30)
    took = time.monotonic() - t0
    assert code == 0, srv.log_tail()
    assert took < 5, f"the server took {took:.1f} s to stop with --shutdown-grace 1"

    again = restart_on_same_state(srv)
    try:
        done = wait_status(again, job, lambda j: j["status"] not in ("accepted", "running"), timeout=180, how=None)
        assert done["status"] == "successful", done
        log = [e["message"] for e in done["log"]]
        assert any("handed back" in m for m in log), log
        assert sum(m.startswith("job started") for m in log) == 2, log
        res = again.get(f"/jobs/{job}/results")
        assert res.status_code == 200 and res.json()["files"], res.text[:300]
    finally:
        again.stop()
