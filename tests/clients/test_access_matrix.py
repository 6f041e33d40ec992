"""Access matrix of restricted data: every protocol x every kind of user, on the real
binary with the real clients.

Three servers over the same ESGF samples, all with the API keys of test_production:

- ``restricted``: the server under test, ``--restrict <esgf>/cordex=alice``;
- ``open``: the same data without any restriction: what alice must get;
- ``public``: a copy of the samples *without* cordex/: what bob and anonymous callers
  must get wherever the restricted data must be invisible to them.

Each request of the matrix is made as alice (key of an allowed user), bob (valid key,
not allowed) and anonymous, and the expectations are:

- **gate** (a request that names the restricted dataset: DAP2, DAP4, NetCDF, WMS
  GetMap/GetFeatureInfo/GetLegendGraphic/layer details, tiles, coverages,
  /datasets/{id}): alice gets exactly the response of the open server; bob gets 403 in
  the protocol's own error format, without a challenge; anonymous gets 401 in that
  format with a ``WWW-Authenticate: Basic`` challenge;
- **hide** (listings, capabilities, searches, catalogues, the CDS vocabulary): alice
  gets exactly the response of the open server; bob and anonymous get exactly the
  response of the public server (so they cannot tell the restricted data exists), and
  the open and public servers differ on that request (the row is not vacuous);
- **clients** (libnetcdf DAP2 and DAP4 with ``user:key@`` in the URL): alice reads the
  values of the local file, bob and anonymous cannot open the dataset;
- **processing** (OGC API - Processes, WPS 1.0.0 KVP and OWSLib, WPS 2.0 XML, the CDS
  API with the unmodified ``cdsapi`` on the current and the legacy API): alice gets the
  values of the local file; bob is refused (403 in the protocol's format; for the CDS,
  whose requests name words rather than a dataset, 403 or the 400 of an empty
  selection, never naming a word only alice may see); anonymous gets 401 + challenge;
- **jobs**: alice's job on the restricted data is not listed, described or handed out
  to bob or anonymous callers.

Test ids are ``<protocol>-<user>``. Expected values come from the local files or from
the two reference servers, never from the server under test.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import cdsapi
import netCDF4
import numpy as np
import pytest
import requests
from owslib.util import ServiceException
from owslib.wps import SYNC, WebProcessingService

from cds_fixtures import assert_same, curvilinear_box, local_dataset, local_files, open_nc, unzip_netcdf
from conftest import session_tmp
from test_cds import CORDEX, EUR22_DIR, EUR22_REQUEST
from test_production import (EUR22, IDENTITY, KEYS, NS, basic, dap2_error, dap4_error, esgf, keyed_server,
                             ows_error, plain_error, problem, wms111_error, wms_error, wps2_error)

USERS = ("alice", "bob", "anonymous")
LAYER = f"{EUR22}/tas"
STAC_COLLECTION = "cordex.rcp85"
# words and names of the restricted (cordex) datasets that must never reach bob or an
# anonymous caller (case-insensitive), besides the dataset ids themselves
SECRETS = ("EUR-22", "EUR-11", "NAM-22", "REMO2015", "GERICS", "OURANOS", "CRCM5", "WRF381P",
           "gerics_remo2015", "ouranos_crcm5", "ipsl_wrf381p", "0_22_degree", "0_11_degree",
           "500hpa_geopotential", "mean_precipitation_flux", "north_america")

NS = {**NS, "wps2": "http://www.opengis.net/wps/2.0", "xlink": "http://www.w3.org/1999/xlink",
      "ml": "urn:ietf:params:xml:ns:metalink"}


# --------------------------------------------------------------------------- servers


@dataclass
class Servers:
    restricted: object
    open: object
    public: object
    public_root: Path


@pytest.fixture(scope="module")
def servers(start_server) -> Servers:
    root = esgf()
    public_root = session_tmp() / "matrix-public-data"
    if not public_root.exists():
        tmp = session_tmp() / "matrix-public-data.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for d in sorted(root.iterdir()):
            if d.is_dir() and d.name != "cordex":
                shutil.copytree(d, tmp / d.name, symlinks=False, copy_function=shutil.copy2)
        tmp.rename(public_root)
    assert not (public_root / "cordex").exists()
    restricted = keyed_server(start_server, [root], ["--restrict", f"{root / 'cordex'}=alice"], "matrix-restricted")
    open_ = keyed_server(start_server, [root], [], "matrix-open")
    public = keyed_server(start_server, [public_root], [], "matrix-public")
    return Servers(restricted, open_, public, public_root)


def cordex_ids() -> list[str]:
    ids = {".".join(f.parent.relative_to(esgf()).parts) for f in (esgf() / "cordex").rglob("*.nc")}
    assert EUR22 in ids and len(ids) >= 3, ids
    return sorted(ids)


def eur22_file() -> Path:
    (f,) = local_files(EUR22_DIR)
    return f


def local_tas() -> np.ndarray:
    with netCDF4.Dataset(str(eur22_file())) as nc:
        nc.set_auto_maskandscale(False)
        return nc["tas"][:]


# --------------------------------------------------------------------------- requests


@dataclass
class Req:
    path: str
    method: str = "GET"
    json: object = None
    data: bytes | None = None
    headers: dict = field(default_factory=dict)
    auth: str = "basic"  # how a user's key is sent: "basic" or "token" (PRIVATE-TOKEN)


def credentials(user: str, how: str = "basic") -> dict:
    if user == "anonymous":
        return {}
    return basic(user, KEYS[user]) if how == "basic" else {"PRIVATE-TOKEN": KEYS[user]}


def send(srv, req: Req, user: str) -> requests.Response:
    return requests.request(req.method, srv.url + req.path, headers={**credentials(user, req.auth), **req.headers},
                            json=req.json, data=req.data, timeout=180)


def normalise(body: bytes, srv, servers: Servers) -> bytes:
    """The server's own address and data root replaced by placeholders of the same
    length (responses of different servers become comparable)."""
    subs = [(srv.url, "http://SERVER"), (f"127.0.0.1:{srv.port}", "SERVER"), (f"127.0.0.1%3A{srv.port}", "SERVER"),
            (str(servers.public_root), "DATAROOT"), (str(esgf()), "DATAROOT")]
    for a, b in subs:
        b = (b + "#" * len(a))[: len(a)] if len(b) <= len(a) else b
        body = body.replace(a.encode(), b.encode())
    # the time stamp of the history a response file records (GeoTIFF metadata, NetCDF)
    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z cirrus/", lambda m: b"T" * (len(m[0]) - 7) + b" cirrus/",
                  body)


def is_json(r: requests.Response) -> bool:
    ct = r.headers.get("content-type", "")
    return "json" in ct


def json_difference(a, b, path="$") -> str | None:
    """Where two JSON documents first differ (a path and the two values)."""
    if type(a) is not type(b):
        return f"{path}: {json.dumps(a)[:200]} where the reference has {json.dumps(b)[:200]}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only in {'the response' if k in a else 'the reference'}"
            d = json_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = json_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: {len(a)} items where the reference has {len(b)}"
        return None
    return None if a == b else f"{path}: {json.dumps(a)[:200]} where the reference has {json.dumps(b)[:200]}"


def message(r: requests.Response) -> str:
    """The gist of a response, for failure messages: the text of an error document."""
    ct = r.headers.get("content-type", "")
    try:
        if "json" in ct:
            doc = r.json()
            return str(doc.get("detail") or doc.get("description") or doc.get("message") or doc)[:400]
        if "xml" in ct:
            return " ".join(t.strip() for t in ET.fromstring(r.content).itertext() if t.strip())[:400]
    except (ValueError, ET.ParseError, AttributeError):
        pass
    return r.text[:300] if ct.startswith("text/") else f"<{len(r.content)} bytes of {ct}>"


def expect_status(r: requests.Response, status: int, what: str):
    assert r.status_code == status, f"{what}: HTTP {r.status_code} instead of {status}: {message(r)}"


def first_difference(a: bytes, b: bytes) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"lengths {len(a)} and {len(b)}, first difference at byte {n}:\n"
            f"  got:  {a[max(0, n - 80):n + 120]!r}\n  want: {b[max(0, n - 80):n + 120]!r}")


def assert_same_response(got: requests.Response, got_srv, want: requests.Response, want_srv, servers: Servers,
                         what: str):
    assert got.status_code == want.status_code, (
        f"{what}: HTTP {got.status_code} where the reference server answers {want.status_code}\n"
        f"got: {got.text[:400]!r}\nwant: {want.text[:400]!r}")
    ct = lambda r: r.headers.get("content-type", "").split(";")[0].strip()  # noqa: E731
    assert ct(got) == ct(want), f"{what}: content-type {ct(got)!r}, the reference server sends {ct(want)!r}"
    a, b = normalise(got.content, got_srv, servers), normalise(want.content, want_srv, servers)
    if is_json(want) and a != b:
        ja, jb = json.loads(a), json.loads(b)
        assert ja == jb, f"{what}: the JSON differs from the reference server's: {json_difference(ja, jb)}"
    assert a == b, f"{what}: the response differs from the reference server's: {first_difference(a, b)}"


def assert_no_secrets(r: requests.Response, what: str, echoed: tuple[str, ...] = ()):
    """No name or word of the restricted datasets in the response, besides what the
    request itself said (`echoed`, e.g. the dataset id an error message repeats)."""
    low = r.content.decode("utf-8", "replace").lower()
    for e in sorted(echoed, key=len, reverse=True):
        low = low.replace(e.lower(), " ")
    for s in (*cordex_ids(), *SECRETS):
        assert s.lower() not in low, f"{what}: the response names {s!r}, which only alice may see: {r.text[:600]!r}"


def challenge(r: requests.Response, what: str):
    assert r.headers.get("www-authenticate", "").startswith("Basic"), (
        f"{what}: a 401 without a WWW-Authenticate: Basic challenge: {dict(r.headers)}")


def no_challenge(r: requests.Response, what: str):
    assert "www-authenticate" not in r.headers, f"{what}: a 403 with a challenge: {dict(r.headers)}"


def tile_error(r: requests.Response, status: int) -> str:
    """Tiles: a plain-text message (as the gate writes it) or the WMS 1.3.0 report (as
    the tile handler writes its own errors)."""
    if r.headers.get("content-type", "").startswith("text/plain"):
        return plain_error(r, status)
    return wms_error(r, status)


# --------------------------------------------------------------------------- gate: named requests


@dataclass
class Gate:
    label: str
    req: Req
    error: Callable[[requests.Response, int], str]
    compare: str = "bytes"  # how alice's response is compared with the open server's: bytes | netcdf


WMS = "/wms?SERVICE=WMS&VERSION=1.3.0"
GETMAP = (f"{WMS}&REQUEST=GetMap&LAYERS={quote(LAYER, safe='')}&STYLES=&CRS=EPSG:4326&BBOX=35,-15,70,35"
          "&WIDTH=64&HEIGHT=48&FORMAT=image/png")

GATES = [
    Gate("dap2-dds", Req(f"/opendap/{EUR22}.dds"), dap2_error),
    Gate("dap2-das", Req(f"/opendap/{EUR22}.das"), dap2_error),
    Gate("dap2-dods", Req(f"/opendap/{EUR22}.dods?tas", headers=IDENTITY), dap2_error),
    Gate("dap2-ascii", Req(f"/opendap/{EUR22}.ascii?tas.tas[0:1:0][0:1:3][0:1:3]"), dap2_error),
    Gate("opendap-html", Req(f"/opendap/{EUR22}.html"), plain_error),
    Gate("dap4-dmr", Req(f"/opendap/{EUR22}.dmr"), dap4_error),
    Gate("dap4-dap", Req(f"/opendap/{EUR22}.dap?dap4.ce=/tas", headers=IDENTITY), dap4_error),
    Gate("netcdf", Req(f"/opendap/{EUR22}.nc", headers=IDENTITY), dap2_error, compare="netcdf"),
    Gate("netcdf-subset", Req(f"/opendap/{EUR22}.nc?tas[0:1:0][10:1:20][10:1:30]", headers=IDENTITY), dap2_error,
         compare="netcdf"),
    Gate("catalog-dataset", Req(f"/datasets/{EUR22}"), problem),
    Gate("wms-getmap", Req(GETMAP), wms_error),
    Gate("wms-getmap-1.1.1", Req(GETMAP.replace("VERSION=1.3.0", "VERSION=1.1.1").replace("CRS=", "SRS=")
                                 .replace("BBOX=35,-15,70,35", "BBOX=-15,35,35,70")), wms111_error),
    Gate("wms-featureinfo", Req(GETMAP.replace("GetMap", "GetFeatureInfo")
                                + f"&QUERY_LAYERS={quote(LAYER, safe='')}&I=32&J=24&INFO_FORMAT=application/json"),
         wms_error),
    Gate("wms-legend", Req(f"{WMS}&REQUEST=GetLegendGraphic&LAYER={quote(LAYER, safe='')}&FORMAT=image/png"),
         wms_error),
    Gate("wms-layerdetails", Req(f"{WMS}&REQUEST=GetMetadata&item=layerDetails&layerName={quote(LAYER, safe='')}"),
         wms_error),
    Gate("tiles", Req(f"/tiles/{EUR22}/tas/3/4/2.png"), tile_error),
    Gate("coverage", Req(f"/coverage/{EUR22}/tas.tif"), problem),
    Gate("zarr-metadata", Req(f"/zarr/{EUR22}/.zmetadata"), problem),
    Gate("zarr-attrs", Req(f"/zarr/{EUR22}/tas/.zattrs"), problem),
    Gate("zarr-chunk", Req(f"/zarr/{EUR22}/tas/0.0.0", headers=IDENTITY), problem),
    Gate("zarr3-chunk", Req(f"/zarr3/{EUR22}/tas/c/0/0/0", headers=IDENTITY), problem),
    Gate("zarr-uncompressed-chunk", Req(f"/zarr-uncompressed/{EUR22}/tas/0.0.0", headers=IDENTITY), problem),
    Gate("zarr3-uncompressed-meta", Req(f"/zarr3-uncompressed/{EUR22}/zarr.json"), problem),
]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("case", GATES, ids=[g.label for g in GATES])
def test_gate(servers, case: Gate, user: str):
    what = f"{case.label} as {user}"
    r = send(servers.restricted, case.req, user)
    if user == "alice":
        ref = send(servers.open, case.req, "alice")
        assert ref.status_code == 200, f"{what}: the open server itself answers {ref.status_code}: {ref.text[:300]}"
        expect_status(r, 200, what)
        if case.compare == "netcdf":
            assert_same_netcdf(r.content, ref.content, what)
        else:
            assert_same_response(r, servers.restricted, ref, servers.open, servers, what)
    elif user == "bob":
        expect_status(r, 403, what)
        msg = case.error(r, 403)
        no_challenge(r, what)
        assert_no_secrets(r, what, echoed=(LAYER, EUR22))
        assert msg
    else:
        expect_status(r, 401, what)
        msg = case.error(r, 401)
        challenge(r, what)
        assert_no_secrets(r, what, echoed=(LAYER, EUR22))
        assert msg


def assert_same_netcdf(got: bytes, want: bytes, what: str):
    """Same variables, dimensions, attributes (but the history) and values, bit for bit."""
    with netCDF4.Dataset("got.nc", memory=got) as a, netCDF4.Dataset("want.nc", memory=want) as b:
        assert dict(a.dimensions.items()).keys() == dict(b.dimensions.items()).keys(), what
        assert {k: len(v) for k, v in a.dimensions.items()} == {k: len(v) for k, v in b.dimensions.items()}, what
        assert list(a.variables) == list(b.variables), what
        strip = lambda o: {k: str(o.getncattr(k)) for k in o.ncattrs() if k != "history"}  # noqa: E731
        assert strip(a) == strip(b), f"{what}: global attributes differ"
        for name in b.variables:
            va, vb = a[name], b[name]
            va.set_auto_maskandscale(False)
            vb.set_auto_maskandscale(False)
            assert va.dimensions == vb.dimensions and va.dtype == vb.dtype, f"{what}: {name}"
            assert strip(va) == strip(vb), f"{what}: attributes of {name} differ"
            x, y = np.asarray(va[...]), np.asarray(vb[...])
            assert x.shape == y.shape and x.tobytes() == y.tobytes(), f"{what}: values of {name} differ"


# --------------------------------------------------------------------------- hide: listings


@dataclass
class Hide:
    label: str
    req: Req
    anonymous_401: bool = False  # the request needs a key anyway (anonymous: 401 + challenge)


HIDES = [
    Hide("catalog-list", Req("/datasets")),
    Hide("thredds", Req("/catalog.xml")),
    Hide("opendap-index", Req("/opendap/")),
    Hide("landing", Req("/")),
    Hide("web-datasets-json", Req("/web/datasets.json")),
    Hide("wms-capabilities", Req(f"{WMS}&REQUEST=GetCapabilities")),
    Hide("wms-capabilities-1.1.1", Req("/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetCapabilities")),
    Hide("wms-metadata-layers", Req(f"{WMS}&REQUEST=GetMetadata&item=layers")),
    Hide("stac-landing", Req("/stac")),
    Hide("stac-collections", Req("/stac/collections")),
    Hide("stac-collection", Req(f"/stac/collections/{STAC_COLLECTION}")),
    Hide("stac-items", Req(f"/stac/collections/{STAC_COLLECTION}/items")),
    Hide("stac-item", Req(f"/stac/collections/{STAC_COLLECTION}/items/{EUR22}")),
    Hide("stac-search-bbox", Req("/stac/search?bbox=-10,35,30,70&limit=1000")),
    Hide("stac-search-ids", Req(f"/stac/search?ids={EUR22}")),
    Hide("stac-search-post", Req("/stac/search", method="POST", json={"collections": [STAC_COLLECTION]})),
    Hide("cds-collections", Req("/api/catalogue/v1/collections", auth="token")),
    Hide("cds-collection", Req(f"/api/catalogue/v1/collections/{CORDEX}", auth="token")),
    Hide("cds-form", Req(f"/api/catalogue/v1/collections/{CORDEX}/form.json", auth="token")),
    Hide("cds-constraints-json", Req(f"/api/catalogue/v1/collections/{CORDEX}/constraints.json", auth="token")),
    Hide("cds-process", Req(f"/api/retrieve/v1/processes/{CORDEX}", auth="token")),
    Hide("cds-constraints", Req(f"/api/retrieve/v1/processes/{CORDEX}/constraints", method="POST",
                                json={"inputs": {"variable": "2m_air_temperature"}}, auth="token"),
         anonymous_401=True),
]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("case", HIDES, ids=[h.label for h in HIDES])
def test_hidden(servers, case: Hide, user: str):
    what = f"{case.label} as {user}"
    r = send(servers.restricted, case.req, user)
    if user == "anonymous" and case.anonymous_401:
        expect_status(r, 401, what)
        problem(r, 401)
        challenge(r, what)
        return
    # not vacuous: the restricted datasets change this response
    o, p = send(servers.open, case.req, user), send(servers.public, case.req, user)
    assert normalise(o.content, servers.open, servers) != normalise(p.content, servers.public, servers), (
        f"{what}: the open and the public servers answer alike; this request tells nothing")
    if user == "alice":
        assert r.status_code == 200, f"{what}: HTTP {r.status_code}: {r.text[:500]}"
        assert_same_response(r, servers.restricted, o, servers.open, servers, what)
    else:
        # the public server has no cordex data: an equal answer tells nothing of it
        assert_same_response(r, servers.restricted, p, servers.public, servers, what)


def test_stac_collection_of_the_dataset(servers):
    """The STAC rows name the right collection (else they would test nothing)."""
    doc = send(servers.open, Req(f"/web/datasets.json?id={EUR22}"), "alice").json()
    (entry,) = [d for d in doc["datasets"] if d["id"] == EUR22]
    assert f"/stac/collections/{STAC_COLLECTION}/items/{EUR22}" in entry["stac"], entry["stac"]
    assert LAYER in [lay["name"] for lay in entry["layers"]], entry["layers"]


# --------------------------------------------------------------------------- clients: libnetcdf


def dap_url(srv, user: str) -> str:
    who = "" if user == "anonymous" else f"{user}:{KEYS[user]}@"
    return f"http://{who}127.0.0.1:{srv.port}/opendap/{EUR22}"


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("suffix", ["", "#dap4"], ids=["dap2-netcdf4", "dap4-netcdf4"])
def test_netcdf4_client(servers, suffix: str, user: str):
    """libnetcdf's DAP clients with the key in the URL (as users write it)."""
    url = dap_url(servers.restricted, user) + suffix
    if user != "alice":
        with pytest.raises(OSError):
            netCDF4.Dataset(url).close()
        return
    want = local_tas()
    with netCDF4.Dataset(url) as nc:
        nc.set_auto_maskandscale(False)
        got = nc["tas"][:]
        assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), "tas differs bit for bit"


