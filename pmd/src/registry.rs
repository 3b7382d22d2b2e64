//! The driver registry: [`open`] dispatches a device string to its driver by name.
//!
//! Adding a driver means one arm in [`open`] and one entry in [`DRIVERS`]. A driver's entry
//! point has the signature
//! `fn open(args: &DevArgs, devstr: &str, cfg: &PortConfig) -> Result<Box<dyn Port>, PmdError>`:
//! it checks its keys with [`DevArgs::check_keys`], validates `cfg` with
//! [`PortConfig::validate`], and returns the port. The AF_XDP driver (cargo feature `af_xdp`)
//! plugs in through `crate::af_xdp::open` with that signature.

use crate::devargs::DevArgs;
use crate::error::PmdError;
use crate::port::{Port, PortConfig};

/// The drivers this build knows, by device-string name (`af_xdp` only with its feature).
pub const DRIVERS: &[&str] = &[
    #[cfg(feature = "af_xdp")]
    "af_xdp",
    "af_packet",
    "tap",
    "pcap",
    "ring",
    "null",
];

/// Mbufs a port opened from `devstr` with RX/TX rings of `rx_ring_size`/`tx_ring_size`
/// descriptors can hold at once, per RX queue and per TX queue: what an application adds up
/// to size its pool, as DPDK applications count one mbuf per descriptor. Most drivers hold one
/// per descriptor; AF_XDP also lends its fill ring to the kernel (twice the RX ring unless
/// `fill_ring` says otherwise) and keeps sent frames until the completion ring returns them.
/// A device string that does not parse counts one per descriptor (opening it reports the
/// error).
pub fn mbufs_held(devstr: &str, rx_ring_size: u32, tx_ring_size: u32) -> (u64, u64) {
    let per_descriptor = (u64::from(rx_ring_size), u64::from(tx_ring_size));
    let Ok(args) = DevArgs::parse(devstr) else {
        return per_descriptor;
    };
    match args.driver() {
        #[cfg(feature = "af_xdp")]
        "af_xdp" => crate::af_xdp::AfXdpConfig::from_devargs(&args)
            .map(|c| c.mbufs_held(rx_ring_size, tx_ring_size))
            .unwrap_or(per_descriptor),
        _ => per_descriptor,
    }
}

/// Opens a port from a device string such as `af_packet:iface=veth0,queues=2`,
/// `pcap:rx=in.pcap,tx=out.pcap,infinite_rx=1`, `tap:name=fp0,queues=2`, `ring:name=r0` or
/// `null:size=64`. Keys in the device string (such as `queues`) override `cfg`.
pub fn open(devstr: &str, cfg: &PortConfig) -> Result<Box<dyn Port>, PmdError> {
    let args = DevArgs::parse(devstr)?;
    match args.driver() {
        "af_packet" => crate::af_packet::open(&args, devstr, cfg),
        "tap" => crate::tap::open(&args, devstr, cfg),
        "pcap" => crate::pcap::open(&args, devstr, cfg),
        "ring" => crate::ring::open(&args, devstr, cfg),
        "null" => crate::null::open(&args, devstr, cfg),
        #[cfg(feature = "af_xdp")]
        "af_xdp" => crate::af_xdp::open(&args, devstr, cfg),
        #[cfg(not(feature = "af_xdp"))]
        "af_xdp" => Err(PmdError::DriverNotBuilt {
            driver: "af_xdp".into(),
            feature: "af_xdp",
        }),
        other => Err(PmdError::UnknownDriver {
            driver: other.to_string(),
            known: DRIVERS.join(", "),
        }),
    }
}
