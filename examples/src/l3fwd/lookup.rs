//! The three lookup methods of l3fwd (`--lookup lpm|em|acl`) behind one per-lcore handle.
//!
//! [`Tables`] is built once on the main thread from routes, flows or ACL lines; every table
//! value is an index into one shared next-hop array. Each worker lcore takes a [`Lookup`] from
//! it ([`Tables::handle`]): LPM readers (lock-free, one per lcore, quiescent once per burst), or
//! shared references to the exact-match table and the compiled ACL.
//!
//! LPM routes can be added and deleted while the workers forward ([`Tables::add_route`],
//! [`Tables::delete_route`], [`Tables::replace_routes`], on the control thread): the LPM
//! library's single-writer / lock-free-reader protocol keeps each lookup consistent, and next
//! hops live in an append-only array ([`NextHops`]) whose slots are written once before any
//! table entry points at them.
//!
//! Bursts are looked up in bulk ([`Lookup::v4_bulk`]): DPDK l3fwd's `l3fwd_lpm_send_packets` /
//! `em_get_dst_port` bulk paths.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use ferroplane_classify::acl::AclAddr;
use ferroplane_classify::{
    Acl, AclBuilder, AclKey, AclRule, ExactMatchTable, Ipv4FiveTuple, Ipv6FiveTuple,
};
use ferroplane_lpm::{Lpm4, Lpm4Reader, Lpm6, Lpm6Reader, LpmConfig};
use thiserror::Error;

use super::routes::{AclAction, AclLine, Flow, NextHop, Route};

/// The lookup method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LookupMode {
    /// Longest-prefix match on the destination address.
    Lpm,
    /// Exact match on the 5-tuple.
    Em,
    /// Multi-field ACL rules.
    Acl,
}

/// A table could not be built.
#[derive(Debug, Error)]
pub enum LookupError {
    /// The LPM library refused a route.
    #[error("route {prefix}/{len}: {reason}")]
    Lpm {
        /// Prefix.
        prefix: IpAddr,
        /// Length.
        len: u8,
        /// The library's message.
        reason: String,
    },
    /// The exact-match table refused a flow.
    #[error("exact-match flow {0}: {1}")]
    Em(String, String),
    /// The ACL refused a rule.
    #[error("ACL: {0}")]
    Acl(String),
    /// Too many distinct next hops.
    #[error("too many distinct next hops (at most {MAX_NEXT_HOPS})")]
    NextHopsFull,
    /// Routes can only be changed with `--lookup lpm`.
    #[error("routes can only be changed at run time with --lookup lpm (running {0:?})")]
    NotLpm(LookupMode),
    /// Deleting a route that does not exist.
    #[error("no route {prefix}/{len}")]
    NoSuchRoute {
        /// Prefix.
        prefix: IpAddr,
        /// Length.
        len: u8,
    },
}

/// Most distinct next hops (port, gateway) the tables hold.
pub const MAX_NEXT_HOPS: usize = 4096;

/// Next hops by index, shared by the tables' writer and every lcore. Append-only: a slot is
/// written once (before any table entry holds its index) and never changes, so lcores read it
/// without a lock while the control thread adds more.
pub struct NextHops {
    slots: Box<[OnceLock<NextHop>]>,
}

impl NextHops {
    fn new(initial: &[NextHop]) -> Result<Self, LookupError> {
        if initial.len() > MAX_NEXT_HOPS {
            return Err(LookupError::NextHopsFull);
        }
        let slots: Box<[OnceLock<NextHop>]> = (0..MAX_NEXT_HOPS).map(|_| OnceLock::new()).collect();
        for (slot, nh) in slots.iter().zip(initial) {
            let _ = slot.set(*nh);
        }
        Ok(NextHops { slots })
    }

    /// The next hop at `index`, if it has been written.
    #[inline]
    pub fn get(&self, index: u32) -> Option<&NextHop> {
        self.slots.get(index as usize)?.get()
    }
}