# --------------------------------------------------------------------------- processing


def assert_eur22_file(content: bytes, what: str):
    """A subset of the whole EUR-22 dataset: tas as in the local file, bit for bit."""
    want = local_tas()
    with netCDF4.Dataset("result.nc", memory=content) as nc:
        nc.set_auto_maskandscale(False)
        got = np.asarray(nc["tas"][:])
    assert got.shape == want.shape, f"{what}: tas {got.shape}, the file has {want.shape}"
    assert got.astype(want.dtype).tobytes() == np.asarray(want).tobytes(), f"{what}: tas differs from the file"


def fetch(url: str, what: str) -> bytes:
    r = requests.get(url, timeout=120)
    assert r.status_code == 200, f"{what}: GET {url} -> {r.status_code}: {r.text[:300]}"
    return r.content


def metalink_files(url: str, what: str) -> list[str]:
    root = ET.fromstring(fetch(url, what))
    urls = [f.findtext("ml:metaurl", namespaces=NS) or f.findtext("ml:url", namespaces=NS)
            for f in root.findall("ml:file", NS)]
    assert urls and all(urls), f"{what}: no files in the metalink {url}"
    return urls


def nc_of(urls: list[str], what: str) -> bytes:
    ncs = [u for u in urls if u.split("?")[0].endswith(".nc")]
    assert len(ncs) == 1, f"{what}: expected one NetCDF file, got {urls}"
    return fetch(ncs[0], what)


