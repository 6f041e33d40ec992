"""netcdf-c's `ncdap_test` against cirrus.

At session start every canned DAP2 response set X of
`$CIRRUS_SHARED_DATA/peer-suites/netcdf-c/ncdap_test/testdata3` (X.dds, X.das, X.dods
of the OPeNDAP test server datasets) is turned into a NetCDF file with
`nccopy file://.../testdata3/X <tmp>/X.nc` (90 of the 91 sets convert), and the
directory is served by a cirrus of its own (`conftest_dap4.ncdap3`). Then, as
`tst_ncdap3.sh` and `tst_remote3.sh` do against the OPeNDAP test server:

- `ncdump <cirrus DAP2 URL>` of every converted set is compared with `expected3/X.dmp`
  (the dataset name of the first line ignored),
- the sets without an `expected3` dump are compared with `ncdump` of the served file,
- the constrained cases of `tst_remote3.sh` without Structures (test.01 `f64`, test.02
  `b[1:2:10]`, test.03 `i32[0:1][1:2][0:2]`, test.03 `s1`) with `expectremote3/X.N.dmp`.

The comparison is structural (`cdl_compare.py`): dimensions, variable declarations,
attributes and data values as maps/sets. Every remaining difference is listed in
EXPECTED_DIFFERENCES with its reason; the test fails on any other difference and on an
entry that no longer occurs. `test_claims` checks what the explanations say about the
converted files.
"""

from __future__ import annotations

import re
import signal

import netCDF4
import numpy as np
import pytest

from cdl_compare import diff_cdl, normalise_ncdump, parse_cdl
from cirrus_ref import ncdump_header
from conftest_dap4 import ncdap3, peer_suites, run  # noqa: F401
from expected_diffs import Expected, assert_only_expected, check_table_cases

SUITE = peer_suites() / "netcdf-c" / "ncdap_test"
SETS = sorted({p.name.rsplit(".", 1)[0] for p in (SUITE / "testdata3").glob("*.dds")})
EXPECTED3 = sorted(p.name.removesuffix(".dmp") for p in (SUITE / "expected3").glob("*.dmp"))

# nccopy cannot convert these canned responses (set -> the error libnetcdf reports)
NOT_CONVERTIBLE = {
    "synth9": ("NetCDF: Index exceeds dimension bound",
               "the canned synth9.dods does not match its DDS (libnetcdf reads the header, then reports "
               "'missing/invalid begin/end record marker' for the data; `ncdump file://.../synth9` fails "
               "the same way); netcdf-c's own test list leaves synth8 and synth9 out ('still fail') and "
               "expected3/synth9.dmp holds the header only"),
}

# tst_remote3.sh: the constrained cases without Structures (dataset;N;constraint)
REMOTE3 = [("test.01", 1, "f64"), ("test.02", 1, "b[1:2:10]"), ("test.03", 1, "i32[0:1][1:2][0:2]"),
           ("test.03", 2, "s1")]

CASES_EXPECTED3 = [s for s in SETS if s in EXPECTED3 and s not in NOT_CONVERTIBLE]
CASES_NO_EXPECTED3 = [s for s in SETS if s not in EXPECTED3]
CASES_REMOTE3 = [f"{s}.{n}" for s, n, _ in REMOTE3]
CHECKS = {"expected3", "served file", "expectremote3"}

# --------------------------------------------------------------------------- the table

_SIGNED_BYTE = (
    "nccopy stores the canned DAP2 Byte as NC_BYTE (signed); DAP2's Byte is unsigned, so cirrus sends an "
    "NC_BYTE variable as Byte plus _Unsigned = \"false\", the convention libnetcdf and netCDF-Java use to "
    "restore signedness (the values ncdump prints are the same on both sides); the canned response had a "
    "plain Byte")
_BYTE_ATTR = (
    "an NC_BYTE attribute (nccopy's translation of the canned Byte attribute) is declared Int16 by cirrus: "
    "DAP2 has no signed 8-bit type and attributes cannot carry _Unsigned, so widening keeps negative values "
    "(-128) valid; libnetcdf then reads a short (0s / -128s where the canned Byte gave 0b / -128b)")
_PERCENT = (
    "the canned DDS/DAS names are DAP2-escaped (e.g. 'NSCAT%20Rev%2017', 'a%201', 'bad%2fname'); libnetcdf "
    "keeps the escapes in the names it exposes, so the nccopy'd file holds names with a literal '%' "
    "(ncdump of the file shows '%20'); cirrus escapes that '%' as %25, as DAP2 requires, and libnetcdf "
    "again keeps the escape ('%2520'): not a round trip of the original name, but the served file's name "
    "is carried exactly")
_SEQUENCE = (
    "synth8 is a Sequence of Sequences: libnetcdf's DAP2 client shows it as the zero-record variable "
    "Q1.Q2.v4(unlimited), but nccopy cannot write a Sequence to a NetCDF file and writes an empty file, "
    "so cirrus has nothing to serve")
