"""OGC WPS at /wps, read with the real client rook's users have: OWSLib's
`WebProcessingService` (WPS 1.0.0: GetCapabilities, DescribeProcess, Execute
synchronous and asynchronous with `monitorExecution`), and plain HTTP + XML for
WPS 2.0.0 (Execute, GetStatus, GetResult, Dismiss) and for the exception reports.
Results are checked against the local files (netCDF4 on the downloaded outputs,
cirrus_ref on the sources)."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

import cftime
import netCDF4
import numpy as np
import pytest
import requests
from owslib.util import ServiceException
from owslib.wps import ASYNC, SYNC, ComplexDataInput, WebProcessingService, monitorExecution

INM = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619"
EUR11 = "cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919"
PROCESSES = {"subset", "average", "average_time", "weighted_average", "orchestrate", "regrid", "reproject",
             "climate_index", "bias_adjustment", "multi_model_statistics"}
META4 = "application/metalink+xml; version=4.0"

NS = {
    "wps1": "http://www.opengis.net/wps/1.0.0",
    "wps2": "http://www.opengis.net/wps/2.0",
    "ows11": "http://www.opengis.net/ows/1.1",
    "ows2": "http://www.opengis.net/ows/2.0",
    "xlink": "http://www.w3.org/1999/xlink",
    "ml": "urn:ietf:params:xml:ns:metalink",
}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def wps_url(server) -> str:
    ids = {d["id"] for d in server.datasets()}
    assert INM in ids and EUR11 in ids, "the WPS tests need the INM-CM5-0 and EUR-11 samples"
    return server.url + "/wps"


@pytest.fixture(scope="module")
def wps(wps_url) -> WebProcessingService:
    return WebProcessingService(wps_url, version="1.0.0")


def xml_of(r: requests.Response) -> ET.Element:
    assert r.headers["content-type"] == "text/xml; charset=utf-8", r.headers["content-type"]
    return ET.fromstring(r.content)


def exception_of(r: requests.Response, ows: str = "ows11") -> tuple[str, str | None, str]:
    root = xml_of(r)
    assert root.tag == f"{{{NS[ows]}}}ExceptionReport", r.text[:500]
    ex = root.find(f"{ows}:Exception", NS)
    return ex.get("exceptionCode"), ex.get("locator"), ex.findtext(f"{ows}:ExceptionText", namespaces=NS)


def metalink_files(url: str) -> list[str]:
    r = requests.get(url, timeout=60)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
    root = ET.fromstring(r.content)
    urls = [f.findtext("ml:metaurl", namespaces=NS) for f in root.findall("ml:file", NS)]
    assert urls and all(urls), r.text
    return urls


def download(url: str, tmp_path, name: str = "out.nc") -> netCDF4.Dataset:
    r = requests.get(url, timeout=120)
    assert r.status_code == 200, f"{url}: {r.status_code}"
    p = tmp_path / name
    p.write_bytes(r.content)
    return netCDF4.Dataset(str(p))


def etree_bytes(doc) -> bytes:
    return doc if isinstance(doc, bytes) else ET.tostring(doc) if isinstance(doc, ET.Element) else lxml_tostring(doc)


def lxml_tostring(doc) -> bytes:
    from lxml import etree
    return etree.tostring(doc)


def output_refs(execution) -> dict[str, tuple[str, str]]:
    return {o.identifier: (o.reference, o.mimeType) for o in execution.processOutputs}


def dates(nc: netCDF4.Dataset, name: str = "time"):
    t = nc.variables[name]
    return cftime.num2date(t[:], t.units, getattr(t, "calendar", "standard"))


def local_dates(server, dsid: str):
    ref = server.reference(dsid)
    t = ref.first.variables[ref.time_dim]
    return cftime.num2date(ref.read(ref.time_dim), t.units, getattr(t, "calendar", "standard"))


# --------------------------------------------------------------------------- WPS 1.0.0 with OWSLib


def test_capabilities_list_processes(wps, wps_url):
    assert {p.identifier for p in wps.processes} == PROCESSES
    assert wps.identification.type == "WPS"
    assert {op.name for op in wps.operations} == {"GetCapabilities", "DescribeProcess", "Execute"}
    subset = next(p for p in wps.processes if p.identifier == "subset")
    assert subset.title == "Subset" and subset.processVersion == "1.0"
    # the same document by XML POST
    body = (
        '<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/1.0.0" '
        'xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" language="en-US">'
        "<wps:AcceptVersions><ows:Version>1.0.0</ows:Version></wps:AcceptVersions></wps:GetCapabilities>"
    )
    root = xml_of(requests.post(wps_url, data=body, timeout=30))
    ids = {p.findtext("ows11:Identifier", namespaces=NS) for p in root.iterfind("wps1:ProcessOfferings/wps1:Process", NS)}
    assert ids == PROCESSES


def test_describe_subset(wps):
    p = wps.describeprocess("subset")
    assert p.storeSupported is True and p.statusSupported is True
    inputs = {i.identifier: i for i in p.dataInputs}
    assert list(inputs)[:5] == ["collection", "time", "time_components", "area", "level"]
    c = inputs["collection"]
    assert (c.minOccurs, c.maxOccurs, c.dataType, c.anyValue) == (1, 100, "string", True)
    assert (inputs["time"].minOccurs, inputs["time"].maxOccurs) == (0, 1)
    m = inputs["mask_outside"]
    assert (m.dataType, m.defaultValue, m.minOccurs) == ("boolean", False, 0)
    outs = {o.identifier: o for o in p.processOutputs}
    assert set(outs) == {"output", "prov"}
    assert outs["output"].dataType == "ComplexData"
    assert outs["output"].defaultValue.mimeType == META4
    assert outs["prov"].defaultValue.mimeType == "application/json"


def test_describe_allowed_values_and_workflow(wps):
    avg = wps.describeprocess("average")
    dims = next(i for i in avg.dataInputs if i.identifier == "dims")
    assert (dims.minOccurs, dims.maxOccurs) == (1, 5)
    assert dims.allowedValues == ["time", "level", "latitude", "longitude", "realization"]
    freq = next(i for i in wps.describeprocess("average_time").dataInputs if i.identifier == "freq")
    assert freq.allowedValues == ["day", "month", "season", "year"]
    wf = next(i for i in wps.describeprocess("orchestrate").dataInputs if i.identifier == "workflow")
    assert wf.dataType == "ComplexData" and wf.defaultValue.mimeType == "application/json"
    everything = wps.describeprocess("all")
    assert {p.identifier for p in everything} == PROCESSES


def test_execute_subset_sync(server, wps, tmp_path):
    # the sample has lat -89.25, 60.75 and lon 0, 200: the area holds one point
    inputs = [("collection", INM), ("time", "2015-01-01/2016-12-31"), ("area", "190.,40.,210.,70.")]
    execution = wps.execute("subset", inputs=inputs, output=[("output", True)], mode=SYNC)
    assert execution.status == "ProcessSucceeded", execution.errors and execution.errors[0].text
    assert execution.statusLocation is None
    refs = output_refs(execution)
    assert list(refs) == ["output"]
    href, mime = refs["output"]
    assert mime == META4 and href.endswith("/output.meta4")
    files = metalink_files(href)
    assert len(files) == 1 and files[0].endswith(".nc")
    with download(files[0], tmp_path) as nc:
        got = dates(nc)
        ref = server.reference(INM)
        want_t = local_dates(server, INM)
        sel_t = np.nonzero([(d.year in (2015, 2016)) for d in want_t])[0]
        assert [d.isoformat() for d in got] == [want_t[i].isoformat() for i in sel_t]
        assert (got[0].year, got[0].month, got[-1].year, got[-1].month) == (2015, 1, 2016, 12)
        lat, lon = ref.read("lat"), ref.read("lon")
        sel_y = np.nonzero((lat >= 40) & (lat <= 70))[0]
        sel_x = np.nonzero((lon >= 190) & (lon <= 210))[0]
        assert len(sel_y) and len(sel_x)
        np.testing.assert_array_equal(nc.variables["lat"][:], lat[sel_y])
        np.testing.assert_array_equal(nc.variables["lon"][:], lon[sel_x])
        want = ref.read("rlds", decoded=True)[sel_t][:, sel_y][:, :, sel_x]
        np.testing.assert_array_equal(nc.variables["rlds"][:], want)


def test_execute_subset_with_rook_collection_id(server, wps, tmp_path):
    """The CDS sends rook's project-prefixed ids (`c3s-cmip6.` + the DRS id without
    `CMIP6.`); OWSLib's subset with one is answered like the plain DRS id."""
    rook_id = "c3s-cmip6." + INM.removeprefix("CMIP6.")
    results = []
    for collection in (rook_id, INM):
        inputs = [("collection", collection), ("time", "2015-01-01/2015-12-31")]
        execution = wps.execute("subset", inputs=inputs, output=[("output", True)], mode=SYNC)
        assert execution.status == "ProcessSucceeded", execution.errors and execution.errors[0].text
        files = metalink_files(output_refs(execution)["output"][0])
        with download(files[0], tmp_path) as nc:
            results.append((dates(nc), np.asarray(nc.variables["rlds"][:])))
    assert [d.isoformat() for d in results[0][0]] == [d.isoformat() for d in results[1][0]]
    assert len(results[0][0]) == 12
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_execute_subset_async_monitor(server, wps, tmp_path):
    """storeExecuteResponse=true&status=true: ProcessAccepted at once, then the
    statusLocation document moves through ProcessStarted (percentCompleted) to
    ProcessSucceeded, followed by OWSLib's monitorExecution."""
    inputs = [("collection", EUR11), ("time", "2071-01-01/2072-12-31")]
    t0 = time.monotonic()
    execution = wps.execute("subset", inputs=inputs, output=[("output", True), ("prov", True)], mode=ASYNC)
    assert execution.status in ("ProcessAccepted", "ProcessStarted"), execution.status
    loc = execution.statusLocation
    assert loc.startswith(server.url + "/wps/status/") and loc.endswith(".xml"), loc
    seen = [(execution.status, execution.percentCompleted)]
    check = execution.checkStatus

    def spy(*args, **kwargs):
        check(*args, **kwargs)
        seen.append((execution.status, execution.percentCompleted))

    execution.checkStatus = spy
    monitorExecution(execution, sleepSecs=0.2)
    elapsed = time.monotonic() - t0
    assert execution.status == "ProcessSucceeded", [e.text for e in execution.errors]
    assert execution.percentCompleted == 100
    order = {"ProcessAccepted": 0, "ProcessStarted": 1, "ProcessSucceeded": 2}
    assert all(s in order for s, _ in seen), seen
    assert [order[s] for s, _ in seen] == sorted(order[s] for s, _ in seen), seen
    started = [p for s, p in seen if s == "ProcessStarted"]
    assert all(0 <= p <= 99 for p in started) and started == sorted(started), seen
    if elapsed > 2.0:  # long enough to have been polled while running
        assert started, f"no ProcessStarted seen in {elapsed:.1f} s: {seen}"
    refs = output_refs(execution)
    assert refs["output"][1] == META4 and refs["prov"][1] == "application/json"
    prov = requests.get(refs["prov"][0], timeout=30).json()
    assert EUR11 in json.dumps(prov)
    files = metalink_files(refs["output"][0])
    with download(files[0], tmp_path) as nc:
        got = dates(nc)
        assert (got[0].year, got[0].month, got[0].day) == (2071, 1, 1)
        assert (got[-1].year, got[-1].month) == (2072, 12)
        assert len(got) == sum(1 for d in local_dates(server, EUR11) if d.year in (2071, 2072))
    # the status document stays at statusLocation
    root = xml_of(requests.get(loc, timeout=30))
    assert root.find("wps1:Status/wps1:ProcessSucceeded", NS) is not None


