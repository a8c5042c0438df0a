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
