//! Ferroplane classify: the lookups that decide where each packet goes.
//!
//! - [`rss`]: the Toeplitz hash (Microsoft's RSS specification) and the redirection table.
//! - [`key`]: fixed-size lookup keys (IPv4/IPv6 5-tuples, MAC addresses).
//! - [`hash`]: exact-match table in the design of DPDK's `rte_hash` (bucketised cuckoo hashing
//!   with short signatures, lock-free lookups concurrent with one writer, bulk lookups).
//! - [`acl`]: multi-field 5-tuple classifier (IPv4 and IPv6), built once, classified in bulk.
//! - [`flow`]: an `rte_flow`-like rule model with a software matcher and an offload query.
//!
//! This crate depends on no other Ferroplane crate; its key types use `std::net` addresses.

pub mod acl;
pub mod flow;
pub mod hash;
pub mod key;
mod prefetch;
pub mod rss;
mod simd;
mod zeroed;

pub use acl::{
    Acl, AclBuilder, AclError, AclKey, AclKeyV4, AclKeyV6, AclRule, AclRuleV4, AclRuleV6,
};
pub use flow::{
    FlowAction, FlowDecision, FlowError, FlowKey, FlowMatch, FlowRule, FlowStats, FlowTable,
    OffloadMatch,
};
pub use hash::{ExactMatchTable, ExactMatchWriter, HashError, HashValue};
pub use key::{HashKey, Ipv4FiveTuple, Ipv6FiveTuple, MacKey};
pub use rss::{Reta, RssError, RssKey, toeplitz_hash, toeplitz_hash_bitwise};
