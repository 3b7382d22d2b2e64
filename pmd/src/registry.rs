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
