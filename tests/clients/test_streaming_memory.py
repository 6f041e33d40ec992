"""A .dods response much larger than the server's memory budget is streamed: the
download is complete and exact while the server's resident memory stays far
below the response size, also while the client reads slowly (back-pressure)."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from conftest import testdata_bin as find_testdata_bin

RSS_LIMIT_MB = 250
SLOW_PART = 48 * 2**20  # read the first 48 MiB slowly


def _generate(out: Path) -> Path:
    """~380 MB of float32: one year of daily 0.5 degree tas, uncompressed."""
    gen = find_testdata_bin()
    if gen is not None:
        proc = subprocess.run([str(gen), "cmip6-daily", "--out", str(out), "--years", "1",
                               "--res", "0.5", "--deflate", "0"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    else:  # no generator binary: write the same shape with netCDF4
        path = out / "big" / "tas_day_big.nc"
        path.parent.mkdir(parents=True)
        with netCDF4.Dataset(path, "w") as nc:
            nc.createDimension("time", None)
            nc.createDimension("lat", 360)
            nc.createDimension("lon", 720)
            t = nc.createVariable("time", "f8", ("time",))
            t.units, t.calendar, t.axis = "days since 2015-01-01", "noleap", "T"
            la = nc.createVariable("lat", "f8", ("lat",))
            la.units = "degrees_north"
            lo = nc.createVariable("lon", "f8", ("lon",))
            lo.units = "degrees_east"
            la[:] = np.arange(-89.75, 90, 0.5)
            lo[:] = np.arange(0.25, 360, 0.5)
            v = nc.createVariable("tas", "f4", ("time", "lat", "lon"), chunksizes=(1, 360, 720))
            base = (np.add.outer(np.arange(360), np.arange(720)) % 997).astype("f4")
            for i in range(365):
                v[i] = base + np.float32(i)
                t[i] = i + 0.5
    files = list(out.rglob("*.nc"))
    assert len(files) == 1, files
    return files[0]


@pytest.fixture(scope="module")
def big(start_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    path = _generate(root)
    # the decoded-chunk cache is bounded on its own (--chunk-cache-bytes); keep it small
    # here so that what is measured is the streaming itself
    srv = start_server([root], extra_args=["--chunk-cache-bytes", str(32 * 2**20)], name="big")
    ds = srv.json("/datasets")["datasets"]
    assert len(ds) == 1
    return srv, ds[0]["id"], path


class RssSampler(threading.Thread):
    def __init__(self, srv, period=0.02):
        super().__init__(daemon=True)
        self.srv, self.period = srv, period
        self.peak_kb = 0
        self.samples = 0
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            try:
                self.peak_kb = max(self.peak_kb, self.srv.status_kb("VmRSS"))
                self.samples += 1
            except (OSError, KeyError):
                break
            time.sleep(self.period)

    def stop(self):
        self._stop_evt.set()
        self.join(5)


XDR_SIZE = {"Float32": 4, "Int32": 4, "UInt32": 4, "Int16": 4, "UInt16": 4, "Float64": 8, "Byte": 1}


def expected_data_size(dds: str) -> int:
    """XDR size of the values a DDS declares (arrays: length twice, then values)."""
    total = 0
    for typ, dims in re.findall(r"^\s*(Float32|Float64|Int32|UInt32|Int16|UInt16|Byte)\s+[^\[;\s]+((?:\[[^\]]+\])*);",
                                dds, re.M):
        n = 1
        for d in re.findall(r"\[(?:[^=\]]*=\s*)?(\d+)\]", dims):
            n *= int(d)
        size = XDR_SIZE[typ]
        if dims:
            total += 8 + (((n + 3) // 4) * 4 if size == 1 else n * size)
        else:
            total += 4 if size == 1 else size
    return total


def test_large_dods_streams_in_bounded_memory(big):
    srv, dsid, path = big
    file_mb = path.stat().st_size / 2**20
    with netCDF4.Dataset(path) as nc:
        shape = nc["tas"].shape
        first = np.asarray(nc["tas"][0], dtype=">f4").tobytes()
        last = np.asarray(nc["tas"][-1], dtype=">f4").tobytes()
        lon = np.asarray(nc["lon"][:], dtype=">f8").tobytes()
    n = int(np.prod(shape))
    keep = len(last) + 64 * 1024  # the last step and the maps after it
    idle_kb = srv.status_kb("VmRSS")
    sampler = RssSampler(srv)
    sampler.start()
    got_first = bytearray()
    tail = bytearray()
    total = 0
    header = b""
    t0 = time.monotonic()
    try:
        r = srv.get(f"/opendap/{dsid}.dods?tas", stream=True, headers={"Accept-Encoding": "identity"},
                    timeout=600)
        assert r.status_code == 200, r.text[:500]
        for chunk in r.iter_content(chunk_size=1 << 20):
            if not header or b"\nData:\n" not in header:
                header += chunk
                if b"\nData:\n" in header:
                    header, _, rest = header.partition(b"\nData:\n")
                    chunk = rest
                    header += b"\nData:\n"
                else:
                    continue
            if len(got_first) < 8 + len(first):
                got_first += chunk[: 8 + len(first) - len(got_first)]
            total += len(chunk)
            tail = (tail + chunk)[-keep:]
            if total < SLOW_PART:
                time.sleep(0.03)  # a slow client: the server must not buffer ahead
    finally:
        sampler.stop()
    elapsed = time.monotonic() - t0
    peak_mb = max(sampler.peak_kb, 0) / 1024
    hwm_mb = srv.status_kb("VmHWM") / 1024
    dds = header.decode()
    exp = expected_data_size(dds)
    assert exp >= 4 * n
    assert total == exp, f"received {total} data bytes, the DDS declares {exp}"
    assert bytes(got_first[:8]) == np.array([n, n], ">u4").tobytes()
    assert bytes(got_first[8:]) == first, "first time step differs from the file"
    maps = exp - (8 + 4 * n)  # the Grid's maps follow its array
    assert bytes(tail[len(tail) - maps - len(last):len(tail) - maps]) == last, "last time step differs"
    assert bytes(tail).endswith(lon), "the lon map at the end differs from the file"
    assert sampler.samples > 10
    print(f"\nstreamed {total / 2**20:.0f} MiB in {elapsed:.1f} s; server RSS idle {idle_kb / 1024:.0f} MiB, "
          f"peak sampled {peak_mb:.0f} MiB, VmHWM {hwm_mb:.0f} MiB; file {file_mb:.0f} MiB")
    assert peak_mb < RSS_LIMIT_MB and hwm_mb < RSS_LIMIT_MB, (
        f"server memory peaked at {max(peak_mb, hwm_mb):.0f} MiB while streaming a {file_mb:.0f} MiB file"
    )
    assert hwm_mb < file_mb / 1.5
    assert srv.healthy()


def test_large_last_step_exact(big):
    """The last time step of the large file, read back through DAP2 (netCDF4)."""
    srv, dsid, path = big
    with netCDF4.Dataset(path) as nc:
        exp = np.asarray(nc["tas"][-1])
    with netCDF4.Dataset(srv.dap_url(dsid)) as nc:
        got = np.asarray(nc["tas"][-1])
    assert np.array_equal(got, exp)
