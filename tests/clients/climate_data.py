"""Synthetic CMIP6-like daily data for the climate index tests (test_climate_indices.py).

`write_climate_root(root)` writes, in the ESGF DRS layout of CMIP6,

    CMIP6/CMIP/CIRRUS/<source>/historical/r1i1p1f1/day/<var>/gn/v20240101/
        <var>_day_<source>_historical_r1i1p1f1_gn_<YYYYMMDD>-<YYYYMMDD>.nc

daily tas, tasmax, tasmin (K) and pr (kg m-2 s-1) of three models, 1998-2009
(12 years) on a 6 x 8 grid (longitudes 0..360), each dataset split into 4-year files:

| model         | calendar    | latitudes  | file format                      |
|---------------|-------------|------------|----------------------------------|
| CIRRUS-CI-A   | gregorian   | descending | NETCDF4_CLASSIC, deflate         |
| CIRRUS-CI-B   | noleap      | ascending  | NETCDF4, chunked (1 day)         |
| CIRRUS-CI-C   | 360_day     | ascending  | NETCDF3_64BIT_OFFSET             |

The fields have a seasonal cycle by latitude (cold high latitudes with frost and ice
days, warm tropics with summer days and tropical nights), AR(1) day-to-day noise,
tasmin < tas < tasmax, and gamma-distributed precipitation on wet days (dry days
exactly 0, some days >= 10 and >= 20 mm). Missing days (_FillValue 1e20):

- CIRRUS-CI-A, cell (lat index 2, lon index 3): 2003-07-10 and 2005-01-15..17 in all
  four variables;
- CIRRUS-CI-B, cell (4, 5): pr of 2001-12-30 (RX5day windows of early January 2002
  reach back to it).

CIRRUS-CI-A's tasmax files do not share their time units: the second file counts
`days since 1950-01-01`, the others `days since 1850-01-01`.

Nothing here reads cirrus: the generator is the tests' own, written from the CMIP6
conventions (CMOR global attributes, DRS paths).
"""

from __future__ import annotations

from pathlib import Path

import cftime
import netCDF4
import numpy as np

ACTIVITY, INSTITUTION, EXPERIMENT, MEMBER, GRID, VERSION = (
    "CMIP", "CIRRUS", "historical", "r1i1p1f1", "gn", "v20240101")
YEARS = (1998, 2009)
FILE_YEARS = 4
NLAT, NLON = 6, 8
LATS = np.array([-55.0, -30.0, -5.0, 20.0, 45.0, 70.0])
LONS = np.arange(NLON) * 45.0 + 22.5  # 22.5 .. 337.5
FILL = np.float32(1e20)
UNITS = "days since 1850-01-01"

MODELS = {
    "CIRRUS-CI-A": {"calendar": "gregorian", "lat_desc": True, "format": "NETCDF4_CLASSIC", "seed": 11},
    "CIRRUS-CI-B": {"calendar": "noleap", "lat_desc": False, "format": "NETCDF4", "seed": 22},
    "CIRRUS-CI-C": {"calendar": "360_day", "lat_desc": False, "format": "NETCDF3_64BIT_OFFSET", "seed": 33},
}
VARIABLES = ("tas", "tasmax", "tasmin", "pr")

VAR_ATTRS = {
    "tas": {"standard_name": "air_temperature", "long_name": "Near-Surface Air Temperature", "units": "K",
            "cell_methods": "area: time: mean", "coordinates": "height"},
    "tasmax": {"standard_name": "air_temperature", "long_name": "Daily Maximum Near-Surface Air Temperature",
               "units": "K", "cell_methods": "area: mean time: maximum", "coordinates": "height"},
    "tasmin": {"standard_name": "air_temperature", "long_name": "Daily Minimum Near-Surface Air Temperature",
               "units": "K", "cell_methods": "area: mean time: minimum", "coordinates": "height"},
    "pr": {"standard_name": "precipitation_flux", "long_name": "Precipitation", "units": "kg m-2 s-1",
           "cell_methods": "area: time: mean"},
}

# (model, variables, lat index, lon index, dates) of missing values
MISSING = [
    ("CIRRUS-CI-A", VARIABLES, 2, 3, [(2003, 7, 10), (2005, 1, 15), (2005, 1, 16), (2005, 1, 17)]),
    ("CIRRUS-CI-B", ("pr",), 4, 5, [(2001, 12, 30)]),
]
# (model, variable, file index) -> time units of that file
OTHER_UNITS = {("CIRRUS-CI-A", "tasmax", 1): "days since 1950-01-01"}


def dataset_id(source: str, var: str) -> str:
    return ".".join(["CMIP6", ACTIVITY, INSTITUTION, source, EXPERIMENT, MEMBER, "day", var, GRID, VERSION])


def dataset_dir(source: str, var: str) -> Path:
    return Path("CMIP6", ACTIVITY, INSTITUTION, source, EXPERIMENT, MEMBER, "day", var, GRID, VERSION)


