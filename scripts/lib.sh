# Shared by scripts/run, scripts/test and scripts/bench. Source it; do not run it.

TURNPIKE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The Debian packages Turnpike builds with.
TURNPIKE_BUILD_PACKAGES=(
  cmake g++ ninja-build pkg-config
  libpistache-dev libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev libssl-dev libspdlog-dev
  libcli11-dev libboost1.81-dev libre2-dev libgtest-dev libgmock-dev
)

# ensure_packages PKG...: installs (apt) whichever of the packages are missing.
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build_turnpike DIR [CMAKE_ARGS...]: configures (once) and builds into DIR.
build_turnpike() {
  local dir="$1"
  shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$TURNPIKE_ROOT" -B "$dir" -G Ninja "$@"
  fi
  cmake --build "$dir" -j "$(nproc)"
}

# ensure_e2e_tools: what the web UI end-to-end test (tests/e2e, CTest UiE2E) needs: Chromium,
# Node.js with npm, and playwright-core in tests/e2e/node_modules (npm ci from the committed
# package-lock.json; again whenever the lock file is newer than the install).
ensure_e2e_tools() {
  ensure_packages chromium
  # Debian's nodejs comes without npm; NodeSource's bundles it, and then the npm package must
  # not be installed beside it. So ask apt only for the commands that are missing.
  local node_pkgs=()
  command -v node >/dev/null 2>&1 || node_pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || node_pkgs+=(npm)
  if [ ${#node_pkgs[@]} -gt 0 ]; then ensure_packages "${node_pkgs[@]}"; fi
  local e2e="$TURNPIKE_ROOT/tests/e2e"
  if [ ! -f "$e2e/node_modules/playwright-core/package.json" ] ||
    [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
    echo "==> npm ci (tests/e2e)"
    (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