def test_average_two_dims(server, wps, tmp_path):
    inputs = [("collection", INM), ("dims", "latitude"), ("dims", "longitude")]
    execution = wps.execute("average", inputs=inputs, output=[("output", True)], mode=SYNC)
    assert execution.status == "ProcessSucceeded", execution.errors and execution.errors[0].text
    files = metalink_files(output_refs(execution)["output"][0])
    with download(files[0], tmp_path) as nc:
        v = nc.variables["rlds"]
        assert v.dimensions == ("time",)
        ref = server.reference(INM)
        local = ref.read("rlds", decoded=True).astype("f8")
        want = local.reshape(local.shape[0], -1).mean(axis=1)
        np.testing.assert_allclose(v[:], want, rtol=2e-6)


def test_orchestrate_complex_json(server, wps, tmp_path):
    """A workflow as inline ComplexData (application/json) in an XML Execute."""
    workflow = {
        "doc": "subset then average <&>",
        "inputs": {"ds": [INM]},
        "outputs": {"output": "avg/output"},
        "steps": {
            "sub": {"run": "subset", "in": {"collection": "inputs/ds", "time": "2015/2015"}},
            "avg": {"run": "average", "in": {"collection": "sub/output", "dims": "time"}},
        },
    }
    data = ComplexDataInput(json.dumps(workflow), mimeType="application/json")
    execution = wps.execute("orchestrate", inputs=[("workflow", data)], output=[("output", True)], mode=SYNC)
    assert execution.status == "ProcessSucceeded", execution.errors and execution.errors[0].text
    files = metalink_files(output_refs(execution)["output"][0])
    with download(files[0], tmp_path) as nc:
        v = nc.variables["rlds"]
        assert v.dimensions == ("lat", "lon")  # time averaged away, kept as a scalar coordinate
        lo, hi = cftime.num2date(nc.variables["time_bnds"][:], nc.variables["time"].units,
                                 nc.variables["time"].calendar)
        assert (lo.year, lo.month, lo.day, hi.year, hi.month, hi.day) == (2015, 1, 1, 2016, 1, 1)
        local = server.reference(INM).read("rlds", decoded=True).astype("f8")
        in_2015 = [d.year == 2015 for d in local_dates(server, INM)]
        np.testing.assert_allclose(v[:], local[in_2015].mean(axis=0), rtol=2e-6)