def refused(r: requests.Response, user: str, check, what: str):
    """bob: 403 without challenge; anonymous: 401 with a challenge, in `check`'s format."""
    if user == "bob":
        expect_status(r, 403, what)
        check(r, 403)
        no_challenge(r, what)
    else:
        expect_status(r, 401, what)
        check(r, 401)
        challenge(r, what)
    assert_no_secrets(r, what, echoed=(EUR22,))


def run_ogc(servers, user, what):
    r = send(servers.restricted, Req("/processes/subset/execution", method="POST",
                                     json={"inputs": {"collection": EUR22}}), user)
    if user != "alice":
        return refused(r, user, problem, what)
    assert r.status_code == 200, f"{what}: HTTP {r.status_code}: {r.text[:500]}"
    files = [f["href"] for f in r.json()["files"]]
    assert_eur22_file(nc_of(files, what), what)


WPS1_KVP = ("/wps?service=WPS&request=Execute&version=1.0.0&identifier=subset"
            f"&DataInputs=collection={EUR22}&ResponseDocument=output@asReference=true")


def run_wps1_kvp(servers, user, what):
    r = send(servers.restricted, Req(WPS1_KVP), user)
    if user != "alice":
        return refused(r, user, ows_error, what)
    assert r.status_code == 200, f"{what}: HTTP {r.status_code}: {r.text[:500]}"
    root = ET.fromstring(r.content)
    assert root.find("wps1:Status/wps1:ProcessSucceeded", NS) is not None, f"{what}: {r.text[:800]}"
    (ref,) = [o.find("wps1:Reference", NS) for o in root.iterfind("wps1:ProcessOutputs/wps1:Output", NS)
              if o.findtext("ows11:Identifier", namespaces=NS) == "output"]
    assert_eur22_file(nc_of(metalink_files(ref.get("href"), what), what), what)


