#!/usr/bin/env bash
# Ferroplane machine set-up. Idempotent: run it as often as you like.
#
#   scripts/setup.sh                 # everything (as root)
#   HUGEPAGES=2048 scripts/setup.sh  # reserve a different number of 2 MiB pages
#   SETUP_SKIP_APT=1 ...             # do not touch Debian packages
#   SETUP_SKIP_RUST=1 ...            # do not touch Rust toolchains/components
#
# Prints one line per step: "ok", "did", "skip" or "FAILED", and a summary of
# what could not be done (for example the steps that need root).
set -u

HUGEPAGES="${HUGEPAGES:-1024}"
HUGETLBFS_MOUNT="${HUGETLBFS_MOUNT:-/dev/hugepages}"

# Debian packages the build, the tests and the side-by-side benchmarks need.
APT_PACKAGES=(
    build-essential clang llvm libelf-dev zlib1g-dev pkg-config m4 linux-libc-dev
    iproute2 ethtool iputils-ping tcpdump tshark netsniff-ng iperf3 python3-scapy
    libpcap-dev bpftool libbpf-dev fonts-dejavu-core
    dpdk dpdk-dev libdpdk-dev dpdk-doc
)

failures=()
need_root=()
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

say() { printf 'setup: %-5s %s\n' "$1" "$2"; }

step_apt() {
    if [ "${SETUP_SKIP_APT:-0}" = 1 ]; then say skip "Debian packages (SETUP_SKIP_APT=1)"; return; fi
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then say ok "Debian packages already installed"; return; fi
    if [ $is_root -eq 0 ]; then
        need_root+=("apt-get install ${missing[*]}")
        say skip "Debian packages missing (${missing[*]}): needs root"
        return
    fi
    say did "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer once, no prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/ferroplane-apt.log 2>&1; then
        failures+=("apt-get install (see /tmp/ferroplane-apt.log)")
        say FAILED "apt-get install; log in /tmp/ferroplane-apt.log"
        tail -5 /tmp/ferroplane-apt.log | sed 's/^/setup:       /'
    fi
}

step_hugepages() {
    local f=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    if [ ! -e "$f" ]; then failures+=("2 MiB hugepages not supported by this kernel"); say FAILED "no 2 MiB hugepage support"; return; fi
    local cur; cur=$(cat "$f")
    if [ "$cur" -ge "$HUGEPAGES" ]; then say ok "$cur hugepages of 2 MiB reserved (wanted $HUGEPAGES)"; return; fi
    if [ $is_root -eq 0 ]; then
        need_root+=("reserve $HUGEPAGES hugepages (echo $HUGEPAGES > $f)")
        say skip "only $cur hugepages reserved, wanted $HUGEPAGES: needs root (mempools fall back to 4 KiB pages)"
        return
    fi
    echo "$HUGEPAGES" > "$f" 2>/dev/null
    local got; got=$(cat "$f")
    if [ "$got" -ge "$HUGEPAGES" ]; then
        say did "reserved $got hugepages of 2 MiB"
    else
        failures+=("reserve $HUGEPAGES hugepages (kernel gave $got)")
        say FAILED "asked for $HUGEPAGES hugepages, kernel gave $got (memory fragmented?)"
    fi
}

step_mount() { # $1 fstype, $2 mountpoint, $3 description
    if mountpoint -q "$2" 2>/dev/null && [ "$(stat -f -c %T "$2")" != "tmpfs" ]; then say ok "$3 mounted on $2"; return; fi
    if [ $is_root -eq 0 ]; then need_root+=("mount $1 on $2"); say skip "$3 not mounted on $2: needs root"; return; fi
    mkdir -p "$2"
    if mount -t "$1" "$1" "$2" 2>/dev/null; then say did "mounted $3 on $2"
    else failures+=("mount $1 on $2"); say FAILED "could not mount $3 on $2"; fi
}

step_rust() {
    if [ "${SETUP_SKIP_RUST:-0}" = 1 ]; then say skip "Rust components (SETUP_SKIP_RUST=1)"; return; fi
    if ! command -v rustup >/dev/null; then failures+=("rustup not found"); say FAILED "rustup not found"; return; fi
    if ! rustup toolchain list | grep -q '^nightly'; then
        if rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then say did "installed the nightly toolchain"
        else failures+=("rustup toolchain install nightly"); say FAILED "nightly toolchain"; return; fi
    fi
    local have; have=$(rustup +nightly component list --installed 2>/dev/null)
    local want=()
    echo "$have" | grep -q '^miri' || want+=(miri)
    echo "$have" | grep -q '^rust-src' || want+=(rust-src)
    if [ ${#want[@]} -eq 0 ]; then say ok "nightly has miri and rust-src"
    elif rustup component add --toolchain nightly "${want[@]}" >/dev/null 2>&1; then say did "added nightly components: ${want[*]}"
    else failures+=("rustup component add ${want[*]}"); say FAILED "nightly components ${want[*]}"; fi
    if command -v cargo-fuzz >/dev/null || [ -x "$HOME/.cargo/bin/cargo-fuzz" ]; then say ok "cargo-fuzz installed"
    elif cargo install --locked cargo-fuzz >/tmp/ferroplane-cargo-fuzz.log 2>&1; then say did "installed cargo-fuzz"
    else failures+=("cargo install cargo-fuzz (see /tmp/ferroplane-cargo-fuzz.log)"); say FAILED "cargo-fuzz"; fi
}

step_apt
step_hugepages
step_mount hugetlbfs "$HUGETLBFS_MOUNT" hugetlbfs
step_mount bpf /sys/fs/bpf "bpffs (optional: Ferroplane does not pin anything)"
step_rust

if [ ${#need_root[@]} -gt 0 ]; then
    echo "setup: not done without root:"
    printf 'setup:   - %s\n' "${need_root[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
    echo "setup: could not do:"
    printf 'setup:   - %s\n' "${failures[@]}"
    exit 1
fi
echo "setup: done"