def test_execute_kvp_lineage_and_raw(server, wps_url):
    params = {
        "service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "average",
        # URL-encoded by requests; '@attr' suffixes are ignored
        "DataInputs": f"collection={INM};dims=latitude@datatype=string;dims=longitude",
        "ResponseDocument": "output@asReference=true;prov@asReference=true",
        "lineage": "true",
    }
    root = xml_of(requests.get(wps_url, params=params, timeout=300))
    assert root.find("wps1:Status/wps1:ProcessSucceeded", NS) is not None
    echoed = [(i.findtext("ows11:Identifier", namespaces=NS), i.findtext("wps1:Data/wps1:LiteralData", namespaces=NS))
              for i in root.iterfind("wps1:DataInputs/wps1:Input", NS)]
    assert echoed == [("collection", INM), ("dims", "latitude"), ("dims", "longitude")]
    hrefs = {o.findtext("ows11:Identifier", namespaces=NS): o.find("wps1:Reference", NS).get("href")
             for o in root.iterfind("wps1:ProcessOutputs/wps1:Output", NS)}
    assert set(hrefs) == {"output", "prov"}
    params.pop("ResponseDocument")
    params["RawDataOutput"] = "output"
    r = requests.get(wps_url, params=params, timeout=300)
    assert r.status_code == 200 and r.headers["content-type"] == META4
    assert ET.fromstring(r.content).tag == f"{{{NS['ml']}}}metalink"


