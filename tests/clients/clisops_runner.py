"""Runs clisops operations for the processing tests, in an interpreter that has clisops
(see proc_util.clisops_python). Usage: python clisops_runner.py CASES.json

CASES.json: {"out": DIR, "cases": [{"name", "op", "files": [...], "params": {...}}]}
with op one of subset, average (clisops.ops.average.average_over_dims), average_time.
The files of a case are joined the way the tests' oracle joins them (time order, a
record whose time is not after the last one taken is dropped). Each result dataset is
written to DIR/<name>_<i>.nc; DIR/results.json maps name -> {"files": [...]} or
{"error": "..."}.
"""

import json
import sys
import time
import traceback
import warnings

import numpy as np
import xarray as xr

warnings.filterwarnings("ignore")


def open_joined(files):
    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    parts = [xr.open_dataset(f, decode_times=coder, decode_timedelta=False) for f in files]
    if len(parts) == 1:
        return parts[0]
    parts.sort(key=lambda d: d["time"].values[0])
    kept, last = [], None
    for d in parts:
        if last is not None:
            d = d.isel(time=np.nonzero(np.array([t > last for t in d["time"].values]))[0])
        if d.sizes["time"]:
            last = d["time"].values[-1]
            kept.append(d)
    return xr.concat(kept, dim="time", data_vars="minimal", coords="minimal", compat="override",
                     join="override", combine_attrs="override")


def main():
    spec = json.load(open(sys.argv[1]))
    out_dir = spec["out"]
    from clisops.ops.average import average_over_dims, average_time
    from clisops.ops.subset import subset

    ops = {"subset": subset, "average": average_over_dims, "average_time": average_time}
    results = {}
    for case in spec["cases"]:
        name = case["name"]
        t0 = time.monotonic()
        try:
            ds = open_joined(case["files"])
            outs = ops[case["op"]](ds=ds, output_type="xarray", **case["params"])
            paths = []
            for i, o in enumerate(outs):
                p = f"{out_dir}/{name}_{i}.nc"
                o.to_netcdf(p)
                paths.append(p)
            results[name] = {"files": paths, "seconds": round(time.monotonic() - t0, 3)}
        except Exception as e:  # reported per case; the test decides
            results[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]}
    json.dump(results, open(f"{out_dir}/results.json", "w"), indent=1)


if __name__ == "__main__":
    main()
