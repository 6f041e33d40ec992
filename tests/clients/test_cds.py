"""The Copernicus CDS API: the unmodified `cdsapi` (0.7, on ecmwf-datastores-client)
and `ecmwf.datastores.Client` retrieve CMIP6 and CORDEX subsets from cirrus, the files
hold exactly the values of the same subset read locally with xarray; the legacy
UID:KEY API; keys, limits, errors, reuse of identical requests, resumed downloads."""

from __future__ import annotations

import hashlib
import re
import tarfile
import time

import cdsapi
import numpy as np
import pytest
import requests
from ecmwf import datastores
from ecmwf.datastores.legacy_client import LegacyClient

from conftest import _SESSION, session_tmp
from cds_fixtures import (CONFIG_KEYS, MAX_JOBS_PER_USER, NEW_VERSION, TEST_MODEL_DIR, CdsServer,
                          assert_same, curvilinear_box, local_dataset, local_files, make_synthetic_root, open_nc,
                          unzip_netcdf)

INM_DIR = "CMIP6/ScenarioMIP/INM/INM-CM5-0/ssp245/r1i1p1f1/Amon/rlds/gr1/v20190619"
IPSL_DIR = "CMIP6/CMIP/IPSL/IPSL-CM6A-LR/historical/r1i1p1f1/Amon/rlds/gr/v20180803"
EUR22_DIR = "cordex/output/EUR-22/GERICS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/GERICS-REMO2015/v1/mon/tas/v20191029"
EUR11_DIR = "cordex/output/EUR-11/IPSL/IPSL-IPSL-CM5A-MR/rcp85/r1i1p1/IPSL-WRF381P/v1/day/zg500/v20190919"
CMIP6 = "projections-cmip6"
CORDEX = "projections-cordex-domains-single-levels"
INDICES = "sis-extreme-indices-cmip6"

INM_REQUEST = {
    "temporal_resolution": "monthly",
    "experiment": "ssp2_4_5",
    "variable": "surface_downwelling_longwave_radiation",
    "model": "inm_cm5_0",
    "date": "2015-01-01/2020-12-31",
    "area": [70, 0, 0, 200],
    "format": "zip",
}
EUR22_REQUEST = {
    "domain": "europe",
    "horizontal_resolution": "0_22_degree_x_0_22_degree",
    "experiment": "rcp_8_5",
    "temporal_resolution": "monthly_mean",
    "variable": "2m_air_temperature",
    "gcm_model": "mpi_m_mpi_esm_lr",
    "rcm_model": "gerics_remo2015",
    "ensemble_member": "r1i1p1",
    "start_year": "2021",
    "end_year": "2021",
    "area": [55, 5, 45, 15],
    "format": "zip",
}
TA_REQUEST = {
    "temporal_resolution": "monthly",
    "experiment": "ssp1_2_6",
    "variable": "air_temperature",
    "model": "test_esm1_0",
}


@pytest.fixture(scope="module")
def cds():
    make_synthetic_root()
    srv = CdsServer(session_tmp() / "cds")
    _SESSION["servers"].append(srv)
    srv.start()
    yield srv
    srv.stop()


def ds_client(cds, key="secret1", **kw) -> datastores.Client:
    kw.setdefault("maximum_tries", 1)
    return datastores.Client(url=cds.api, key=key, progress=False, retry_after=1, sleep_max=1, **kw)


def problem(r: requests.Response) -> dict:
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    return r.json()


def execute(cds, collection, request, key="secret1"):
    headers = {"PRIVATE-TOKEN": key} if key else {}
    return requests.post(f"{cds.api}/retrieve/v1/processes/{collection}/execution",
                         json={"inputs": request}, headers=headers, timeout=60)


