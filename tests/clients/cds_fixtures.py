"""Fixtures of the CDS API tests: a cirrus server with API keys, and the synthetic
CMIP6 datasets it serves besides the ESGF samples (a model cirrus has no table entry
for, on pressure levels, in two versions, large enough that its full subset takes a
while), plus the local reference subsets the downloads are compared with."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from conftest import CirrusServer, session_tmp, shared_data

KEYS = {"alice": "secret1", "bob": "secret2"}
CONFIG_KEYS = {"carol": "secret3"}  # from the config file's [api_keys] table
MAX_JOBS_PER_USER = 2

TEST_MODEL_DIR = "CMIP6/ScenarioMIP/TEST/TEST-ESM1-0/ssp126/r1i1p1f1/Amon/ta/gn"
PLEV = [100000.0, 85000.0, 50000.0, 25000.0]
NEW_VERSION, OLD_VERSION = "v20200101", "v20190101"


def _write_ta(path: Path, years: int, nlat: int, nlon: int, fill: float | None, seed: int):
    """Monthly air temperature on pressure levels (Pa), 365_day calendar, from 2015."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nt = 12 * years
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", None)
        nc.createDimension("plev", len(PLEV))
        nc.createDimension("lat", nlat)
        nc.createDimension("lon", nlon)
        nc.createDimension("bnds", 2)
        t = nc.createVariable("time", "f8", ("time",))
        t.setncatts({"units": "days since 2015-01-01", "calendar": "365_day", "axis": "T",
                     "standard_name": "time", "bounds": "time_bnds"})
        tb = nc.createVariable("time_bnds", "f8", ("time", "bnds"))
        starts = np.cumsum([0] + [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] * years)[:-1]
        ends = np.cumsum([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] * years)
        t[:] = (starts + ends) / 2.0
        tb[:] = np.stack([starts, ends], axis=1)
        p = nc.createVariable("plev", "f8", ("plev",))
        p.setncatts({"units": "Pa", "axis": "Z", "positive": "down", "standard_name": "air_pressure"})
        p[:] = PLEV
        la = nc.createVariable("lat", "f8", ("lat",))
        la.setncatts({"units": "degrees_north", "axis": "Y", "standard_name": "latitude"})
        la[:] = np.linspace(-89.0, 89.0, nlat)
        lo = nc.createVariable("lon", "f8", ("lon",))
        lo.setncatts({"units": "degrees_east", "axis": "X", "standard_name": "longitude"})
        lo[:] = np.linspace(0.0, 360.0, nlon, endpoint=False)
        v = nc.createVariable("ta", "f4", ("time", "plev", "lat", "lon"), fill_value=np.float32(1e20),
                              chunksizes=(1, len(PLEV), nlat, nlon))
        v.setncatts({"units": "K", "long_name": "Air Temperature", "standard_name": "air_temperature"})
        rng = np.random.default_rng(seed)
        for i in range(nt):
            v[i] = fill if fill is not None else rng.normal(250.0, 20.0, (len(PLEV), nlat, nlon)).astype("f4")
        nc.setncatts({"Conventions": "CF-1.7 CMIP-6.2", "mip_era": "CMIP6", "activity_id": "ScenarioMIP",
                      "institution_id": "TEST", "source_id": "TEST-ESM1-0", "experiment_id": "ssp126",
                      "member_id": "r1i1p1f1", "table_id": "Amon", "variable_id": "ta", "grid_label": "gn",
                      "frequency": "mon"})


def make_synthetic_root() -> Path:
    """The synthetic data root (written once per session)."""
    root = session_tmp() / "cds-data"
    marker = root / ".complete"
    if not marker.exists():
        # the new version: 40 years of 2x2 degrees, ~125 MB, noise (its full subset takes seconds)
        _write_ta(root / TEST_MODEL_DIR / NEW_VERSION / "ta_Amon_TEST-ESM1-0_ssp126_r1i1p1f1_gn_201501-205412.nc",
                  years=40, nlat=90, nlon=180, fill=None, seed=1)
        # an older version of the same dataset, all zeros: never selected
        _write_ta(root / TEST_MODEL_DIR / OLD_VERSION / "ta_Amon_TEST-ESM1-0_ssp126_r1i1p1f1_gn_201501-201512.nc",
                  years=1, nlat=4, nlon=8, fill=0.0, seed=2)
        marker.write_text("ok")
    return root