def test_failures_in_the_job(wps):
    """A request that validates but selects nothing: ProcessFailed (HTTP 200), with
    the job's error as NoApplicableCode."""
    execution = wps.execute("subset", inputs=[("collection", INM), ("time", "1800/1801")], output=[("output", True)],
                            mode=SYNC)
    # OWSLib reports a ProcessFailed carrying an ExceptionReport as status "Exception"
    assert execution.status in ("ProcessFailed", "Exception")
    assert b"wps:ProcessFailed" in etree_bytes(execution.response)
    assert execution.errors[0].code == "NoApplicableCode"
    assert "time" in execution.errors[0].text and INM in execution.errors[0].text


# --------------------------------------------------------------------------- errors (WPS 1.0.0)


def test_unknown_collection_is_invalid_parameter(wps, wps_url):
    with pytest.raises(ServiceException) as err:
        wps.execute("subset", inputs=[("collection", "CMIP6.no.such.dataset")], output=[("output", True)], mode=SYNC)
    root = ET.fromstring(str(err.value).encode())
    ex = root.find("ows11:Exception", NS)
    assert (ex.get("exceptionCode"), ex.get("locator")) == ("InvalidParameterValue", "collection")
    r = requests.get(wps_url, params={"service": "WPS", "request": "Execute", "version": "1.0.0",
                                      "identifier": "subset", "DataInputs": "collection=CMIP6.no.such.dataset"},
                     timeout=30)
    assert r.status_code == 400
    code, locator, text = exception_of(r)
    assert (code, locator) == ("InvalidParameterValue", "collection") and "CMIP6.no.such.dataset" in text