_DTS_STRINGS = (
    "expectremote3 was recorded from the live OPeNDAP test server, whose generated strings read "
    "'This is a data test string (pass 0).' for every element; the canned test.03.dods (and "
    "expected3/test.03.dmp) have 'pass 120' ... 'pass 1119', which is what the converted file holds and "
    "cirrus serves")

_UNSIGNED_CASES = (
    "EOSDB", "fillmismatch.nc", "in.nc", "in1.nc", "in_2.nc", "in_no_three_double_dmn.nc", "nestedDAS", "synth4",
    "synth6", "test.01", "test.02", "test.03", "test.04", "test.05", "test.07", "test.50", "test.53", "test.55",
    "test.56", "test.57", "test.PointFile", "test.dfr1", "test.dfr2", "test.dfr3", "test.gr1", "test.gr5",
    "test.nc", "test.sds1", "test.sds2", "test.sds5", "test.vs1", "test.vs2", "test.vs3", "test.vs4", "text.nc")
_BYTE_ATTR_CASES = ("in.nc", "in1.nc", "in_2.nc", "in_no_three_double_dmn.nc", "test.nc", "text.nc")
_PERCENT_CASES = ("1990-S1700101.HDF.WVC_Lat", "synth1", "synth10", "test.PointFile", "test.dfr1", "test.dfr2",
                  "test.dfr3")

P_UNSIGNED = r'^/ attribute (.+): unexpected \1:_Unsigned = "false"$'
P_BYTE_ATTR_B = r"^/ attribute [^ ]+: missing [^ ]*:\w+ = -?\d+b(, -?\d+b)*$"
P_BYTE_ATTR_S = r"^/ attribute [^ ]+: unexpected [^ ]*:\w+ = -?\d+s(, -?\d+s)*$"
P_PCT_MISSING = r"^/ \w+ ([^ ]*%(?!25)[0-9a-fA-F]{2}[^ ]*: missing|[^ ]+: missing [^ ]*%(?!25)[0-9a-fA-F]{2})"
P_PCT_UNEXPECTED = r"^/ \w+ ([^ ]*%25[0-9a-fA-F]{2}[^ ]*: unexpected|[^ ]+: unexpected [^ ]*%25[0-9a-fA-F]{2})"

EXPECTED_DIFFERENCES: list[Expected] = [
    # ---- ncdump <DAP2 URL> vs expected3/X.dmp
    Expected(_UNSIGNED_CASES, "expected3", P_UNSIGNED, _SIGNED_BYTE),
    Expected(_BYTE_ATTR_CASES, "expected3", P_BYTE_ATTR_B, _BYTE_ATTR),
    Expected(_BYTE_ATTR_CASES, "expected3", P_BYTE_ATTR_S, _BYTE_ATTR),
    Expected(_PERCENT_CASES, "expected3", P_PCT_MISSING, _PERCENT),
    Expected(_PERCENT_CASES, "expected3", P_PCT_UNEXPECTED, _PERCENT),
    Expected(("synth8",), "expected3", r"^/ (dimension unlimited|variable Q1\.Q2\.v4): missing$", _SEQUENCE),
    # ---- sets without an expected3 dump: ncdump <DAP2 URL> vs ncdump <the served file>
    Expected(("testfile.nc",), "served file", P_UNSIGNED, _SIGNED_BYTE),
    Expected(("testfile.nc",), "served file", P_BYTE_ATTR_B, _BYTE_ATTR),
    Expected(("testfile.nc",), "served file", P_BYTE_ATTR_S, _BYTE_ATTR),
    Expected(("test.SwathFile",), "served file", P_PCT_MISSING, _PERCENT),
    Expected(("test.SwathFile",), "served file", P_PCT_UNEXPECTED, _PERCENT),
    # ---- tst_remote3.sh constraints vs expectremote3/X.N.dmp
    Expected(("test.02.1",), "expectremote3", P_UNSIGNED, _SIGNED_BYTE),
    Expected(("test.03.2",), "expectremote3",
             r'^/ data s1: values differ \(1000 of 1000 tokens; first at 0: expected "This is a data test string '
             r'\(pass 0\)\.", got "This is a data test string \(pass 120\)\."\)$', _DTS_STRINGS),
]


def test_expected_differences_table():
    check_table_cases(EXPECTED_DIFFERENCES, set(SETS) | set(CASES_REMOTE3), CHECKS)


# --------------------------------------------------------------------------- conversion