/// The 5-tuple of a packet, as the lookups need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<A> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Source port (0 unless TCP/UDP/SCTP and not a non-first fragment).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol (next header).
    pub proto: u8,
}

impl<A: AclAddr> Key<A> {
    /// The same five fields as the ACL classifier's key.
    #[inline]
    fn acl_key(&self) -> AclKey<A> {
        AclKey {
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            proto: self.proto,
        }
    }
}

/// What a lookup decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send towards this next hop.
    Forward(NextHop),
    /// No route, flow or rule matched.
    Miss,
    /// An ACL drop rule matched.
    Deny,
}

/// A [`Decision`] that borrows its next hop from the table: what the per-packet path uses, so
/// that no `NextHop` (with its `Option<IpAddr>`) is copied through the stack per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionRef<'a> {
    /// Send towards this next hop.
    Forward(&'a NextHop),
    /// No route, flow or rule matched.
    Miss,
    /// An ACL drop rule matched.
    Deny,
}

impl DecisionRef<'_> {
    /// The owned decision.
    #[inline]
    pub fn to_owned(self) -> Decision {
        match self {
            DecisionRef::Forward(nh) => Decision::Forward(*nh),
            DecisionRef::Miss => Decision::Miss,
            DecisionRef::Deny => Decision::Deny,
        }
    }
}

const ACL_DROP: u32 = u32::MAX - 1;

/// Largest burst [`Lookup::v4_bulk`] takes at once (an `MbufBurst`'s capacity).
pub const BULK_MAX: usize = 64;

/// The tables, built on the main thread.
pub struct Tables {
    mode: LookupMode,
    lpm4: Option<Lpm4>,
    lpm6: Option<Lpm6>,
    em4: Option<Arc<ExactMatchTable<Ipv4FiveTuple, u32>>>,
    em6: Option<Arc<ExactMatchTable<Ipv6FiveTuple, u32>>>,
    acl4: Option<Arc<Acl<Ipv4Addr>>>,
    acl6: Option<Arc<Acl<Ipv6Addr>>>,
    next_hops: Arc<NextHops>,
    /// Index of each next hop in `next_hops` (the writer's side).
    hop_index: HashMap<NextHop, u32>,
    /// The LPM routes, by (normalised prefix, length).
    routes: BTreeMap<(IpAddr, u8), NextHop>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("mode", &self.mode)
            .field("next_hops", &self.hop_index.len())
            .field("routes", &self.routes.len())
            .finish()
    }
}

/// The prefix with its host bits cleared.
pub fn normalise(prefix: IpAddr, len: u8) -> IpAddr {
    match prefix {
        IpAddr::V4(a) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32) as u32)
            };
            IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & mask))
        }
        IpAddr::V6(a) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128) as u32)
            };
            IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & mask))
        }
    }
}

fn hop_map(hops: &[NextHop]) -> HashMap<NextHop, u32> {
    hops.iter()
        .enumerate()
        .map(|(i, h)| (*h, i as u32))
        .collect()
}

fn intern(hops: &mut Vec<NextHop>, nh: NextHop) -> u32 {
    match hops.iter().position(|h| *h == nh) {
        Some(i) => i as u32,
        None => {
            hops.push(nh);
            (hops.len() - 1) as u32
        }
    }
}

/// The classifier rule for `line`, whose addresses are `src` and `dst` (of one family).
fn acl_rule<A: AclAddr>(
    line: &AclLine,
    src: A,
    dst: A,
    priority: u32,
    userdata: u32,
) -> AclRule<A> {
    AclRule {
        src,
        src_len: line.src.1,
        dst,
        dst_len: line.dst.1,
        sport: line.sport,
        dport: line.dport,
        proto: line.proto.0,
        proto_mask: line.proto.1,
        priority,
        userdata,
    }
}