class CdsServer(CirrusServer):
    """A cirrus server with CDS API keys from the environment, the config file and a
    key file (which the tests extend while it runs)."""

    def __init__(self, workdir: Path):
        self.keys_file = workdir / "api-keys.txt"
        self.config_file = workdir / "cirrus.toml"
        workdir.mkdir(parents=True, exist_ok=True)
        self.keys_file.write_text("# user:key, one a line\n")
        table = "\n".join(f'{u} = "{k}"' for u, k in CONFIG_KEYS.items())
        self.config_file.write_text(f"max_jobs_per_user = {MAX_JOBS_PER_USER}\n\n[api_keys]\n{table}\n")
        super().__init__([shared_data() / "esgf", make_synthetic_root()], workdir,
                         extra_args=["--config", self.config_file, "--api-keys", self.keys_file,
                                     "--workers", "2"],
                         name="cds")

    def start(self):
        saved = os.environ.get("CIRRUS_API_KEYS")
        os.environ["CIRRUS_API_KEYS"] = ",".join(f"{u}:{k}" for u, k in KEYS.items())
        try:
            return super().start()
        finally:
            if saved is None:
                os.environ.pop("CIRRUS_API_KEYS", None)
            else:
                os.environ["CIRRUS_API_KEYS"] = saved

    @property
    def api(self) -> str:
        return self.url + "/api"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


# --------------------------------------------------------------------------- references


def open_nc(path) -> xr.Dataset:
    return xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))


def local_files(dataset_dir: str) -> list[Path]:
    """The NetCDF files of a DRS dataset directory (relative to the ESGF root)."""
    d = shared_data() / "esgf" / dataset_dir
    files = sorted(d.glob("*.nc"))
    assert files, f"no files in {d}"
    return files


def local_dataset(files) -> xr.Dataset:
    """The files of a dataset joined along time (loaded: the data is small)."""
    parts = [open_nc(f).load() for f in files]
    if len(parts) == 1:
        return parts[0]
    parts.sort(key=lambda d: d["time"].values[0])
    return xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", compat="override",
                     join="override")


def curvilinear_box(ds: xr.Dataset, north, west, south, east) -> dict:
    """The index box (rlat/rlon slices) of all grid points inside the area."""
    lat, lon = ds["lat"].values, ds["lon"].values
    lon = (lon + 180.0) % 360.0 - 180.0
    inside = (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
    rows = np.where(inside.any(axis=1))[0]
    cols = np.where(inside.any(axis=0))[0]
    ydim, xdim = ds["lat"].dims
    return {ydim: slice(rows.min(), rows.max() + 1), xdim: slice(cols.min(), cols.max() + 1)}


def unzip_netcdf(archive: Path, out: Path) -> list[Path]:
    """Extract a zip; returns the NetCDF members (and checks the provenance is there)."""
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert "provenance.json" in names, names
        z.extractall(out)
    return sorted(out / n for n in names if n.endswith(".nc"))


def assert_same(result: xr.Dataset, ref: xr.Dataset, var: str):
    """Same values, same times, same coordinates."""
    np.testing.assert_array_equal(result[var].values, ref[var].values)
    assert list(result[var].dims) == list(ref[var].dims)
    if "time" in ref[var].dims:
        assert [str(t) for t in result["time"].values] == [str(t) for t in ref["time"].values]
    for c in ref[var].dims:
        if c in ref.variables and c != "time":
            np.testing.assert_allclose(result[c].values, ref[c].values)
