//! Ferroplane example applications: `l2fwd` and `l3fwd`, DPDK's first two examples, built on
//! the engine's [`ferroplane::Worker`] API.
//!
//! The binaries live in `src/bin/`; the logic lives here so it can be unit-tested without ports:
//!
//! - [`l2fwd`]: port pairing, MAC rewriting and the worker.
//! - [`l3fwd`]: RFC 1812 checks, LPM / exact-match / ACL lookups, route and rule files, and the
//!   router mode (ARP, IPv6 neighbour discovery, ICMP echo and errors) that lets l3fwd stand
//!   between real Linux hosts.
//! - [`packet`]: the small packet abstraction the forwarding core works on (mbufs in the
//!   binaries, byte vectors in tests).

pub mod l2fwd;
pub mod l3fwd;
pub mod packet;