def _days(calendar: str, y0: int, y1: int) -> list:
    """Every day (at 00:00) from y0-01-01 through y1-12-31 in `calendar`."""
    start = cftime.datetime(y0, 1, 1, calendar=calendar)
    end = cftime.datetime(y1 + 1, 1, 1, calendar=calendar)
    n = int(round(cftime.date2num(end, UNITS, calendar) - cftime.date2num(start, UNITS, calendar)))
    first = cftime.date2num(start, UNITS, calendar)
    return list(cftime.num2date(first + np.arange(n), UNITS, calendar))


def _fields(days: list, calendar: str, lats: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """tas, tasmax, tasmin (K) and pr (kg m-2 s-1) as float32 (time, lat, lon)."""
    rng = np.random.default_rng(seed)
    nt = len(days)
    ylen = 360.0 if calendar == "360_day" else np.array([
        366.0 if (calendar != "noleap" and d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0)) else 365.0
        for d in days])
    frac = (np.array([d.dayofyr for d in days]) - 1) / ylen  # fraction of the year
    lat = np.deg2rad(lats)[None, :, None]
    lon = np.deg2rad(LONS)[None, None, :]
    hemi = np.sign(lats)[None, :, None]
    mean = 301.0 - 0.42 * np.abs(lats)[None, :, None] + 1.5 * np.sin(lon)
    amp = 2.0 + 16.0 * np.abs(np.sin(lat))
    season = -np.cos(2 * np.pi * (frac[:, None, None] - 0.04)) * hemi  # +1 in local summer
    noise = np.empty((nt, NLAT, NLON))
    noise[0] = rng.normal(0, 3.0, (NLAT, NLON))
    eps = rng.normal(0, 3.0 * np.sqrt(1 - 0.7 ** 2), (nt, NLAT, NLON))
    for i in range(1, nt):
        noise[i] = 0.7 * noise[i - 1] + eps[i]
    tas = mean + amp * season + noise
    dtr = 5.0 + 6.0 * np.abs(np.cos(lat)) + np.abs(rng.normal(0, 1.5, (nt, NLAT, NLON))) + 0.5
    tasmax = tas + 0.55 * dtr
    tasmin = tas - 0.45 * dtr
    # precipitation: wetter in local summer and near the equator
    p_wet = np.clip(0.38 + 0.15 * season + 0.2 * np.cos(lat) ** 4, 0.05, 0.95)
    wet = rng.random((nt, NLAT, NLON)) < p_wet
    amount = rng.gamma(0.75, 7.5, (nt, NLAT, NLON))  # mm/day
    pr_mm = np.where(wet, amount, 0.0)
    return {
        "tas": tas.astype("f4"),
        "tasmax": tasmax.astype("f4"),
        "tasmin": tasmin.astype("f4"),
        "pr": (pr_mm / 86400.0).astype("f4"),
    }