fn small_lpm() -> LpmConfig {
    // Enough for large route files; hugepages when available.
    LpmConfig {
        max_rules: 1 << 16,
        tbl8_groups: 1024,
        ..LpmConfig::default()
    }
}

impl Tables {
    /// LPM tables from routes.
    pub fn lpm(routes: &[Route]) -> Result<Self, LookupError> {
        let lpm4 = Lpm4::new(&small_lpm()).map_err(|x| LookupError::Lpm {
            prefix: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            len: 0,
            reason: x.to_string(),
        })?;
        let lpm6 = Lpm6::new(&small_lpm()).map_err(|x| LookupError::Lpm {
            prefix: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            len: 0,
            reason: x.to_string(),
        })?;
        let mut t = Tables {
            mode: LookupMode::Lpm,
            lpm4: Some(lpm4),
            lpm6: Some(lpm6),
            em4: None,
            em6: None,
            acl4: None,
            acl6: None,
            next_hops: Arc::new(NextHops::new(&[])?),
            hop_index: HashMap::new(),
            routes: BTreeMap::new(),
        };
        for r in routes {
            t.add_route(r)?;
        }
        Ok(t)
    }

    fn intern(&mut self, nh: NextHop) -> Result<u32, LookupError> {
        if let Some(&i) = self.hop_index.get(&nh) {
            return Ok(i);
        }
        let i = self.hop_index.len();
        let slot = self
            .next_hops
            .slots
            .get(i)
            .ok_or(LookupError::NextHopsFull)?;
        // Written before any table entry holds `i`; a slot is never reused.
        let _ = slot.set(nh);
        self.hop_index.insert(nh, i as u32);
        Ok(i as u32)
    }

    /// Adds (or replaces) an LPM route; returns the next hop it replaced. Workers see it from
    /// their next lookup. Only with [`LookupMode::Lpm`].
    pub fn add_route(&mut self, r: &Route) -> Result<Option<NextHop>, LookupError> {
        if self.mode != LookupMode::Lpm {
            return Err(LookupError::NotLpm(self.mode));
        }
        let err = |reason: String| LookupError::Lpm {
            prefix: r.prefix,
            len: r.len,
            reason,
        };
        let max = if r.prefix.is_ipv4() { 32 } else { 128 };
        if r.len > max {
            return Err(err(format!("prefix length {} > {max}", r.len)));
        }
        let prefix = normalise(r.prefix, r.len);
        let idx = self.intern(r.next_hop)?;
        match (prefix, self.lpm4.as_mut(), self.lpm6.as_mut()) {
            (IpAddr::V4(a), Some(l), _) => {
                l.add(a.to_bits(), r.len, idx)
                    .map_err(|x| err(x.to_string()))?;
            }
            (IpAddr::V6(a), _, Some(l)) => {
                l.add(&a.octets(), r.len, idx)
                    .map_err(|x| err(x.to_string()))?;
            }
            _ => return Err(LookupError::NotLpm(self.mode)),
        }
        Ok(self.routes.insert((prefix, r.len), r.next_hop))
    }

    /// Deletes an LPM route (the next-longest covering route takes over); returns its next hop.
    pub fn delete_route(&mut self, prefix: IpAddr, len: u8) -> Result<NextHop, LookupError> {
        if self.mode != LookupMode::Lpm {
            return Err(LookupError::NotLpm(self.mode));
        }
        let prefix = normalise(prefix, len);
        let missing = LookupError::NoSuchRoute { prefix, len };
        let Some(nh) = self.routes.get(&(prefix, len)).copied() else {
            return Err(missing);
        };
        let r = match (prefix, self.lpm4.as_mut(), self.lpm6.as_mut()) {
            (IpAddr::V4(a), Some(l), _) => l.delete(a.to_bits(), len),
            (IpAddr::V6(a), _, Some(l)) => l.delete(&a.octets(), len),
            _ => return Err(missing),
        };
        r.map_err(|x| LookupError::Lpm {
            prefix,
            len,
            reason: x.to_string(),
        })?;
        self.routes.remove(&(prefix, len));
        Ok(nh)
    }

