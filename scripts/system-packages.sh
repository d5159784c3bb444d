# Sourced by scripts/test: the one list of Debian packages the test suite needs, and the
# step that installs the missing ones. As root with apt-get, they are installed; otherwise
# the one command to run first is printed and the test command stops.
#
#   chromium            the browser tests (Playwright drives /usr/bin/chromium)
#   skopeo podman
#   buildah docker.io   real OCI clients against the registry (docker: the CLI only)
#   postgresql-client   pg_isready, to wait for the PostgreSQL pass's server
#   debootstrap rpm
#   golang-go npm       the scanner's fixtures: a Debian root, rpm databases, Go binaries,
#                       npm packages
#   binutils            objcopy, to give a program cargo auditable's .dep-v0 section
SYSTEM_PACKAGES=(
  "/usr/bin/chromium:chromium"
  "skopeo:skopeo"
  "podman:podman"
  "buildah:buildah"
  "docker:docker.io"
  "pg_isready:postgresql-client"
  "debootstrap:debootstrap"
  "rpm:rpm"
  "go:golang-go"
  "npm:npm"
  "objcopy:binutils"
)

missing_system_packages() {
  local entry command package
  for entry in "${SYSTEM_PACKAGES[@]}"; do
    command="${entry%%:*}"; package="${entry#*:}"
    command -v "$command" >/dev/null 2>&1 || [ -x "$command" ] || echo "$package"
  done
}

ensure_system_packages() {
  local missing
  mapfile -t missing < <(missing_system_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing the system packages the tests need: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "The tests need system packages that are missing; run first:" \
         "sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
}

# PostgreSQL for the second pass: start the machine's cluster if it is installed and down.
ensure_postgresql() {
  local host="$1" port="$2"
  pg_isready -q -h "$host" -p "$port" && return 0
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && return 0; sleep 1; done
  fi
  return 1
}
