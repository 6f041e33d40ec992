"""The ESGF search API (`/esg-search/search`) with the unmodified esgf-pyclient:
datasets and files by facets, facet counts, paging, and the OPeNDAP and HTTP URLs of
the records opened with xarray/netCDF4 and downloaded."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest
import requests
import xarray as xr
from pyesgf.search import SearchConnection

INM = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619"
HADGEM = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas"
EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"


@pytest.fixture(scope="module")
def conn(server):
    return SearchConnection(server.url + "/esg-search", distrib=False)


def test_datasets_by_facets_with_counts(server, conn):
    ids = {d["id"] for d in server.datasets()}
    cmip6 = {i for i in ids if i.startswith("CMIP6.")}
    ctx = conn.new_context(project="CMIP6", facets="source_id,variable_id")
    assert ctx.hit_count == len(cmip6)
    counts = ctx.facet_counts
    assert counts["source_id"]["INM-CM5-0"] == 1
    assert sum(counts["variable_id"].values()) == len(cmip6)
    found = {r.dataset_id.split("|")[0] for r in ctx.search()}
    assert found == cmip6
    # narrower: one source and variable; the record names its node and files
    ctx = conn.new_context(project="CMIP6", source_id="INM-CM5-0", variable_id="rlds", latest=True, facets="*")
    results = ctx.search()
    assert len(results) == 1
    r = results[0]
    assert r.dataset_id.split("|")[0] == INM and "|" in r.dataset_id
    assert r.number_of_files == 1 and r.json["version"] == "20190619"
    assert r.json["instance_id"] == INM and r.json["master_id"] == INM.rsplit(".", 1)[0]
    # the OPeNDAP URL opens with xarray and reads what the file holds
    with xr.open_dataset(r.opendap_url) as ds, xr.open_dataset(server.local_path(server.dataset(INM)["files"][0])) as local:
        np.testing.assert_array_equal(ds["rlds"].values, local["rlds"].values)
    # CMIP5 and CORDEX facets, free text
    assert {r.dataset_id.split("|")[0] for r in conn.new_context(project="CMIP5", variable="tas").search()} == {HADGEM}
    assert {r.dataset_id.split("|")[0] for r in conn.new_context(query="zg500").search()} == {EUR11}


def test_files_of_a_joined_dataset(server, conn):
    ctx = conn.new_context(project="CMIP5", model="HadGEM2-ES", variable="tas")
    (ds,) = list(ctx.search())
    assert ds.number_of_files == 13
    files = list(ds.file_context().search())
    rels = server.dataset(HADGEM)["files"]
    assert len(files) == 13
    by_name = {f.filename: f for f in files}
    assert set(by_name) == {r.rsplit("/", 1)[1] for r in rels}
    rel = rels[4]
    f = by_name[rel.rsplit("/", 1)[1]]
    assert f.size == server.local_path(rel).stat().st_size
    # HTTP download: the bytes of the file, with Range
    r = requests.get(f.download_url, timeout=60)
    assert r.status_code == 200 and r.content == server.local_path(rel).read_bytes()
    part = requests.get(f.download_url, headers={"Range": "bytes=0-3"}, timeout=60)
    assert part.status_code == 206 and part.content == server.local_path(rel).read_bytes()[:4]
    # OPeNDAP: that file alone (all its records), not the joined dataset
    with netCDF4.Dataset(f.opendap_url) as remote, netCDF4.Dataset(str(server.local_path(rel))) as local:
        assert len(remote.dimensions["time"]) == len(local.dimensions["time"])
        np.testing.assert_array_equal(remote["time"][:], local["time"][:])
        np.testing.assert_array_equal(remote["tas"][:], local["tas"][:])


def test_paging_and_bad_requests(server, conn):
    url = server.url + "/esg-search/search"
    total = requests.get(url, params={"format": "application/solr+json", "limit": 0}).json()["response"]["numFound"]
    seen = []
    for offset in range(0, total, 4):
        page = requests.get(url, params={"format": "application/solr+json", "limit": 4, "offset": offset}).json()
        assert page["response"]["start"] == offset
        seen += [d["instance_id"] for d in page["response"]["docs"]]
    assert len(seen) == total == len(set(seen))
    r = requests.get(url, params={"replica": "true"}).json()
    assert r["response"]["numFound"] == 0
    for bad in ({"limit": "x"}, {"type": "Aggregation"}, {"format": "application/solr+xml"},
                {"latest": "maybe"}, {"colour": "red"}):
        r = requests.get(url, params=bad)
        assert r.status_code == 400, (bad, r.status_code)
        assert next(iter(bad)) in r.text or next(iter(bad.values())) in r.text, r.text
    # files outside the catalog are not served
    assert requests.get(server.url + "/files/../etc/passwd").status_code in (400, 404)
    assert requests.get(server.url + "/files/no/such/file.nc").status_code == 404