    /// Makes the LPM routes exactly `routes` (a reload): adds and replaces the routes given,
    /// then deletes the others. Returns (added or changed, deleted). Stops at the first error
    /// (the routes handled so far stay applied).
    pub fn replace_routes(&mut self, routes: &[Route]) -> Result<(usize, usize), LookupError> {
        if self.mode != LookupMode::Lpm {
            return Err(LookupError::NotLpm(self.mode));
        }
        let mut keep = std::collections::BTreeSet::new();
        let mut changed = 0;
        for r in routes {
            let key = (normalise(r.prefix, r.len), r.len);
            keep.insert(key);
            if self.routes.get(&key) != Some(&r.next_hop) {
                self.add_route(r)?;
                changed += 1;
            }
        }
        let stale: Vec<(IpAddr, u8)> = self
            .routes
            .keys()
            .filter(|k| !keep.contains(*k))
            .copied()
            .collect();
        for (p, l) in &stale {
            self.delete_route(*p, *l)?;
        }
        Ok((changed, stale.len()))
    }

    /// The LPM routes, sorted by prefix.
    pub fn routes(&self) -> Vec<Route> {
        self.routes
            .iter()
            .map(|(&(prefix, len), &next_hop)| Route {
                prefix,
                len,
                next_hop,
            })
            .collect()
    }

    /// Exact-match tables from flows.
    pub fn em(flows: &[Flow]) -> Result<Self, LookupError> {
        let mut hops = Vec::new();
        let cap = (flows.len() * 2).max(1024);
        let em4 = ExactMatchTable::new(cap)
            .map_err(|x| LookupError::Em("table".into(), x.to_string()))?;
        let em6 = ExactMatchTable::new(cap)
            .map_err(|x| LookupError::Em("table".into(), x.to_string()))?;
        for f in flows {
            let idx = intern(
                &mut hops,
                NextHop {
                    port: f.port,
                    via: None,
                },
            );
            let r = match (f.src, f.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    em4.insert(Ipv4FiveTuple::new(s, d, f.sport, f.dport, f.proto), idx)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    em6.insert(Ipv6FiveTuple::new(s, d, f.sport, f.dport, f.proto), idx)
                }
                _ => continue,
            };
            r.map_err(|x| LookupError::Em(format!("{f:?}"), x.to_string()))?;
        }
        Ok(Tables {
            mode: LookupMode::Em,
            lpm4: None,
            lpm6: None,
            em4: Some(Arc::new(em4)),
            em6: Some(Arc::new(em6)),
            acl4: None,
            acl6: None,
            next_hops: Arc::new(NextHops::new(&hops)?),
            hop_index: hop_map(&hops),
            routes: BTreeMap::new(),
        })
    }

    /// ACLs from rule lines (first match wins).
    pub fn acl(lines: &[AclLine]) -> Result<Self, LookupError> {
        let mut hops = Vec::new();
        let mut b4 = AclBuilder::<Ipv4Addr>::new();
        let mut b6 = AclBuilder::<Ipv6Addr>::new();
        let total = lines.len() as u32;
        for (i, l) in lines.iter().enumerate() {
            let userdata = match l.action {
                AclAction::Forward(port) => intern(&mut hops, NextHop { port, via: None }),
                AclAction::Drop => ACL_DROP,
            };
            let priority = total - i as u32;
            let r = match (l.src.0, l.dst.0) {
                (IpAddr::V4(s), IpAddr::V4(d)) => b4.add(acl_rule(l, s, d, priority, userdata)),
                (IpAddr::V6(s), IpAddr::V6(d)) => b6.add(acl_rule(l, s, d, priority, userdata)),
                _ => continue,
            };
            r.map_err(|x| LookupError::Acl(x.to_string()))?;
        }
        Ok(Tables {
            mode: LookupMode::Acl,
            lpm4: None,
            lpm6: None,
            em4: None,
            em6: None,
            acl4: Some(Arc::new(b4.build())),
            acl6: Some(Arc::new(b6.build())),
            next_hops: Arc::new(NextHops::new(&hops)?),
            hop_index: hop_map(&hops),
            routes: BTreeMap::new(),
        })
    }

    /// The lookup method.
    pub fn mode(&self) -> LookupMode {
        self.mode
    }

    /// A lookup handle for one worker lcore.
    pub fn handle(&self) -> Result<Lookup, LookupError> {
        let lpm_err = |x: ferroplane_lpm::LpmError| LookupError::Lpm {
            prefix: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            len: 0,
            reason: x.to_string(),
        };
        let imp = match self.mode {
            LookupMode::Lpm => Impl::Lpm(
                self.lpm4
                    .as_ref()
                    .map(|l| l.reader())
                    .transpose()
                    .map_err(lpm_err)?,
                self.lpm6
                    .as_ref()
                    .map(|l| l.reader())
                    .transpose()
                    .map_err(lpm_err)?,
            ),
            LookupMode::Em => Impl::Em(self.em4.clone(), self.em6.clone()),
            LookupMode::Acl => Impl::Acl(self.acl4.clone(), self.acl6.clone()),
        };
        Ok(Lookup {
            imp,
            next_hops: self.next_hops.clone(),
        })
    }
}