def test_nccopy_conversions(ncdap3):
    """90 of the 91 canned response sets convert; the one that does not fails for the
    reason recorded in NOT_CONVERTIBLE."""
    assert len(ncdap3.results) == 91, sorted(ncdap3.results)
    failed = {s: msg for s, (ok, msg) in ncdap3.results.items() if not ok}
    assert set(failed) == set(NOT_CONVERTIBLE), failed
    for s, (needle, _) in NOT_CONVERTIBLE.items():
        assert needle in failed[s], failed[s]
    datasets = {d["id"] for d in ncdap3.server.json("/datasets")["datasets"]}
    assert datasets == {ncdap3.dataset_id(s) for s, (ok, _) in ncdap3.results.items() if ok}


# --------------------------------------------------------------------------- ncdump


def ncdump_cdl(target: str) -> tuple[dict | None, str]:
    p = run(["ncdump", target], timeout=120)
    if p.returncode != 0:
        what = signal.Signals(-p.returncode).name if p.returncode < 0 else f"exit {p.returncode}"
        return None, f"ncdump failed ({what}): {p.stderr.decode(errors='replace')[-300:]}"
    # tst_ncdap.sh removes \r from the output before comparing
    text = p.stdout.decode("utf-8", errors="surrogateescape").replace("\\r", "")
    return parse_cdl(normalise_ncdump(text)), ""


def expected_cdl(path) -> dict:
    return parse_cdl(normalise_ncdump(path.read_text(errors="surrogateescape").replace("\\r", "")))


@pytest.mark.parametrize("case", CASES_EXPECTED3)
def test_ncdump_vs_expected3(ncdap3, case):
    got, err = ncdump_cdl(ncdap3.server.dap_url(ncdap3.dataset_id(case)))
    diffs = [err] if got is None else diff_cdl(expected_cdl(SUITE / "expected3" / f"{case}.dmp"), got)
    assert_only_expected(EXPECTED_DIFFERENCES, "expected3", case, diffs)


@pytest.mark.parametrize("case", CASES_NO_EXPECTED3)
def test_ncdump_vs_served_file(ncdap3, case):
    """Sets without an expected3 dump: the DAP2 view equals ncdump of the file itself."""
    exp, err = ncdump_cdl(str(ncdap3.dir / ncdap3.dataset_id(case)))
    assert exp is not None, err
    got, err = ncdump_cdl(ncdap3.server.dap_url(ncdap3.dataset_id(case)))
    diffs = [err] if got is None else diff_cdl(exp, got)
    assert_only_expected(EXPECTED_DIFFERENCES, "served file", case, diffs)


@pytest.mark.parametrize("case", CASES_REMOTE3)
def test_ncdump_constrained_vs_expectremote3(ncdap3, case):
    dataset, n, ce = next(r for r in REMOTE3 if f"{r[0]}.{r[1]}" == case)
    got, err = ncdump_cdl(ncdap3.server.dap_url(ncdap3.dataset_id(dataset)) + "?" + ce)
    diffs = [err] if got is None else diff_cdl(expected_cdl(SUITE / "expectremote3" / f"{case}.dmp"), got)
    assert_only_expected(EXPECTED_DIFFERENCES, "expectremote3", case, diffs)


# --------------------------------------------------------------------------- the claims of the table


def test_claims(ncdap3):
    """What the explanations in EXPECTED_DIFFERENCES say about the converted files."""
    def header(name):
        return ncdump_header(run(["ncdump", "-h", str(ncdap3.dir / name)]).stdout.decode())

    # literal '%' escapes in the names nccopy wrote
    _, v = header("1990-S1700101.HDF.WVC_Lat.nc")
    assert "NSCAT%20Rev%2017.WVC_Lat" in v, sorted(v)
    # the canned Byte became NC_BYTE
    _, v = header("test.01.nc")
    assert v["b"][0] == "byte", v["b"]
    # the Sequence of Sequences left nothing to write
    dims, v = header("synth8.nc")
    assert not dims and not v, (dims, v)
    # NC_BYTE attributes in the file, declared Int16 in the DAS
    with netCDF4.Dataset(ncdap3.dir / "in.nc") as nc:
        assert np.asarray(nc["att_var"].getncattr("byte_att")).dtype == np.int8
    assert re.search(r"Int16 byte_att 0;", ncdap3.server.get("/opendap/in.nc.das").text)
    # the char byte 0x80 (not UTF-8) is in the file, and the DAP2 String carries it as it is
    with netCDF4.Dataset(ncdap3.dir / "test.nc") as nc:
        nc["c1"].set_auto_chartostring(False)
        assert bytes(nc["c1"][0, 0]) == b"\x80"
    dods = ncdap3.server.get("/opendap/test.nc.dods?c1").content
    assert dods.endswith(b"\x00\x00\x00\x01\x80\x00\x00\x00"), dods[-16:]
    # the live test server's strings vs the canned ones
    text = run(["ncdump", "-v", "s1", str(ncdap3.dir / "test.03.nc")]).stdout.decode()
    assert "(pass 120)" in text and "(pass 0)" not in text
    assert "(pass 0)" in (SUITE / "expectremote3" / "test.03.2.dmp").read_text()