def run_wps1_owslib(servers, user, what):
    url = servers.restricted.url + "/wps"
    if user == "anonymous":
        wps = WebProcessingService(url, version="1.0.0")
    else:
        wps = WebProcessingService(url, version="1.0.0", username=user, password=KEYS[user])
    if user != "alice":
        # OWSLib raises the ExceptionReport of a 400/401/403 as ServiceException
        with pytest.raises(ServiceException) as e:
            wps.execute("subset", inputs=[("collection", EUR22)], output=[("output", True)], mode=SYNC)
        root = ET.fromstring(str(e.value).encode())
        assert root.tag == f"{{{NS['ows11']}}}ExceptionReport", f"{what}: {str(e.value)[:400]}"
        return
    execution = wps.execute("subset", inputs=[("collection", EUR22)], output=[("output", True)], mode=SYNC)
    assert execution.status == "ProcessSucceeded", (
        f"{what}: {execution.status}: {[(x.code, x.text) for x in execution.errors]}")
    (out,) = [o for o in execution.processOutputs if o.identifier == "output"]
    assert_eur22_file(nc_of(metalink_files(out.reference, what), what), what)


EXECUTE2 = f"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0" xmlns:ows="http://www.opengis.net/ows/2.0"
  service="WPS" version="2.0.0" mode="sync" response="document">
  <ows:Identifier>subset</ows:Identifier>
  <wps:Input id="collection"><wps:Data>{EUR22}</wps:Data></wps:Input>
  <wps:Output id="output" transmission="reference"/>
