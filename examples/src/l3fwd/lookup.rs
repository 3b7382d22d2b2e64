//! The three lookup methods of l3fwd (`--lookup lpm|em|acl`) behind one per-lcore handle.
//!
//! [`Tables`] is built once on the main thread from routes, flows or ACL lines; every table
//! value is an index into one shared next-hop array. Each worker lcore takes a [`Lookup`] from
//! it ([`Tables::handle`]): LPM readers (lock-free, one per lcore, quiescent once per burst), or
//! shared references to the exact-match table and the compiled ACL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

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

const ACL_DROP: u32 = u32::MAX;

/// The tables, built on the main thread.
pub struct Tables {
    mode: LookupMode,
    lpm4: Option<Lpm4>,
    lpm6: Option<Lpm6>,
    em4: Option<Arc<ExactMatchTable<Ipv4FiveTuple, u32>>>,
    em6: Option<Arc<ExactMatchTable<Ipv6FiveTuple, u32>>>,
    acl4: Option<Arc<Acl<Ipv4Addr>>>,
    acl6: Option<Arc<Acl<Ipv6Addr>>>,
    next_hops: Arc<[NextHop]>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("mode", &self.mode)
            .field("next_hops", &self.next_hops.len())
            .finish()
    }
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
        let mut hops = Vec::new();
        let e = |r: &Route, reason: String| LookupError::Lpm {
            prefix: r.prefix,
            len: r.len,
            reason,
        };
        let mut lpm4 = Lpm4::new(&small_lpm()).map_err(|x| LookupError::Lpm {
            prefix: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            len: 0,
            reason: x.to_string(),
        })?;
        let mut lpm6 = Lpm6::new(&small_lpm()).map_err(|x| LookupError::Lpm {
            prefix: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            len: 0,
            reason: x.to_string(),
        })?;
        for r in routes {
            let idx = intern(&mut hops, r.next_hop);
            match r.prefix {
                IpAddr::V4(a) => {
                    let mask = if r.len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - r.len as u32)
                    };
                    lpm4.add(a.to_bits() & mask, r.len, idx)
                        .map_err(|x| e(r, x.to_string()))?;
                }
                IpAddr::V6(a) => {
                    let mask = if r.len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - r.len as u32)
                    };
                    let ip = (a.to_bits() & mask).to_be_bytes();
                    lpm6.add(&ip, r.len, idx).map_err(|x| e(r, x.to_string()))?;
                }
            }
        }
        Ok(Tables {
            mode: LookupMode::Lpm,
            lpm4: Some(lpm4),
            lpm6: Some(lpm6),
            em4: None,
            em6: None,
            acl4: None,
            acl6: None,
            next_hops: hops.into(),
        })
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
            next_hops: hops.into(),
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
                (IpAddr::V4(s), IpAddr::V4(d)) => b4.add(AclRule {
                    src: s,
                    src_len: l.src.1,
                    dst: d,
                    dst_len: l.dst.1,
                    sport: l.sport,
                    dport: l.dport,
                    proto: l.proto.0,
                    proto_mask: l.proto.1,
                    priority,
                    userdata,
                }),
                (IpAddr::V6(s), IpAddr::V6(d)) => b6.add(AclRule {
                    src: s,
                    src_len: l.src.1,
                    dst: d,
                    dst_len: l.dst.1,
                    sport: l.sport,
                    dport: l.dport,
                    proto: l.proto.0,
                    proto_mask: l.proto.1,
                    priority,
                    userdata,
                }),
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
            next_hops: hops.into(),
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
    next_hops: Arc<[NextHop]>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("next_hops", &self.next_hops.len())
            .finish()
    }
}

impl Lookup {
    #[inline]
    fn decide(&self, v: Option<u32>) -> Decision {
        match v {
            None => Decision::Miss,
            Some(ACL_DROP) => Decision::Deny,
            Some(i) => self
                .next_hops
                .get(i as usize)
                .map_or(Decision::Miss, |h| Decision::Forward(*h)),
        }
    }

    /// Looks up an IPv4 packet.
    #[inline]
    pub fn v4(&self, k: &Key<Ipv4Addr>) -> Decision {
        let v = match &self.imp {
            Impl::Lpm(r, _) => r.as_ref().and_then(|r| r.lookup(k.dst.to_bits())),
            Impl::Em(t, _) => t.as_ref().and_then(|t| {
                t.lookup(&Ipv4FiveTuple::new(k.src, k.dst, k.sport, k.dport, k.proto))
            }),
            Impl::Acl(a, _) => a.as_ref().and_then(|a| {
                a.classify(&AclKey {
                    src: k.src,
                    dst: k.dst,
                    sport: k.sport,
                    dport: k.dport,
                    proto: k.proto,
                })
            }),
        };
        self.decide(v)
    }

    /// Looks up an IPv6 packet.
    #[inline]
    pub fn v6(&self, k: &Key<Ipv6Addr>) -> Decision {
        let v = match &self.imp {
            Impl::Lpm(_, r) => r.as_ref().and_then(|r| r.lookup(&k.dst.octets())),
            Impl::Em(_, t) => t.as_ref().and_then(|t| {
                t.lookup(&Ipv6FiveTuple::new(k.src, k.dst, k.sport, k.dport, k.proto))
            }),
            Impl::Acl(_, a) => a.as_ref().and_then(|a| {
                a.classify(&AclKey {
                    src: k.src,
                    dst: k.dst,
                    sport: k.sport,
                    dport: k.dport,
                    proto: k.proto,
                })
            }),
        };
        self.decide(v)
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
}
