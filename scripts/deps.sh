# Shared by scripts/serve and scripts/test: install what is missing on Debian 12.
# Usage: source scripts/deps.sh; need_system; need_python
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSTEM_PACKAGES=(libnetcdf-dev libhdf5-dev libgdal-dev libproj-dev pkg-config clang libclang-dev
  netcdf-bin gdal-bin nco cdo libdap-bin curl wrk)
# Only for the test suite: PostgreSQL for the replica tests (started by the tests);
# Chromium and Node.js for the web page tests (tests/clients/test_web_chromium.py).
# Debian's npm only when no npm is there: NodeSource's nodejs brings its own and
# conflicts with Debian's.
TEST_PACKAGES=(postgresql chromium nodejs npm)
if command -v npm >/dev/null && ! dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q "install ok installed"; then
  TEST_PACKAGES=(postgresql chromium nodejs)
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages for building and for the reference tools the tests compare with.
need_system() {
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
}

# A virtualenv with the real clients the tests drive (netCDF4, xarray, pydap, ...).
need_python() {
  need_venv "$REPO/.venv" "$REPO/tests/clients/requirements.txt"
}

# A virtualenv with the peers (pydap server, clisops): benches/ times them, and the
# processing tests compare with clisops (which needs an older xarray than the clients).
need_peers() {
  need_venv "$REPO/benches/.venv" "$REPO/benches/requirements.txt"
}

# A real S3 server for the S3 data root tests (tests/clients/test_s3.py): s3s-fs, an S3
# HTTP server over a local directory, built from crates.io into target/tools (ignored
# by git; a debug build: it compiles in half the time and the tests' files are small).
# The tests find it there, or at $CIRRUS_S3_SERVER. `need_s3_server release` builds the
# optimised one the benchmarks use, into target/tools-release.
S3S_FS_VERSION=0.14.1
need_s3_server() {
  local kind="${1:-debug}" root="$REPO/target/tools" flags=(--debug)
  if [ "$kind" = release ]; then root="$REPO/target/tools-release"; flags=(); fi
  local bin="$root/bin/s3s-fs"
  if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "s3s-fs $S3S_FS_VERSION" ]; then
    echo "==> installing s3s-fs $S3S_FS_VERSION ($kind) into $root (a few minutes)"
    cargo install "s3s-fs@$S3S_FS_VERSION" --locked --features binary "${flags[@]}" --root "$root"
  fi
}

# The benchmarks' other peers, each in its own virtualenv: xpublish (Zarr) and
# pygeoapi + xpublish-edr (EDR). Only benches/run needs them.
need_bench_peers() {
  need_peers
  need_s3_server release
  need_venv "$REPO/benches/.venv-zarr" "$REPO/benches/requirements-zarr.txt"
  need_venv "$REPO/benches/.venv-edr" "$REPO/benches/requirements-edr.txt"
}

# The web page's npm packages (web/node_modules: Leaflet, vite, playwright-core, which
# drives Debian's chromium: no browser download), (re)installed from
# web/package-lock.json when it changes. web/dist is committed (the server embeds it).
need_web() {
  local web="$REPO/web"
  local stamp="$web/node_modules/.package-lock.sha"
  local sum; sum="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
  if [ ! -d "$web/node_modules" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    command -v node >/dev/null && command -v npm >/dev/null || { echo "node or npm not found: install Debian's nodejs and npm" >&2; exit 1; }
    local major; major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
      echo "node $(node --version) is too old for web/ (vite 7 and playwright-core need node >= 20;" \
        "Debian 12's nodejs is 18: install Node.js 20 or later, e.g. from NodeSource)" >&2
      exit 1
    fi
    echo "==> installing the npm packages of web/package-lock.json"
    (cd "$web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    echo "$sum" > "$stamp"
  fi
}

# need_venv DIR REQUIREMENTS: create DIR and (re)install REQUIREMENTS when they change.
need_venv() {
  local venv="$1" req="$2"
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    python3 -m venv "$venv" 2>/dev/null || { as_root apt-get install -y -qq python3-venv && python3 -m venv "$venv"; }
  fi
  local stamp="$venv/.requirements.sha"
  local sum; sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "==> installing Python packages of $req"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$req"
    echo "$sum" > "$stamp"
  fi
}