def wait_done(cds, job_id, key="secret1", timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = requests.get(f"{cds.api}/retrieve/v1/jobs/{job_id}", headers={"PRIVATE-TOKEN": key}, timeout=30).json()
        if doc["status"] not in ("accepted", "running") or time.monotonic() > deadline:
            return doc
        time.sleep(0.2)


# --------------------------------------------------------------------------- catalogue


def test_catalogue_offers_the_words_of_the_datasets_served(cds):
    r = requests.get(f"{cds.api}/catalogue/v1/messages", timeout=30)
    assert r.status_code == 200 and r.json() == {"messages": []}
    ids = [c["id"] for c in requests.get(f"{cds.api}/catalogue/v1/collections", timeout=30).json()["collections"]]
    assert ids == [CMIP6, CORDEX, INDICES]
    col = requests.get(f"{cds.api}/catalogue/v1/collections/{CMIP6}", timeout=30).json()
    s = col["summaries"]
    # from the tables, and from the rules for a model no table knows (the synthetic one)
    assert {"inm_cm5_0", "ipsl_cm6a_lr", "miroc6", "test_esm1_0"} <= set(s["model"])
    assert {"historical", "ssp1_1_9", "ssp1_2_6", "ssp2_4_5"} <= set(s["experiment"])
    assert {"surface_downwelling_longwave_radiation", "air_temperature",
            "sea_ice_area_percentage_on_ocean_grid"} <= set(s["variable"])
    assert s["temporal_resolution"] == ["daily", "monthly"]
    assert s["level"] == ["1000", "850", "500", "250"]  # only real pressure levels, in hPa
    cordex = requests.get(f"{cds.api}/catalogue/v1/collections/{CORDEX}", timeout=30).json()["summaries"]
    assert cordex["domain"] == ["europe", "north_america"]
    assert cordex["horizontal_resolution"] == ["0_11_degree_x_0_11_degree", "0_22_degree_x_0_22_degree"]
    assert cordex["experiment"] == ["rcp_4_5", "rcp_8_5"]
    assert {"2m_air_temperature", "500hpa_geopotential", "mean_precipitation_flux"} == set(cordex["variable"])
    # as the client reads them
    c = ds_client(cds)
    coll = c.get_collection(CMIP6)
    assert coll.begin_datetime.year == 1850 and coll.end_datetime.year == 2100
    assert coll.title.startswith("CMIP6")
    proc = c.get_process(CMIP6)
    assert "inm_cm5_0" in proc.json["inputs"]["model"]["schema"]["items"]["enum"]
    assert c.get_processes().collection_ids == [CMIP6, CORDEX, INDICES]
    assert c.apply_constraints(CMIP6, {"model": "inm_cm5_0"})["experiment"] == ["ssp2_4_5"]
    assert c.apply_constraints(CMIP6, {"experiment": "ssp2_4_5"})["model"] == ["cnrm_cm6_1", "inm_cm5_0"]


# --------------------------------------------------------------------------- retrievals


def test_cdsapi_retrieves_a_cmip6_subset(cds, tmp_path):
    c = cdsapi.Client(url=cds.api, key="secret1", progress=False, sleep_max=1, quiet=True)
    assert isinstance(c, LegacyClient)  # cdsapi 0.7 on ecmwf-datastores-client
    target = tmp_path / "out.zip"
    assert c.retrieve(CMIP6, INM_REQUEST, str(target)) == str(target)
    (nc,) = unzip_netcdf(target, tmp_path / "x")
    assert nc.name == "rlds_Amon_INM-CM5-0_ssp245_r1i1p1f1_gr1_201501-202012.nc"
    ref = local_dataset(local_files(INM_DIR)).sel(time=slice("2015-01-01", "2020-12-31"), lat=slice(0, 70))
    assert ref["rlds"].shape == (72, 1, 2)
    assert_same(open_nc(nc), ref, "rlds")


def test_cdsapi_retrieves_a_cordex_subset(cds, tmp_path):
    c = cdsapi.Client(url=cds.api, key="secret1", progress=False, sleep_max=1, quiet=True)
    target = tmp_path / "cordex.zip"
    c.retrieve(CORDEX, EUR22_REQUEST, str(target))
    (nc,) = unzip_netcdf(target, tmp_path / "x")
    local = local_dataset(local_files(EUR22_DIR))
    ref = local.isel(curvilinear_box(local, 55, 5, 45, 15))
    assert 0 < ref["tas"].size < local["tas"].size
    assert_same(open_nc(nc), ref, "tas")


def test_datastores_client_tgz_across_files(cds, tmp_path):
    """EUR-11 daily zg500, two files joined along time, delivered as tgz."""
    req = {"domain": "europe", "horizontal_resolution": "0_11_degree_x_0_11_degree", "experiment": "rcp_8_5",
           "temporal_resolution": "daily_mean", "variable": "500hpa_geopotential",
           "gcm_model": "ipsl_ipsl_cm5a_mr", "rcm_model": "ipsl_wrf381p", "start_year": 2075, "end_year": 2076,
           "format": "tgz"}
    target = tmp_path / "eur11.tar.gz"
    ds_client(cds).retrieve(CORDEX, req, str(target))
    with tarfile.open(target, "r:gz") as t:
        names = t.getnames()
        assert "provenance.json" in names
        t.extractall(tmp_path / "x", filter="data")
    ncs = [tmp_path / "x" / n for n in names if n.endswith(".nc")]
    result = open_nc(ncs[0]) if len(ncs) == 1 else local_dataset(ncs)
    ref = local_dataset(local_files(EUR11_DIR)).sel(time=slice("2075-01-01", "2076-12-31"))
    assert ref["zg500"].shape[0] == 731
    assert_same(result, ref, "zg500")


def test_datastores_client_levels_time_components_netcdf(cds, tmp_path):
    """A dataset added to the data roots (a model no table knows) is requestable; levels
    in hPa select the Pa levels; year/month lists; format netcdf gives the file itself;
    of two versions the latest is used."""
    req = dict(TA_REQUEST, level=["850", "500"], year=["2016", "2017"], month=["01", "07"],
               area=[10, 20, -10, 40], format="netcdf")
    c = ds_client(cds)
    results = c.submit(CMIP6, req).get_results()
    assert results.content_type == "application/netcdf"
    target = tmp_path / "ta.nc"
    results.download(str(target))
    files = sorted((make_synthetic_root() / TEST_MODEL_DIR / NEW_VERSION).glob("*.nc"))
    local = local_dataset(files)
    months = [t.year in (2016, 2017) and t.month in (1, 7) for t in local["time"].values]
    ref = local.isel(time=np.where(months)[0]).sel(plev=[85000.0, 50000.0], lat=slice(-10, 10), lon=slice(20, 40))
    assert ref["ta"].shape[:2] == (4, 2)
    result = open_nc(target)
    assert_same(result, ref, "ta")
    assert float(np.abs(result["ta"]).min()) > 0  # not the old version (zeros)


def test_legacy_uid_key_api(cds, tmp_path):
    c = cdsapi.Client(url=cds.api + "/v2", key="alice:secret1", progress=False, sleep_max=1, quiet=True)
    assert type(c) is cdsapi.api.Client  # the legacy code path of cdsapi itself
    req = {"temporal_resolution": "monthly", "experiment": "historical",
           "variable": "surface_downwelling_longwave_radiation", "model": "ipsl_cm6a_lr",
           "year": ["1990", "1991"], "month": ["01", "02", "12"], "format": "zip"}
    target = tmp_path / "legacy.zip"
    result = c.retrieve(CMIP6, req, str(target))
    assert result.content_type == "application/zip"
    assert result.content_length == target.stat().st_size
    (nc,) = unzip_netcdf(target, tmp_path / "x")
    local = local_dataset(local_files(IPSL_DIR))
    keep = [t.year in (1990, 1991) and t.month in (1, 2, 12) for t in local["time"].values]
    ref = local.isel(time=np.where(keep)[0])
    assert ref["rlds"].shape[0] == 6
    assert_same(open_nc(nc), ref, "rlds")
    # the reply of the task, and its deletion (cdsapi deletes finished requests)
    rid = result.reply["request_id"]
    r = requests.get(f"{cds.api}/v2/tasks/{rid}", auth=("alice", "secret1"), timeout=30)
    assert r.json()["state"] in ("completed", "deleted") or r.status_code == 404
    status = requests.get(f"{cds.api}/v2/status.json", timeout=30).json()
    assert status == {"info": [], "warning": []}


# --------------------------------------------------------------------------- keys


def test_no_key(cds):
    r = execute(cds, CMIP6, INM_REQUEST, key=None)
    assert r.status_code == 401
    p = problem(r)
    assert p["title"] == "Authentication failed"
    assert "PRIVATE-TOKEN" in p["detail"]
    r = requests.post(f"{cds.api}/v2/resources/{CMIP6}", json=INM_REQUEST, timeout=30)
    assert r.status_code == 401
    assert "basic authentication" in r.json()["message"]


@pytest.mark.filterwarnings("ignore:401 Client Error:UserWarning")  # the client's own start-up check
def test_wrong_key(cds):
    with pytest.raises(requests.HTTPError) as e:
        ds_client(cds, key="not-a-key").retrieve(CMIP6, INM_REQUEST)
    assert e.value.response.status_code == 401
    assert re.search("not (a )?valid", str(e.value))
    with pytest.raises(Exception, match="not (a )?valid"):
        cdsapi.Client(url=cds.api + "/v2", key="alice:wrong", progress=False, quiet=True).retrieve(CMIP6, INM_REQUEST)
    with pytest.raises(Exception, match="belongs to another user"):
        cdsapi.Client(url=cds.api + "/v2", key="alice:secret2", progress=False, quiet=True).retrieve(CMIP6, INM_REQUEST)


@pytest.mark.filterwarnings("ignore:401 Client Error:UserWarning")  # the client's own start-up check
def test_keys_from_config_and_added_without_restart(cds):
    assert ds_client(cds, key=CONFIG_KEYS["carol"]).check_authentication() == {"id": "carol"}
    with pytest.raises(requests.HTTPError):
        ds_client(cds, key="secret4").check_authentication()
    with open(cds.keys_file, "a") as f:
        f.write("dave:secret4\n")
    deadline = time.monotonic() + 10
    while True:
        try:
            assert ds_client(cds, key="secret4").check_authentication() == {"id": "dave"}
            break
        except requests.HTTPError:
            assert time.monotonic() < deadline, "a key added to the key file was not taken up"
            time.sleep(0.3)


def test_jobs_of_other_users_are_not_visible(cds):
    r = execute(cds, CMIP6, INM_REQUEST)
    assert r.status_code == 201
    job = r.json()["jobID"]
    r = requests.get(f"{cds.api}/retrieve/v1/jobs/{job}", headers={"PRIVATE-TOKEN": "secret2"}, timeout=30)
    assert r.status_code == 404
    assert "of user 'bob'" in problem(r)["detail"]


# --------------------------------------------------------------------------- errors


def test_unknown_collection(cds):
    with pytest.raises(requests.HTTPError) as e:
        ds_client(cds).retrieve("projections-cmip7", INM_REQUEST)
    assert e.value.response.status_code == 404
    assert f"the collections are: {CMIP6}, {CORDEX}, {INDICES}" in str(e.value)
    with pytest.raises(Exception, match="there is no collection 'projections-cmip7'"):
        cdsapi.Client(url=cds.api + "/v2", key="alice:secret1", progress=False, quiet=True).retrieve(
            "projections-cmip7", INM_REQUEST)


@pytest.mark.parametrize("key,value,expected", [
    ("experiment", "ssp1-2_6",
     "experiment: 'ssp1-2_6' is not valid; valid values: amip, historical, ssp1_1_9, ssp1_2_6, ssp2_4_5 "
     "(did you mean 'ssp1_2_6'?)"),
    ("model", "INM_CM5", "model: 'INM_CM5' is not valid; valid values: canesm5, cesm2, cnrm_cm6_1, inm_cm5_0,"),
    ("level", "700", "level: '700' is not valid; valid values: 1000, 250, 500, 850"),
    ("format", "grib", "format: 'grib' is not valid; valid values: netcdf, tgz, zip"),
    ("colour", "red", "'colour' is not a request key of projections-cmip6; its keys are: temporal_resolution,"),
])
def test_invalid_value_lists_the_valid_ones(cds, key, value, expected):
    req = dict(TA_REQUEST, **{key: value})
    with pytest.raises(requests.HTTPError) as e:
        ds_client(cds).submit(CMIP6, req)
    assert e.value.response.status_code == 400
    assert "Invalid request" in str(e.value)
    assert expected in str(e.value)


def test_missing_key_lists_the_valid_ones(cds):
    r = execute(cds, CMIP6, {k: v for k, v in INM_REQUEST.items() if k != "model"})
    assert r.status_code == 400
    assert problem(r)["detail"] == "'model' is required; valid values: inm_cm5_0"


def test_empty_selection(cds):
    r = execute(cds, CMIP6, dict(INM_REQUEST, model="miroc6"))
    assert r.status_code == 400
    p = problem(r)
    assert p["title"] == "Empty selection"
    assert p["detail"].startswith("no dataset matches temporal_resolution=monthly, experiment=ssp2_4_5")
    assert "these values exist: model: inm_cm5_0" in p["detail"]
    r = execute(cds, CMIP6, dict(INM_REQUEST, date="1990-01-01/1995-12-31"))
    assert r.status_code == 400
    assert "covers 2015-01-16 to 2100-12-16" in problem(r)["detail"]
    with pytest.raises(Exception, match="Empty selection: no dataset matches"):
        cdsapi.Client(url=cds.api + "/v2", key="alice:secret1", progress=False, quiet=True).retrieve(
            CMIP6, dict(INM_REQUEST, model="miroc6"))


def test_failed_job_says_why(cds):
    req = dict(EUR22_REQUEST, area=[10, 100, 0, 110])  # far from Europe
    # the results of a failed job are a 400 problem: the client raises it with title and detail
    with pytest.raises(requests.HTTPError) as e:
        ds_client(cds).retrieve(CORDEX, req)
    assert e.value.response.status_code == 400
    assert "The job failed" in str(e.value)
    assert re.search(r"no grid point of dataset '.*' lies in the area W=100 S=0 E=110 N=10", str(e.value))
    # the legacy API reports the failure in its reply
    with pytest.raises(Exception, match="the job failed. no grid point of dataset"):
        cdsapi.Client(url=cds.api + "/v2", key="alice:secret1", progress=False, quiet=True, sleep_max=1).retrieve(
            CORDEX, req)


# --------------------------------------------------------------------------- reuse, limits, downloads


def test_identical_request_reuses_the_result(cds, tmp_path):
    req = {"temporal_resolution": "monthly", "experiment": "historical",
           "variable": "surface_downwelling_longwave_radiation", "model": "ipsl_cm6a_lr",
           "date": "1900-01-01/1905-12-31", "area": [90, 0, 0, 360], "format": "zip"}
    c = ds_client(cds)
    first = c.submit(CMIP6, req)
    first.download(str(tmp_path / "first.zip"))
    assert first.started_at is not None
    t0 = time.monotonic()
    second = c.submit(CMIP6, req)
    assert second.status == "successful"  # at once: nothing to wait for
    second.download(str(tmp_path / "second.zip"))
    elapsed = time.monotonic() - t0
    assert second.request_id != first.request_id
    assert second.started_at is None and second.finished_at is None  # as the CDS shows cached results
    doc = requests.get(f"{cds.api}/retrieve/v1/jobs/{second.request_id}", params={"log": "True"},
                       headers={"PRIVATE-TOKEN": "secret1"}, timeout=30).json()
    log = " ".join(m for _, m in doc["metadata"]["log"])
    assert f"an identical request (job {first.request_id}" in log and "nothing was recomputed" in log
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    assert elapsed < 5
    # no worker ever ran the second job
    server_log = re.sub(r"\x1b\[[0-9;]*m", "", cds.log_text())
    assert "identical request: result reused" in server_log
    assert [line for line in server_log.splitlines() if "job started" in line and first.request_id in line]
    assert not [line for line in server_log.splitlines() if "job started" in line and second.request_id in line]
    # the same result for another user, also through the legacy API
    c2 = cdsapi.Client(url=cds.api + "/v2", key="bob:secret2", progress=False, quiet=True, sleep_max=1)
    target = tmp_path / "third.zip"
    c2.retrieve(CMIP6, req, str(target))
    assert target.read_bytes() == (tmp_path / "first.zip").read_bytes()


def test_download_resumes_with_range(cds):
    r = execute(cds, CMIP6, INM_REQUEST)
    assert r.status_code == 201
    job = r.json()["jobID"]
    assert wait_done(cds, job)["status"] == "successful"
    res = requests.get(f"{cds.api}/retrieve/v1/jobs/{job}/results", headers={"PRIVATE-TOKEN": "secret1"}, timeout=30)
    asset = res.json()["asset"]["value"]
    href, size, checksum = asset["href"], asset["file:size"], asset["file:checksum"]
    assert asset["type"] == "application/zip" and checksum.startswith("1220")
    # no key needed; the length is file:size, sent as it is even to clients accepting gzip
    head = requests.head(href, timeout=30)
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == size
    assert head.headers["accept-ranges"] == "bytes"
    full = requests.get(href, headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert int(full.headers["content-length"]) == size
    assert full.headers.get("content-encoding", "identity") == "identity"
    assert len(full.content) == size
    assert hashlib.sha256(full.content).hexdigest() == checksum[4:]
    # an interrupted download resumed where it stopped
    half = size // 2
    first = requests.get(href, headers={"Range": f"bytes=0-{half - 1}"}, timeout=30)
    assert first.status_code == 206 and len(first.content) == half
    rest = requests.get(href, headers={"Range": f"bytes={half}-"}, timeout=30)
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {half}-{size - 1}/{size}"
    assert first.content + rest.content == full.content
    assert requests.get(href, headers={"Range": f"bytes={size}-"}, timeout=30).status_code == 416
    assert requests.get(href.rsplit("/", 1)[0] + "/other.zip", timeout=30).status_code == 404


def test_jobs_list_and_delete(cds):
    c = ds_client(cds)
    remote = c.submit(CMIP6, dict(INM_REQUEST, date="2030-01-01/2030-12-31"))
    remote.get_results()
    assert remote.request_id in c.get_jobs(limit=100).request_ids
    assert remote.request["model"] == "inm_cm5_0"
    assert remote.collection_id == CMIP6
    remote.delete()
    assert remote.json["status"] == "dismissed"
    r = requests.get(f"{cds.api}/retrieve/v1/jobs/{remote.request_id}/results",
                     headers={"PRIVATE-TOKEN": "secret1"}, timeout=30)
    assert r.status_code == 404
    # the result stays available to identical requests
    again = c.submit(CMIP6, dict(INM_REQUEST, date="2030-01-01/2030-12-31"))
    assert again.status == "successful" and again.started_at is None


def test_per_user_limit(cds):
    """carol's limit is MAX_JOBS_PER_USER jobs waiting or running: the next one is
    refused with 429 and Retry-After; other users are not affected."""
    full = dict(TA_REQUEST, format="zip")  # the whole 125 MB dataset: takes a while
    ids = []
    for end in range(2054, 2054 - MAX_JOBS_PER_USER, -1):
        r = execute(cds, CMIP6, dict(full, date=f"2015-01-01/{end}-12-31"), key=CONFIG_KEYS["carol"])
        assert r.status_code == 201, r.text
        assert r.json()["status"] in ("accepted", "running")
        ids.append(r.json()["jobID"])
    try:
        r = execute(cds, CMIP6, dict(full, date="2015-01-01/2050-12-31"), key=CONFIG_KEYS["carol"])
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0
        assert problem(r)["detail"].startswith(
            f"user 'carol' has {MAX_JOBS_PER_USER} jobs waiting or running and the limit is {MAX_JOBS_PER_USER}")
        with pytest.raises(requests.HTTPError) as e:
            ds_client(cds, key=CONFIG_KEYS["carol"]).submit(CMIP6, dict(full, date="2016-01-01/2050-12-31"))
        assert e.value.response.status_code == 429
        assert "Too many jobs" in str(e.value)
        r = execute(cds, CMIP6, dict(TA_REQUEST, date="2015-01-01/2015-12-31", area=[1, 1, -1, 3]), key="secret2")
        assert r.status_code == 201, r.text
        bob_job = r.json()["jobID"]
    finally:
        for job in ids:
            requests.delete(f"{cds.api}/retrieve/v1/jobs/{job}", headers={"PRIVATE-TOKEN": CONFIG_KEYS["carol"]},
                            timeout=30)
    assert wait_done(cds, bob_job, key="secret2")["status"] == "successful"


def test_server_alive(cds):
    assert cds.alive(), cds.log_tail(40)