def _write_file(path: Path, fmt: str, var: str, data: np.ndarray, days: list, calendar: str, units: str,
                lats: np.ndarray, source: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    nc4 = fmt.startswith("NETCDF4")
    with netCDF4.Dataset(path, "w", format=fmt) as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", NLAT)
        nc.createDimension("lon", NLON)
        nc.createDimension("bnds", 2)
        t = nc.createVariable("time", "f8", ("time",))
        t.setncatts({"bounds": "time_bnds", "units": units, "calendar": calendar, "axis": "T",
                     "long_name": "time", "standard_name": "time"})
        tb = nc.createVariable("time_bnds", "f8", ("time", "bnds"))
        start = cftime.date2num(days, units, calendar)
        t[:] = start + 0.5
        tb[:] = np.stack([start, start + 1.0], axis=1)
        la = nc.createVariable("lat", "f8", ("lat",))
        la.setncatts({"bounds": "lat_bnds", "units": "degrees_north", "axis": "Y", "long_name": "Latitude",
                      "standard_name": "latitude"})
        la[:] = lats
        lab = nc.createVariable("lat_bnds", "f8", ("lat", "bnds"))
        half = 12.5 * np.sign(lats[1] - lats[0])
        lab[:] = np.stack([lats - half, lats + half], axis=1)
        lo = nc.createVariable("lon", "f8", ("lon",))
        lo.setncatts({"bounds": "lon_bnds", "units": "degrees_east", "axis": "X", "long_name": "Longitude",
                      "standard_name": "longitude"})
        lo[:] = LONS
        lob = nc.createVariable("lon_bnds", "f8", ("lon", "bnds"))
        lob[:] = np.stack([LONS - 22.5, LONS + 22.5], axis=1)
        if var != "pr":
            h = nc.createVariable("height", "f8", ())
            h.setncatts({"units": "m", "axis": "Z", "positive": "up", "long_name": "height",
                         "standard_name": "height"})
            h.assignValue(2.0)
        kw = {"fill_value": FILL}
        if nc4:
            kw.update(zlib=True, complevel=1, shuffle=True)
            if fmt == "NETCDF4":
                kw["chunksizes"] = (1, NLAT, NLON)
        v = nc.createVariable(var, "f4", ("time", "lat", "lon"), **kw)
        v.setncatts({**VAR_ATTRS[var], "missing_value": FILL, "cell_measures": "area: areacella",
                     "comment": "synthetic field for the cirrus climate index tests"})
        v[:] = data
        nc.setncatts({
            "Conventions": "CF-1.7 CMIP-6.2", "activity_id": ACTIVITY, "data_specs_version": "01.00.32",
            "experiment": "all-forcing simulation of the recent past", "experiment_id": EXPERIMENT,
            "forcing_index": np.int32(1), "frequency": "day", "grid": "synthetic 25x45 degree grid",
            "grid_label": GRID, "initialization_index": np.int32(1),
            "institution": "cirrus test data (synthetic fields, not model output)",
            "institution_id": INSTITUTION, "mip_era": "CMIP6", "nominal_resolution": "2500 km",
            "physics_index": np.int32(1), "product": "model-output", "realization_index": np.int32(1),
            "realm": "atmos", "source": f"{source}: synthetic fields for the climate index tests",
            "source_id": source, "source_type": "AOGCM", "sub_experiment": "none", "sub_experiment_id": "none",
            "table_id": "day", "variable_id": var, "variant_label": MEMBER, "member_id": MEMBER,
            "license": "CC BY 4.0", "tracking_id": f"hdl:21.14100/cirrus-{source}-{var}-{path.stem[-17:]}",
        })


def write_climate_root(root: Path) -> dict[str, list[Path]]:
    """Writes every dataset under `root`; returns {dataset id: [file paths in time order]}."""
    out: dict[str, list[Path]] = {}
    for source, m in MODELS.items():
        cal = m["calendar"]
        lats = LATS[::-1].copy() if m["lat_desc"] else LATS.copy()
        days = _days(cal, *YEARS)
        fields = _fields(days, cal, lats, m["seed"])
        index = {(d.year, d.month, d.day): i for i, d in enumerate(days)}
        for model, names, yi, xi, dates in MISSING:
            if model == source:
                for name in names:
                    for ymd in dates:
                        fields[name][index[ymd], yi, xi] = np.nan
        years = np.array([d.year for d in days])
        for var in VARIABLES:
            data = np.where(np.isnan(fields[var]), FILL, fields[var]).astype("f4")
            paths = []
            for k, y0 in enumerate(range(YEARS[0], YEARS[1] + 1, FILE_YEARS)):
                y1 = min(y0 + FILE_YEARS - 1, YEARS[1])
                sel = np.nonzero((years >= y0) & (years <= y1))[0]
                fdays = [days[i] for i in sel]
                last = fdays[-1]
                name = (f"{var}_day_{source}_{EXPERIMENT}_{MEMBER}_{GRID}_"
                        f"{y0:04d}0101-{last.year:04d}{last.month:02d}{last.day:02d}.nc")
                path = root / dataset_dir(source, var) / name
                units = OTHER_UNITS.get((source, var, k), UNITS)
                _write_file(path, m["format"], var, data[sel], fdays, cal, units, lats, source)
                paths.append(path)
            out[dataset_id(source, var)] = paths
    return out


if __name__ == "__main__":
    import sys

    for dsid, files in write_climate_root(Path(sys.argv[1])).items():
        print(dsid, len(files))


def write_transformed(root: Path, files: dict, source: str, target: str, variables, transform,
                      first_year: int | None = None) -> dict[str, list[Path]]:
    """Another model on `source`'s grid and calendar: its files (from `first_year` on)
    with the values of each variable `v` replaced by `transform(v, values)` (missing
    values stay missing), under `target`'s DRS path. Returns {dataset id: paths}."""
    import xarray as xr

    out: dict[str, list[Path]] = {}
    for var in variables:
        for path in files[dataset_id(source, var)]:
            if first_year is not None and int(path.name.rsplit("_", 1)[1][:4]) < first_year:
                continue
            with xr.open_dataset(path, decode_times=False, mask_and_scale=False) as ds:
                ds = ds.load()
            data = ds[var].values
            fill = ds[var].attrs.get("_FillValue")
            missing = data == fill if fill is not None else np.isnan(data)
            new = np.asarray(transform(var, data.astype("f8"))).astype("f4")
            ds[var].values = np.where(missing, data, new)
            for k in ("source_id", "source"):
                if k in ds.attrs:
                    ds.attrs[k] = str(ds.attrs[k]).replace(source, target)
            dest = root / dataset_dir(target, var) / path.name.replace(source, target)
            dest.parent.mkdir(parents=True, exist_ok=True)
            ds.to_netcdf(dest, format="NETCDF4")
            out.setdefault(dataset_id(target, var), []).append(dest)
    return out