</wps:Execute>"""


def run_wps2(servers, user, what):
    r = send(servers.restricted, Req("/wps", method="POST", data=EXECUTE2.encode(),
                                     headers={"Content-Type": "text/xml"}), user)
    if user != "alice":
        return refused(r, user, wps2_error, what)
    assert r.status_code == 200, f"{what}: HTTP {r.status_code}: {r.text[:500]}"
    root = ET.fromstring(r.content)
    assert root.tag == f"{{{NS['wps2']}}}Result", f"{what}: {r.text[:600]}"
    (ref,) = [o.find("wps2:Reference", NS) for o in root.iterfind("wps2:Output", NS) if o.get("id") == "output"]
    assert_eur22_file(nc_of(metalink_files(ref.get(f"{{{NS['xlink']}}}href"), what), what), what)


def assert_cds_eur22(archive: Path, tmp_path: Path, what: str):
    (nc,) = unzip_netcdf(archive, tmp_path / "x")
    local = local_dataset(local_files(EUR22_DIR))
    ref = local.isel(curvilinear_box(local, 55, 5, 45, 15))
    assert 0 < ref["tas"].size < local["tas"].size, what
    assert_same(open_nc(nc), ref, "tas")


def cds_refusal(status: int, text: str, user: str, what: str):
    """bob's CDS request names words, not a dataset: 403, or the 400 of a selection
    that is empty for him; never a word of the datasets he may not read."""
    assert status in (400, 403), f"{what}: HTTP {status}: {text[:400]}"
    low = text.lower()
    leaked = [s for s in (*cordex_ids(), *SECRETS) if s.lower() in low and s.lower() not in
              json.dumps(EUR22_REQUEST).lower()]
    assert not leaked, f"{what}: the refusal names {leaked}: {text[:600]}"


def run_cdsapi(servers, user, what, tmp_path):
    api = servers.restricted.url + "/api"
    if user == "anonymous":
        # what the client sends without a key: no PRIVATE-TOKEN
        r = requests.post(f"{api}/retrieve/v1/processes/{CORDEX}/execution", json={"inputs": EUR22_REQUEST},
                          timeout=60)
        problem(r, 401)
        return challenge(r, what)
    c = cdsapi.Client(url=api, key=KEYS[user], progress=False, sleep_max=1, quiet=True)
    target = tmp_path / "cordex.zip"
    if user == "bob":
        with pytest.raises(requests.HTTPError) as e:
            c.retrieve(CORDEX, EUR22_REQUEST, str(target))
        return cds_refusal(e.value.response.status_code, str(e.value) + e.value.response.text, user, what)
    c.retrieve(CORDEX, EUR22_REQUEST, str(target))
    assert_cds_eur22(target, tmp_path, what)


def run_cdsapi_legacy(servers, user, what, tmp_path):
    api = servers.restricted.url + "/api/v2"
    if user == "anonymous":
        r = requests.post(f"{api}/resources/{CORDEX}", json=EUR22_REQUEST, timeout=60)
        assert r.status_code == 401, f"{what}: HTTP {r.status_code}: {r.text[:300]}"
        assert r.headers["content-type"].startswith("application/json") and r.json()["message"], r.text[:300]
        return challenge(r, what)
    c = cdsapi.Client(url=api, key=f"{user}:{KEYS[user]}", progress=False, sleep_max=1, quiet=True)
    target = tmp_path / "legacy.zip"
    if user == "bob":
        r = requests.post(f"{api}/resources/{CORDEX}", json=EUR22_REQUEST, auth=(user, KEYS[user]), timeout=60)
        cds_refusal(r.status_code, r.text, user, what)
        with pytest.raises(Exception) as e:  # noqa: B017 - the legacy client raises a plain Exception
            c.retrieve(CORDEX, EUR22_REQUEST, str(target))
        return cds_refusal(r.status_code, str(e.value), user, what)
    c.retrieve(CORDEX, EUR22_REQUEST, str(target))
    assert_cds_eur22(target, tmp_path, what)


PROCESSING = {
    "ogc-processes": run_ogc,
    "wps-1.0.0-kvp": run_wps1_kvp,
    "wps-1.0.0-owslib": run_wps1_owslib,
    "wps-2.0.0-xml": run_wps2,
    "cds-cdsapi": run_cdsapi,
    "cds-legacy-cdsapi": run_cdsapi_legacy,
}


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("label", list(PROCESSING))
def test_processing(servers, label: str, user: str, tmp_path):
    run = PROCESSING[label]
    what = f"{label} as {user}"
    if label.startswith("cds"):
        run(servers, user, what, tmp_path)
    else:
        run(servers, user, what)


# --------------------------------------------------------------------------- jobs of alice


@pytest.fixture(scope="module")
def alice_job(servers) -> str:
    """An asynchronous OGC API job of alice on the restricted dataset, finished."""
    srv = servers.restricted
    r = requests.post(srv.url + "/processes/subset/execution", json={"inputs": {"collection": EUR22}},
                      headers={**credentials("alice"), "Prefer": "respond-async"}, timeout=60)
    assert r.status_code == 201, f"alice's job: HTTP {r.status_code}: {r.text[:400]}"
    job = r.json()["jobID"]
    deadline = time.monotonic() + 120
    while True:
        s = requests.get(f"{srv.url}/jobs/{job}", headers=credentials("alice"), timeout=30).json()
        if s["status"] not in ("accepted", "running"):
            break
        assert time.monotonic() < deadline, s
        time.sleep(0.1)
    assert s["status"] == "successful", s
    return job


JOBS = ["ogc-jobs-list", "ogc-job-status", "ogc-job-results"]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("label", JOBS)
def test_jobs_on_restricted_data(servers, alice_job: str, label: str, user: str):
    """alice's job reads data only she may read: bob and anonymous callers must not
    find it in the job list, nor get its status or its result files."""
    srv = servers.restricted
    what = f"{label} as {user}"
    path = {"ogc-jobs-list": "/jobs", "ogc-job-status": f"/jobs/{alice_job}",
            "ogc-job-results": f"/jobs/{alice_job}/results"}[label]
    r = send(srv, Req(path), user)
    if user == "alice":
        assert r.status_code == 200, f"{what}: HTTP {r.status_code}: {r.text[:300]}"
        assert alice_job in r.text, f"{what}: alice's own job is missing"
        if label == "ogc-job-results":
            assert_eur22_file(nc_of([f["href"] for f in r.json()["files"]], what), what)
        return
    if label == "ogc-jobs-list":
        assert r.status_code in (200, 401), f"{what}: HTTP {r.status_code}: {r.text[:300]}"
        assert alice_job not in r.text, f"{what}: alice's job on restricted data is listed: {r.text[:600]}"
        assert_no_secrets(r, what)
        return
    assert r.status_code in ((403, 404) if user == "bob" else (401, 403, 404)), (
        f"{what}: HTTP {r.status_code}; alice's job on restricted data is handed out: {r.text[:600]}")
    problem(r, r.status_code)
    assert "/results/" not in r.text, f"{what}: result links of alice's job: {r.text[:600]}"