enum Impl {
    Lpm(Option<Lpm4Reader>, Option<Lpm6Reader>),
    Em(
        Option<Arc<ExactMatchTable<Ipv4FiveTuple, u32>>>,
        Option<Arc<ExactMatchTable<Ipv6FiveTuple, u32>>>,
    ),
    Acl(Option<Arc<Acl<Ipv4Addr>>>, Option<Arc<Acl<Ipv6Addr>>>),
}

/// One lcore's lookup handle.
pub struct Lookup {
    imp: Impl,
    next_hops: Arc<NextHops>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup").finish_non_exhaustive()
    }
}

/// The raw value of a lookup that found nothing (LPM's `NO_ROUTE`).
pub const RAW_MISS: u32 = ferroplane_lpm::NO_ROUTE;

impl Lookup {
    #[inline]
    fn decide_ref(&self, v: Option<u32>) -> DecisionRef<'_> {
        match v {
            None => DecisionRef::Miss,
            Some(ACL_DROP) => DecisionRef::Deny,
            Some(i) => self
                .next_hops
                .get(i)
                .map_or(DecisionRef::Miss, DecisionRef::Forward),
        }
    }

    /// The decision for a raw value from [`Lookup::v4_bulk`].
    #[inline]
    pub fn decide_raw(&self, v: u32) -> Decision {
        self.decide_raw_ref(v).to_owned()
    }

    /// [`Lookup::decide_raw`], borrowing the next hop.
    #[inline]
    pub fn decide_raw_ref(&self, v: u32) -> DecisionRef<'_> {
        self.decide_ref((v != RAW_MISS).then_some(v))
    }

    /// Whether [`Lookup::v4_bulk`] does anything (LPM and exact match; ACL is per packet).
    #[inline]
    pub fn has_bulk(&self) -> bool {
        !matches!(self.imp, Impl::Acl(..))
    }

    /// Looks up a burst of IPv4 keys at once, writing each raw result (or [`RAW_MISS`]) to
    /// `out` (decide with [`Lookup::decide_raw`]). LPM looks up the destinations in bulk with
    /// prefetch; exact match hashes and probes the 5-tuples in bulk. Returns how many were
    /// written (0 for ACL: look those up one by one).
    #[inline]
    pub fn v4_bulk(&self, keys: &[Key<Ipv4Addr>], out: &mut [u32]) -> usize {
        let n = keys.len().min(out.len()).min(BULK_MAX);
        match &self.imp {
            Impl::Lpm(Some(r), _) => {
                let mut dst = [0u32; BULK_MAX];
                for (d, k) in dst.iter_mut().zip(&keys[..n]) {
                    *d = k.dst.to_bits();
                }
                r.lookup_bulk(&dst[..n], &mut out[..n])
            }
            Impl::Em(Some(t), _) => {
                let mut tuples =
                    [Ipv4FiveTuple::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, 0, 0, 0);
                        BULK_MAX];
                for (t, k) in tuples.iter_mut().zip(&keys[..n]) {
                    *t = Ipv4FiveTuple::new(k.src, k.dst, k.sport, k.dport, k.proto);
                }
                let mut found = [None; BULK_MAX];
                // Returns the number of hits; every one of the n keys is looked up.
                t.lookup_bulk(&tuples[..n], &mut found[..n]);
                for (o, f) in out.iter_mut().zip(&found[..n]) {
                    *o = f.unwrap_or(RAW_MISS);
                }
                n
            }
            _ => 0,
        }
    }

    /// Looks up an IPv4 packet.
    #[inline]
    pub fn v4(&self, k: &Key<Ipv4Addr>) -> Decision {
        self.v4_ref(k).to_owned()
    }

    /// [`Lookup::v4`], borrowing the next hop.
    #[inline]
    pub fn v4_ref(&self, k: &Key<Ipv4Addr>) -> DecisionRef<'_> {
        let v = match &self.imp {
            Impl::Lpm(r, _) => r.as_ref().and_then(|r| r.lookup(k.dst.to_bits())),
            Impl::Em(t, _) => t.as_ref().and_then(|t| {
                t.lookup(&Ipv4FiveTuple::new(k.src, k.dst, k.sport, k.dport, k.proto))
            }),
            Impl::Acl(a, _) => a.as_ref().and_then(|a| a.classify(&k.acl_key())),
        };
        self.decide_ref(v)
    }

    /// Looks up an IPv6 packet.
    #[inline]
    pub fn v6(&self, k: &Key<Ipv6Addr>) -> Decision {
        self.v6_ref(k).to_owned()
    }

    /// [`Lookup::v6`], borrowing the next hop.
    #[inline]
    pub fn v6_ref(&self, k: &Key<Ipv6Addr>) -> DecisionRef<'_> {
        let v = match &self.imp {
            Impl::Lpm(_, r) => r.as_ref().and_then(|r| r.lookup(&k.dst.octets())),
            Impl::Em(_, t) => t.as_ref().and_then(|t| {
                t.lookup(&Ipv6FiveTuple::new(k.src, k.dst, k.sport, k.dport, k.proto))
            }),
            Impl::Acl(_, a) => a.as_ref().and_then(|a| a.classify(&k.acl_key())),
        };
        self.decide_ref(v)
    }

    /// Reports a quiescent state to the LPM tables (call once per burst).
    #[inline]
    pub fn quiescent(&mut self) {
        if let Impl::Lpm(a, b) = &mut self.imp {
            if let Some(a) = a {
                a.quiescent();
            }
            if let Some(b) = b {
                b.quiescent();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::routes::{acl_from_routes, default_flows, default_routes, parse_acl};
    use super::*;

    fn k4(src: &str, dst: &str, sport: u16, dport: u16, proto: u8) -> Key<Ipv4Addr> {
        Key {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport,
            dport,
            proto,
        }
    }

    fn port(d: Decision) -> Option<u16> {
        match d {
            Decision::Forward(h) => Some(h.port),
            _ => None,
        }
    }

    #[test]
    fn lpm_default_routes() {
        let t = Tables::lpm(&default_routes()).unwrap();
        let l = t.handle().unwrap();
        for p in 0..16u8 {
            assert_eq!(
                port(l.v4(&k4("1.2.3.4", &format!("198.18.{p}.77"), 0, 0, 17))),
                Some(p as u16)
            );
            let dst: Ipv6Addr = format!("2001:200:0:{p:x}::42").parse().unwrap();
            let k6 = Key {
                src: Ipv6Addr::LOCALHOST,
                dst,
                sport: 0,
                dport: 0,
                proto: 17,
            };
            assert_eq!(port(l.v6(&k6)), Some(p as u16));
        }
        assert_eq!(
            l.v4(&k4("1.2.3.4", "198.18.16.1", 0, 0, 17)),
            Decision::Miss
        );
        assert_eq!(l.v4(&k4("1.2.3.4", "10.0.0.1", 0, 0, 17)), Decision::Miss);
    }

    #[test]
    fn lpm_longest_prefix_and_gateway() {
        let routes =
            super::super::routes::parse_routes("10.0.0.0/8 1\n10.1.0.0/16 2 via 10.9.9.9\n")
                .unwrap();
        let t = Tables::lpm(&routes).unwrap();
        let l = t.handle().unwrap();
        assert_eq!(port(l.v4(&k4("1.1.1.1", "10.2.0.1", 0, 0, 6))), Some(1));
        assert_eq!(
            l.v4(&k4("1.1.1.1", "10.1.0.1", 0, 0, 6)),
            Decision::Forward(NextHop {
                port: 2,
                via: Some("10.9.9.9".parse().unwrap())
            })
        );
    }

    #[test]
    fn em_default_flows_match_exactly() {
        let t = Tables::em(&default_flows()).unwrap();
        let l = t.handle().unwrap();
        for p in 0..16u8 {
            let k = k4(&format!("198.18.{p}.1"), &format!("198.18.{p}.0"), 9, 9, 17);
            assert_eq!(port(l.v4(&k)), Some(p as u16));
            // Any field different: miss.
            assert_eq!(l.v4(&Key { sport: 10, ..k }), Decision::Miss);
            assert_eq!(l.v4(&Key { proto: 6, ..k }), Decision::Miss);
        }
        let k6 = Key {
            src: "2001:200:0:3::1".parse().unwrap(),
            dst: "2001:200:0:3::".parse().unwrap(),
            sport: 9,
            dport: 9,
            proto: 17,
        };
        assert_eq!(port(l.v6(&k6)), Some(3));
    }

    #[test]
    fn acl_first_match_wins_and_drop_rules() {
        let mut lines =
            parse_acl("@0.0.0.0/0 198.18.3.0/24 0 : 65535 0 : 65535 0x11/0xff\nR0.0.0.0/0 198.18.0.0/16 0 : 65535 0 : 65535 0x00/0x00 5\n")
                .unwrap();
        lines.extend(acl_from_routes(&default_routes()));
        let t = Tables::acl(&lines).unwrap();
        let l = t.handle().unwrap();
        assert_eq!(l.v4(&k4("1.1.1.1", "198.18.3.1", 1, 2, 17)), Decision::Deny);
        assert_eq!(port(l.v4(&k4("1.1.1.1", "198.18.3.1", 1, 2, 6))), Some(5));
        assert_eq!(port(l.v4(&k4("1.1.1.1", "198.18.7.1", 1, 2, 6))), Some(5));
        assert_eq!(l.v4(&k4("1.1.1.1", "10.0.0.1", 1, 2, 6)), Decision::Miss);
        let routes_only = Tables::acl(&acl_from_routes(&default_routes())).unwrap();
        let l = routes_only.handle().unwrap();
        assert_eq!(port(l.v4(&k4("1.1.1.1", "198.18.7.1", 1, 2, 6))), Some(7));
    }

    #[test]
    fn routes_change_while_a_reader_looks_up() {
        let mut t = Tables::lpm(&default_routes()).unwrap();
        let l = t.handle().unwrap();
        let dst = "10.7.1.1";
        assert_eq!(l.v4(&k4("1.1.1.1", dst, 0, 0, 17)), Decision::Miss);
        let r = super::super::routes::parse_route("10.7.0.0/16 3 via 10.0.2.9").unwrap();
        assert_eq!(t.add_route(&r).unwrap(), None);
        assert_eq!(
            l.v4(&k4("1.1.1.1", dst, 0, 0, 17)),
            Decision::Forward(NextHop {
                port: 3,
                via: Some("10.0.2.9".parse().unwrap())
            })
        );
        // A more specific route, then its deletion: the covering route is back.
        let r24 = super::super::routes::parse_route("10.7.1.0/24 1").unwrap();
        t.add_route(&r24).unwrap();
        assert_eq!(port(l.v4(&k4("1.1.1.1", dst, 0, 0, 17))), Some(1));
        // Host bits are ignored, as in the route file.
        t.delete_route("10.7.1.99".parse().unwrap(), 24).unwrap();
        assert_eq!(port(l.v4(&k4("1.1.1.1", dst, 0, 0, 17))), Some(3));
        assert!(matches!(
            t.delete_route("10.7.1.0".parse().unwrap(), 24),
            Err(LookupError::NoSuchRoute { .. })
        ));
        // A reload keeps, changes, adds and deletes.
        let file = super::super::routes::parse_routes(
            "198.18.0.0/24 5\n198.18.1.0/24 1\nipv6 2001:db8::/32 2\n",
        )
        .unwrap();
        let (changed, deleted) = t.replace_routes(&file).unwrap();
        assert_eq!(
            changed, 2,
            "198.18.0.0/24 changed port, 2001:db8::/32 is new"
        );
        assert_eq!(
            deleted,
            default_routes().len() - 2 + 1,
            "the others and 10.7.0.0/16"
        );
        assert_eq!(t.routes().len(), 3);
        assert_eq!(port(l.v4(&k4("1.1.1.1", "198.18.0.1", 0, 0, 17))), Some(5));
        assert_eq!(l.v4(&k4("1.1.1.1", "198.18.2.1", 0, 0, 17)), Decision::Miss);
        assert_eq!(l.v4(&k4("1.1.1.1", dst, 0, 0, 17)), Decision::Miss);
        let em = Tables::em(&default_flows()).unwrap();
        let mut em = em;
        assert!(matches!(em.add_route(&r), Err(LookupError::NotLpm(_))));
    }

    #[test]
    fn bulk_lookups_agree_with_single_lookups() {
        let lpm = Tables::lpm(&default_routes()).unwrap();
        let em = Tables::em(&default_flows()).unwrap();
        let acl = Tables::acl(&acl_from_routes(&default_routes())).unwrap();
        let mut keys = Vec::new();
        for i in 0..BULK_MAX as u32 {
            let p = (i % 20) as u8;
            keys.push(if i % 3 == 0 {
                k4(&format!("198.18.{p}.1"), &format!("198.18.{p}.0"), 9, 9, 17)
            } else {
                k4(
                    "10.1.1.1",
                    &format!("198.18.{p}.{i}"),
                    1000 + i as u16,
                    80,
                    6,
                )
            });
        }
        for t in [&lpm, &em] {
            let l = t.handle().unwrap();
            assert!(l.has_bulk());
            for n in [1, 7, 32, BULK_MAX] {
                let mut raw = [0u32; BULK_MAX];
                assert_eq!(l.v4_bulk(&keys[..n], &mut raw), n);
                for (k, r) in keys[..n].iter().zip(raw) {
                    assert_eq!(l.decide_raw(r), l.v4(k), "{k:?}");
                }
            }
        }
        let l = acl.handle().unwrap();
        assert!(!l.has_bulk());
        assert_eq!(l.v4_bulk(&keys, &mut [0u32; BULK_MAX]), 0);
    }
}
