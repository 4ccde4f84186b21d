# Shared by the jobs/ scripts: install the Debian packages the project needs, if missing.
# Usage: source jobs/lib/packages.sh; install_missing_packages <caller-name>
install_missing_packages() {
    local caller=${1:-jobs}
    local missing=()
    local package
    for package in postgresql libpq-dev zlib1g-dev libisal-dev; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$caller: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
        exit 2
    fi
    echo "$caller: installing ${missing[*]}" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}
