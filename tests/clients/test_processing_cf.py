"""Processing outputs pass the IOOS compliance-checker CF 1.7 test
(`compliance-checker --test=cf:1.7 -f json_new`) with no high-priority failure:
a rectilinear subset across lon 0, a rotated-pole subset (EUR-22, masked), a
curvilinear subset (CNRM tos), a multi-file 360_day subset, averages over
latitude/longitude and over time, and average_time by season and by year."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proc_util import CNRM, EUR11, EUR22, HADGEM, MIROC, fetch_files, run_ok

OUTPUTS = {
    "subset_rectilinear_lon0": ("subset", {"collection": MIROC, "area": "-10,40,10,50"}),
    "subset_rotated_pole": ("subset", {"collection": EUR22, "area": "-10,40,10,55", "mask_outside": True}),
    "subset_rotated_pole_time": ("subset", {"collection": EUR11, "area": "-10,35,10,50",
                                            "time": "2075-12-20/2076-01-10"}),
    "subset_curvilinear": ("subset", {"collection": CNRM, "area": "-40,20,0,50", "mask_outside": True}),
    "subset_360_day_files": ("subset", {"collection": HADGEM, "time": "2030-06-01/2031-06-30"}),
    "average_latlon": ("average", {"collection": MIROC, "dims": ["latitude", "longitude"]}),
    "average_latlon_weighted": ("average", {"collection": MIROC, "dims": ["latitude", "longitude"],
                                            "weighted": True}),
    "average_time": ("average", {"collection": HADGEM, "dims": ["time"]}),
    "average_time_season": ("average_time", {"collection": HADGEM, "freq": "season"}),
    "average_time_year": ("average_time", {"collection": HADGEM, "freq": "year"}),
}


def checker() -> list[str]:
    exe = Path(sys.executable).parent / "compliance-checker"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("compliance-checker")
    if found is None:
        pytest.fail("compliance-checker is not installed (tests/clients/requirements.txt)", pytrace=False)
    return [found]


@pytest.fixture(scope="module")
def reports(server, tmp_path_factory):
    """Runs every request, then compliance-checker once on all the files."""
    files = {}
    for key, (process, inputs) in OUTPUTS.items():
        doc = run_ok(server, process, inputs)
        files[key] = fetch_files(doc, tmp_path_factory.mktemp(key))
    out = tmp_path_factory.mktemp("cc") / "report.json"
    paths = [str(p) for ps in files.values() for p in ps]
    proc = subprocess.run([*checker(), "--test=cf:1.7", "-f", "json_new", "-o", str(out), *paths],
                          capture_output=True, text=True, timeout=600)
    # exit status 1 only means "some check (of any priority) did not pass"
    assert proc.returncode in (0, 1) and out.exists(), proc.stderr[-2000:]
    report = json.loads(out.read_text())
    return {key: [(p, report[str(p)]["cf:1.7"]) for p in ps] for key, ps in files.items()}


def failures(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        got, possible = r["value"]
        if got < possible:
            out.append(f"{r['name']}: {'; '.join(r.get('msgs', []))}")
    return out


@pytest.mark.parametrize("key", list(OUTPUTS))
def test_cf_1_7_no_high_priority_failure(reports, key):
    for path, rep in reports[key]:
        assert rep["testname"] == "cf:1.7" and rep["cc_spec_version"] == "1.7", (rep["testname"], rep["cc_spec_version"])
        assert rep["high_priorities"], "no high-priority check ran"
        high = failures(rep["high_priorities"])
        assert not high, f"{path.name}: high-priority CF 1.7 failures:\n" + "\n".join(high)
        assert rep["scored_points"] >= 0.95 * rep["possible_points"], (
            path.name, rep["scored_points"], rep["possible_points"], failures(rep["medium_priorities"]))