def test_missing_collection(wps, wps_url):
    with pytest.raises(ServiceException) as err:
        wps.execute("subset", inputs=[("time", "2015/2016")], output=[("output", True)], mode=SYNC)
    ex = ET.fromstring(str(err.value).encode()).find("ows11:Exception", NS)
    assert (ex.get("exceptionCode"), ex.get("locator")) == ("MissingParameterValue", "collection")


@pytest.mark.parametrize("params, status, code, locator", [
    ({}, 400, "MissingParameterValue", "request"),
    ({"request": "GetCapabilities"}, 400, "MissingParameterValue", "service"),
    ({"service": "WPS", "request": "DescribeProcess", "version": "1.0.0"}, 400, "MissingParameterValue", "identifier"),
    ({"service": "WPS", "request": "DescribeProcess", "version": "1.0.0", "identifier": "nope"}, 400,
     "InvalidParameterValue", "Identifier"),
    ({"service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "nope"}, 400,
     "InvalidParameterValue", "Identifier"),
    ({"service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "average",
      "DataInputs": f"collection={INM};dims=height"}, 400, "InvalidParameterValue", "dims"),
    ({"service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "subset",
      "DataInputs": f"collection={INM};colour=red"}, 400, "InvalidParameterValue", "colour"),
    ({"service": "WPS", "request": "Execute", "version": "1.0.0", "identifier": "subset",
      "DataInputs": "collection=@xlink:href=http://example.org/x.nc"}, 400, "InvalidParameterValue", "collection"),
    ({"service": "WPS", "request": "GetMap", "version": "1.0.0"}, 400, "OperationNotSupported", "request"),
    ({"service": "WPS", "request": "DescribeProcess", "version": "3.0.0", "identifier": "subset"}, 400,
     "VersionNegotiationFailed", "version"),
])
def test_kvp_errors(wps_url, params, status, code, locator):
    r = requests.get(wps_url, params=params, timeout=30)
    assert r.status_code == status, r.text
    assert exception_of(r)[:2] == (code, locator)


def test_malformed_xml_and_unknown_status(wps_url):
    r = requests.post(wps_url, data="<wps:Execute", headers={"content-type": "text/xml"}, timeout=30)
    assert r.status_code == 400 and exception_of(r)[0] == "NoApplicableCode"
    r = requests.get(wps_url + "/status/no-such-job.xml", timeout=30)
    assert r.status_code == 404
    exception_of(r)


# --------------------------------------------------------------------------- WPS 2.0.0 over plain HTTP

EXECUTE2 = """<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0" xmlns:ows="http://www.opengis.net/ows/2.0"
  xmlns:xlink="http://www.w3.org/1999/xlink" service="WPS" version="2.0.0" mode="{mode}" response="document">
  <ows:Identifier>subset</ows:Identifier>
  <wps:Input id="collection"><wps:Data>{collection}</wps:Data></wps:Input>
  <wps:Input id="time"><wps:Data><wps:LiteralValue>2015/2016</wps:LiteralValue></wps:Data></wps:Input>
  <wps:Output id="output" transmission="reference"/>
  <wps:Output id="prov" transmission="reference"/>
</wps:Execute>"""


def wps2(wps_url, **params) -> requests.Response:
    return requests.get(wps_url, params={"service": "WPS", "version": "2.0.0", **params}, timeout=60)


def result_refs(root: ET.Element) -> dict[str, tuple[str, str]]:
    assert root.tag == f"{{{NS['wps2']}}}Result"
    return {o.get("id"): (o.find("wps2:Reference", NS).get(f"{{{NS['xlink']}}}href"),
                          o.find("wps2:Reference", NS).get("mimeType"))
            for o in root.iterfind("wps2:Output", NS)}


def test_wps2_capabilities_and_describe(wps_url):
    root = xml_of(wps2(wps_url, request="GetCapabilities"))
    assert root.tag == f"{{{NS['wps2']}}}Capabilities" and root.get("version") == "2.0.0"
    sums = root.findall("wps2:Contents/wps2:ProcessSummary", NS)
    assert {s.findtext("ows2:Identifier", namespaces=NS) for s in sums} == PROCESSES
    assert all(s.get("jobControlOptions") == "sync-execute async-execute dismiss" for s in sums)
    root = xml_of(wps2(wps_url, request="DescribeProcess", identifier="average"))
    proc = root.find("wps2:ProcessOffering/wps2:Process", NS)
    dims = next(i for i in proc.iterfind("wps2:Input", NS) if i.findtext("ows2:Identifier", namespaces=NS) == "dims")
    assert (dims.get("minOccurs"), dims.get("maxOccurs")) == ("1", "5")
    values = [v.text for v in dims.iterfind("wps2:LiteralData/LiteralDataDomain/ows2:AllowedValues/ows2:Value", NS)]
    assert values == ["time", "level", "latitude", "longitude", "realization"]


def test_wps2_async_lifecycle(server, wps_url, tmp_path):
    r = requests.post(wps_url, data=EXECUTE2.format(mode="async", collection=INM).encode(),
                      headers={"content-type": "application/xml"}, timeout=60)
    assert r.status_code == 200, r.text
    root = xml_of(r)
    assert root.tag == f"{{{NS['wps2']}}}StatusInfo"
    job = root.findtext("wps2:JobID", namespaces=NS)
    assert root.findtext("wps2:Status", namespaces=NS) in ("Accepted", "Running", "Succeeded")
    deadline = time.monotonic() + 300
    statuses = []
    while True:
        st = xml_of(wps2(wps_url, request="GetStatus", jobId=job))
        statuses.append(st.findtext("wps2:Status", namespaces=NS))
        if statuses[-1] not in ("Accepted", "Running"):
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.1)
    assert statuses[-1] == "Succeeded", statuses
    assert st.findtext("wps2:PercentCompleted", namespaces=NS) == "100"
    refs = result_refs(xml_of(wps2(wps_url, request="GetResult", jobId=job)))
    assert refs["output"][1] == META4 and refs["prov"][1] == "application/json"
    files = metalink_files(refs["output"][0])
    with download(files[0], tmp_path) as nc:
        assert [d.year for d in dates(nc)] == [2015] * 12 + [2016] * 12
    # Dismiss: the job is gone, its results too
    dis = requests.post(wps_url, data=(
        '<wps:Dismiss xmlns:wps="http://www.opengis.net/wps/2.0" service="WPS" version="2.0.0">'
        f"<wps:JobID>{job}</wps:JobID></wps:Dismiss>"), timeout=30)
    assert xml_of(dis).findtext("wps2:Status", namespaces=NS) == "Dismissed"
    assert requests.get(refs["output"][0], timeout=30).status_code == 404
    r = wps2(wps_url, request="GetResult", jobId=job)
    assert r.status_code == 404 and exception_of(r, "ows2")[0] == "NoSuchJob"


def test_wps2_sync_execute(wps_url):
    r = requests.post(wps_url, data=EXECUTE2.format(mode="sync", collection=INM).encode(), timeout=300)
    assert r.status_code == 200, r.text
    refs = result_refs(xml_of(r))
    assert set(refs) == {"output", "prov"}
    assert metalink_files(refs["output"][0])


def test_wps2_errors(wps_url):
    r = wps2(wps_url, request="GetStatus", jobId="no-such-job")
    assert r.status_code == 404
    assert exception_of(r, "ows2")[:2] == ("NoSuchJob", "jobId")
    r = wps2(wps_url, request="GetResult")
    assert r.status_code == 400 and exception_of(r, "ows2")[:2] == ("MissingParameterValue", "jobId")
    r = wps2(wps_url, request="DescribeProcess", identifier="nope")
    assert r.status_code == 400 and exception_of(r, "ows2")[:2] == ("NoSuchProcess", "Identifier")
    r = requests.post(wps_url, data=EXECUTE2.format(mode="async", collection="CMIP6.no.such.dataset").encode(),
                      timeout=60)
    assert r.status_code == 400 and exception_of(r, "ows2")[:2] == ("InvalidParameterValue", "collection")
