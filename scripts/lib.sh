# Shared by scripts/run, scripts/test and scripts/bench. Source it; do not run it.

TURNPIKE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The Debian packages Turnpike builds with.
TURNPIKE_BUILD_PACKAGES=(
  cmake g++ ninja-build pkg-config ccache
  libpistache-dev libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev libssl-dev libspdlog-dev
  libcli11-dev libboost1.81-dev libre2-dev libgtest-dev libgmock-dev libnghttp2-dev
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

# build_turnpike DIR [CMAKE_ARGS...]: configures DIR (once) and builds every target in it.
build_turnpike() {
  local dir="$1"
  shift
  build_targets "$dir" "" "$@"
}

# build_targets DIR "TARGET..." [CMAKE_ARGS...]: configures DIR (once) and builds the named
# targets in it (every target when the list is empty). Compiles go through ccache
# (cmake/CompilerCache.cmake), so a clean clone rebuilds from the cache of an earlier build.
build_targets() {
  local dir="$1" targets="$2"
  shift 2
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$TURNPIKE_ROOT" -B "$dir" -G Ninja "$@"
  fi
  local target_args=()
  if [ -n "$targets" ]; then
    local t
    for t in $targets; do target_args+=(--target "$t"); done
  fi
  cmake --build "$dir" -j "$(nproc)" "${target_args[@]}"
}

# ensure_test_tools: every package that some stage of scripts/test uses, in one apt call, and
# the web UI end-to-end test's tools.
ensure_test_tools() {
  # curl, sqlite3: the tests; nginx, wrk, python3, procps, openssl: bench and soak; clang and
  # its runtime: the fuzz build; python3-websockets: the WebSocket client and server of the
  # tests and the soak; nghttp2-client: nghttp and h2load for the HTTP/2 tests.
  ensure_packages "${TURNPIKE_BUILD_PACKAGES[@]}" curl sqlite3 nginx wrk python3 procps openssl \
    clang libclang-rt-14-dev python3-websockets nghttp2-client
  ensure_e2e_tools
}

# ccache_counts: "hits misses" of the compiler cache so far (empty without ccache).
ccache_counts() {
  command -v ccache >/dev/null 2>&1 || return 0
  ccache --print-stats 2>/dev/null | awk -F'\t' '
    $1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { hits += $2 }
    $1 == "cache_miss" { misses += $2 }
    END { print hits + 0, misses + 0 }'
}

# ccache_summary "HITS MISSES": prints the compiler cache's hits and misses since that reading.
ccache_summary() {
  local before after
  read -r -a before <<<"$1"
  after="$(ccache_counts)"
  [ -n "$after" ] && [ ${#before[@]} -eq 2 ] || return 0
  read -r -a after <<<"$after"
  local hits=$((after[0] - before[0])) misses=$((after[1] - before[1]))
  local total=$((hits + misses))
  if [ "$total" -gt 0 ]; then
    echo "==> ccache: $hits of $total compiles from the cache ($((100 * hits / total))%)"
  fi
}

# ensure_e2e_tools: what the web UI end-to-end test (tests/e2e, CTest UiE2E) needs: Chromium,
# openssl (the certificate it uploads), Node.js with npm, and playwright-core in
# tests/e2e/node_modules (npm ci from the committed package-lock.json; again whenever the lock
# file is newer than the install).
ensure_e2e_tools() {
  ensure_packages chromium openssl
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
