# shellcheck shell=bash
# Builds DPDK 22.11's own l3fwd and l2fwd examples from /usr/share/dpdk/examples, for the
# side-by-side benchmarks (scripts/bench/l3fwd.sh, scripts/bench/veth_fwd.sh).
#
#   . scripts/lib/dpdk_examples.sh
#   dpdk_examples_build "$work_dir"    # sets DPDK_L3 and DPDK_L2 (a path, or "-" if unavailable)
#
# The sources are copied to WORK_DIR and built with make + pkg-config libdpdk. One change to
# DPDK's source: l3fwd asks for RX checksum offload unconditionally and neither the pcap nor the
# af_xdp PMD has it, so l3fwd would refuse to start; the request is set to none (its software
# RFC 1812 checks stay). Build output goes to WORK_DIR/{l3fwd,l2fwd}-build.log.

dpdk_examples_build() {
    local work=$1 tag=${DPDK_EXAMPLES_LOG_TAG:-dpdk-examples}
    DPDK_L3="-"
    DPDK_L2="-"
    if ! [ -d /usr/share/dpdk/examples/l3fwd ] || ! pkg-config --exists libdpdk; then
        echo "$tag: no DPDK examples or libdpdk: DPDK columns will be '-'" >&2
        return 0
    fi
    echo "$tag: building DPDK's l3fwd and l2fwd in $work" >&2
    cp -r /usr/share/dpdk/examples/{l3fwd,l2fwd,common} "$work/"
    sed -i 's/\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,/.offloads = 0,/' "$work/l3fwd/main.c"
    grep -q 'RTE_ETH_RX_OFFLOAD_CHECKSUM,' "$work/l3fwd/main.c" &&
        echo "$tag: warning: l3fwd still requests RX checksum offload (source changed?)" >&2
    if make -C "$work/l3fwd" -s >"$work/l3fwd-build.log" 2>&1; then
        DPDK_L3="$work/l3fwd/build/l3fwd"
    else
        echo "$tag: DPDK l3fwd build failed:" >&2
        tail -5 "$work/l3fwd-build.log" >&2
    fi
    if make -C "$work/l2fwd" -s >"$work/l2fwd-build.log" 2>&1; then
        DPDK_L2="$work/l2fwd/build/l2fwd"
    else
        echo "$tag: DPDK l2fwd build failed:" >&2
        tail -5 "$work/l2fwd-build.log" >&2
    fi
    return 0
}
