//! Flow rules: a small `rte_flow`-like model with a software matcher.
//!
//! A [`FlowRule`] is a pattern ([`FlowMatch`]: ethertype, VLAN id, source and destination
//! prefixes, protocol, source and destination ports; every field optional, absent = any) and
//! a list of [`FlowAction`]s: at most one fate (`Queue(n)` or `Drop`), optionally `Mark(u32)`
//! and `Count`. A [`FlowTable`] holds validated rules and matches parsed packet keys
//! ([`FlowKey`]) against them in software.
//!
//! Precedence is `rte_flow`'s: the **lowest** `priority` value wins; among equal priorities
//! the rule created first wins.
//!
//! Hit counters live in a per-core [`FlowStats`] that the caller passes to
//! [`FlowTable::classify`], so the fast path does no atomic read-modify-write; sum the
//! per-core stats to read them. Every rule counts packets; rules with the `Count` action
//! also count bytes.
//!
//! A driver asks [`FlowRule::offload_match`] whether a rule's pattern fits an exact-match
//! offload (the AF_XDP driver's XDP program matches only a full 5-tuple, a destination
//! address and port, or an ethertype).

use std::net::IpAddr;

use thiserror::Error;

/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// An address prefix of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    /// Address (bits past `len` are ignored).
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl IpPrefix {
    /// A prefix.
    pub fn new(addr: IpAddr, len: u8) -> Self {
        IpPrefix { addr, len }
    }

    /// A full-length (host) prefix.
    pub fn host(addr: IpAddr) -> Self {
        IpPrefix {
            addr,
            len: max_len(addr),
        }
    }

    fn is_host(&self) -> bool {
        self.len == max_len(self.addr)
    }

    fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let shift = 32 - u32::from(self.len);
                (u32::from(p) ^ u32::from(a))
                    .checked_shr(shift)
                    .unwrap_or(0)
                    == 0
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let shift = 128 - u32::from(self.len);
                (u128::from(p) ^ u128::from(a))
                    .checked_shr(shift)
                    .unwrap_or(0)
                    == 0
            }
            _ => false,
        }
    }
}

fn max_len(a: IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

/// A rule's pattern; `None` fields match anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlowMatch {
    /// Ethertype (of the payload after any VLAN tag).
    pub ethertype: Option<u16>,
    /// VLAN id (12 bits); `Some` only matches tagged packets.
    pub vlan_id: Option<u16>,
    /// Source prefix.
    pub src: Option<IpPrefix>,
    /// Destination prefix.
    pub dst: Option<IpPrefix>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// L4 source port.
    pub sport: Option<u16>,
    /// L4 destination port.
    pub dport: Option<u16>,
}

/// What to do with a matching packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowAction {
    /// Steer to RX queue (or lcore) `n`.
    Queue(u16),
    /// Drop.
    Drop,
    /// Attach a 32-bit mark (like `rte_flow`'s MARK, delivered in the mbuf).
    Mark(u32),
    /// Count bytes as well as packets.
    Count,
}

/// The fate of a matched packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowFate {
    /// Steer to a queue.
    Queue(u16),
    /// Drop.
    Drop,
}

/// A flow rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowRule {
    /// Lower value = higher precedence.
    pub priority: u32,
    /// The pattern.
    pub pattern: FlowMatch,
    /// The actions.
    pub actions: Vec<FlowAction>,
}

/// What an exact-match offload (such as the AF_XDP driver's XDP program) can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffloadMatch {
    /// Full 5-tuple: host source and destination of one family, protocol, both ports.
    FiveTuple {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// IP protocol.
        proto: u8,
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// Host destination address and destination port (protocol optional).
    DstAddrPort {
        /// Destination address.
        dst: IpAddr,
        /// IP protocol, if the rule names one.
        proto: Option<u8>,
        /// Destination port.
        dport: u16,
    },
    /// Ethertype only.
    EtherType(u16),
}

impl FlowRule {
    /// Whether the pattern fits an exact-match offload, and which kind. `None` means the rule
    /// must stay in software (prefixes shorter than a host, VLAN matches, partial tuples).
    /// Actions are not judged here: the driver decides which of them it can perform.
    pub fn offload_match(&self) -> Option<OffloadMatch> {
        let p = &self.pattern;
        if p.vlan_id.is_some() {
            return None;
        }
        let family_ok = |a: IpAddr| match p.ethertype {
            None => true,
            Some(ETHERTYPE_IPV4) => a.is_ipv4(),
            Some(ETHERTYPE_IPV6) => a.is_ipv6(),
            Some(_) => false,
        };
        match (p.src, p.dst, p.proto, p.sport, p.dport) {
            (None, None, None, None, None) => p.ethertype.map(OffloadMatch::EtherType),
            (Some(s), Some(d), Some(proto), Some(sport), Some(dport))
                if s.is_host() && d.is_host() && family_ok(d.addr) =>
            {
                Some(OffloadMatch::FiveTuple {
                    src: s.addr,
                    dst: d.addr,
                    proto,
                    sport,
                    dport,
                })
            }
            (None, Some(d), proto, None, Some(dport)) if d.is_host() && family_ok(d.addr) => {
                Some(OffloadMatch::DstAddrPort {
                    dst: d.addr,
                    proto,
                    dport,
                })
            }
            _ => None,
        }
    }

    fn matches(&self, k: &FlowKey) -> bool {
        let p = &self.pattern;
        p.ethertype.is_none_or(|e| e == k.ethertype)
            && p.vlan_id.is_none_or(|v| k.vlan_id == Some(v))
            && p.src.is_none_or(|s| k.src.is_some_and(|a| s.contains(a)))
            && p.dst.is_none_or(|d| k.dst.is_some_and(|a| d.contains(a)))
            && p.proto.is_none_or(|x| k.proto == Some(x))
            && p.sport.is_none_or(|x| k.sport == Some(x))
            && p.dport.is_none_or(|x| k.dport == Some(x))
    }
}

/// The fields of a parsed packet that flow rules look at (`None` = header absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Ethertype after any VLAN tag.
    pub ethertype: u16,
    /// VLAN id of the outer tag.
    pub vlan_id: Option<u16>,
    /// IP source.
    pub src: Option<IpAddr>,
    /// IP destination.
    pub dst: Option<IpAddr>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// L4 source port.
    pub sport: Option<u16>,
    /// L4 destination port.
    pub dport: Option<u16>,
    /// Packet length in bytes (for byte counters).
    pub len: u32,
}

/// Identifies a rule in its table (the order of creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowRuleId(pub u32);

/// The result of matching a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowDecision {
    /// The matching rule.
    pub rule: FlowRuleId,
    /// Queue or drop; `None` when the rule has no fate action (the packet goes on as usual).
    pub fate: Option<FlowFate>,
    /// The mark to attach, if any.
    pub mark: Option<u32>,
}

/// Errors from validating a rule.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum FlowError {
    /// A rule needs at least one action.
    #[error("flow rule has no actions")]
    NoActions,
    /// Two fate actions (queue/drop) in one rule.
    #[error("flow rule has more than one fate action: {0:?} and {1:?}")]
    ConflictingFates(FlowAction, FlowAction),
    /// The same non-fate action twice.
    #[error("flow rule repeats action {0:?}")]
    DuplicateAction(FlowAction),
    /// Queue number beyond the port's queues.
    #[error("flow rule steers to queue {queue} but the port has {queues} queues")]
    QueueOutOfRange {
        /// Requested queue.
        queue: u16,
        /// Queues available.
        queues: u16,
    },
    /// Prefix longer than its address.
    #[error("prefix length {len} too long for {addr}")]
    PrefixLength {
        /// Address.
        addr: IpAddr,
        /// Length.
        len: u8,
    },
    /// Source and destination of different families, or family unlike the ethertype.
    #[error("flow rule mixes address families (ethertype {ethertype:?})")]
    FamilyMismatch {
        /// The rule's ethertype.
        ethertype: Option<u16>,
    },
    /// VLAN ids are 12 bits.
    #[error("VLAN id {0} out of range (0..=4095)")]
    VlanId(u16),
    /// Rule id not in this table.
    #[error("no flow rule {0}")]
    NoSuchRule(u32),
}

/// Per-core hit counters for the rules of one [`FlowTable`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStats {
    hits: Vec<u64>,
    bytes: Vec<u64>,
    /// Packets no rule matched.
    pub misses: u64,
}

impl FlowStats {
    /// Packets that matched rule `id`.
    pub fn hits(&self, id: FlowRuleId) -> u64 {
        self.hits.get(id.0 as usize).copied().unwrap_or(0)
    }

    /// Bytes of packets that matched rule `id` (rules with the `Count` action only).
    pub fn bytes(&self, id: FlowRuleId) -> u64 {
        self.bytes.get(id.0 as usize).copied().unwrap_or(0)
    }

    /// Adds another core's counters into these.
    pub fn merge(&mut self, other: &FlowStats) {
        let n = self.hits.len().max(other.hits.len());
        self.hits.resize(n, 0);
        self.bytes.resize(n, 0);
        for (a, b) in self.hits.iter_mut().zip(&other.hits) {
            *a += b;
        }
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a += b;
        }
        self.misses += other.misses;
    }
}

#[derive(Debug, Clone)]
struct Entry {
    rule: FlowRule,
    id: FlowRuleId,
    decision: FlowDecision,
    count_bytes: bool,
}

/// Validated flow rules with a software matcher.
#[derive(Debug, Clone)]
pub struct FlowTable {
    queues: u16,
    /// In precedence order.
    entries: Vec<Entry>,
    next_id: u32,
}

impl FlowTable {
    /// An empty table for a port with `queues` RX queues.
    pub fn new(queues: u16) -> Self {
        FlowTable {
            queues,
            entries: Vec::new(),
            next_id: 0,
        }
    }

    /// Checks a rule without adding it (like `rte_flow_validate`).
    pub fn validate(&self, rule: &FlowRule) -> Result<(), FlowError> {
        if rule.actions.is_empty() {
            return Err(FlowError::NoActions);
        }
        let mut fate: Option<FlowAction> = None;
        for (i, &a) in rule.actions.iter().enumerate() {
            match a {
                FlowAction::Queue(q) if q >= self.queues => {
                    return Err(FlowError::QueueOutOfRange {
                        queue: q,
                        queues: self.queues,
                    });
                }
                FlowAction::Queue(_) | FlowAction::Drop => {
                    if let Some(f) = fate {
                        return Err(FlowError::ConflictingFates(f, a));
                    }
                    fate = Some(a);
                }
                FlowAction::Mark(_) | FlowAction::Count => {
                    let same_kind =
                        |b: &FlowAction| std::mem::discriminant(b) == std::mem::discriminant(&a);
                    if rule.actions[..i].iter().any(same_kind) {
                        return Err(FlowError::DuplicateAction(a));
                    }
                }
            }
        }
        let p = &rule.pattern;
        if let Some(v) = p.vlan_id
            && v > 4095
        {
            return Err(FlowError::VlanId(v));
        }
        let mut family = None;
        for pre in [p.src, p.dst].into_iter().flatten() {
            if pre.len > max_len(pre.addr) {
                return Err(FlowError::PrefixLength {
                    addr: pre.addr,
                    len: pre.len,
                });
            }
            if family.is_some_and(|f| f != pre.addr.is_ipv4()) {
                return Err(FlowError::FamilyMismatch {
                    ethertype: p.ethertype,
                });
            }
            family = Some(pre.addr.is_ipv4());
            let eth_ok = match p.ethertype {
                None => true,
                Some(ETHERTYPE_IPV4) => pre.addr.is_ipv4(),
                Some(ETHERTYPE_IPV6) => pre.addr.is_ipv6(),
                Some(_) => false,
            };
            if !eth_ok {
                return Err(FlowError::FamilyMismatch {
                    ethertype: p.ethertype,
                });
            }
        }
        Ok(())
    }

    /// Validates and adds a rule, returning its id.
    pub fn create(&mut self, rule: FlowRule) -> Result<FlowRuleId, FlowError> {
        self.validate(&rule)?;
        let id = FlowRuleId(self.next_id);
        self.next_id += 1;
        let mut decision = FlowDecision {
            rule: id,
            fate: None,
            mark: None,
        };
        let mut count_bytes = false;
        for a in &rule.actions {
            match *a {
                FlowAction::Queue(q) => decision.fate = Some(FlowFate::Queue(q)),
                FlowAction::Drop => decision.fate = Some(FlowFate::Drop),
                FlowAction::Mark(m) => decision.mark = Some(m),
                FlowAction::Count => count_bytes = true,
            }
        }
        // Stable position: after every rule of equal or higher precedence.
        let pos = self
            .entries
            .partition_point(|e| e.rule.priority <= rule.priority);
        self.entries.insert(
            pos,
            Entry {
                rule,
                id,
                decision,
                count_bytes,
            },
        );
        Ok(id)
    }

    /// Removes a rule.
    pub fn destroy(&mut self, id: FlowRuleId) -> Result<FlowRule, FlowError> {
        let pos = self
            .entries
            .iter()
            .position(|e| e.id == id)
            .ok_or(FlowError::NoSuchRule(id.0))?;
        Ok(self.entries.remove(pos).rule)
    }

    /// Rules in precedence order, with their ids.
    pub fn rules(&self) -> impl Iterator<Item = (FlowRuleId, &FlowRule)> {
        self.entries.iter().map(|e| (e.id, &e.rule))
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters sized for this table's rules (one per core).
    pub fn new_stats(&self) -> FlowStats {
        let n = self.next_id as usize;
        FlowStats {
            hits: vec![0; n],
            bytes: vec![0; n],
            misses: 0,
        }
    }

    /// The decision for `key` without counting.
    pub fn lookup(&self, key: &FlowKey) -> Option<FlowDecision> {
        self.entries
            .iter()
            .find(|e| e.rule.matches(key))
            .map(|e| e.decision)
    }

    /// The decision for `key`, counting the hit (or miss) in `stats`. `stats` made for an
    /// older, smaller table grows as needed.
    pub fn classify(&self, key: &FlowKey, stats: &mut FlowStats) -> Option<FlowDecision> {
        match self.entries.iter().find(|e| e.rule.matches(key)) {
            Some(e) => {
                let i = e.id.0 as usize;
                if stats.hits.len() <= i {
                    stats.hits.resize(self.next_id as usize, 0);
                    stats.bytes.resize(self.next_id as usize, 0);
                }
                stats.hits[i] += 1;
                if e.count_bytes {
                    stats.bytes[i] += u64::from(key.len);
                }
                Some(e.decision)
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(a))
    }

    fn key(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> FlowKey {
        FlowKey {
            ethertype: ETHERTYPE_IPV4,
            vlan_id: None,
            src: Some(v4(src)),
            dst: Some(v4(dst)),
            proto: Some(proto),
            sport: Some(sport),
            dport: Some(dport),
            len: 100,
        }
    }

    fn rule(priority: u32, pattern: FlowMatch, actions: &[FlowAction]) -> FlowRule {
        FlowRule {
            priority,
            pattern,
            actions: actions.to_vec(),
        }
    }

    #[test]
    fn matches_by_precedence_and_counts() {
        let mut t = FlowTable::new(4);
        let web = t
            .create(rule(
                1,
                FlowMatch {
                    dst: Some(IpPrefix::new(v4([10, 0, 0, 0]), 8)),
                    proto: Some(6),
                    dport: Some(80),
                    ..Default::default()
                },
                &[FlowAction::Queue(2), FlowAction::Mark(7), FlowAction::Count],
            ))
            .unwrap();
        let drop_net = t
            .create(rule(
                0,
                FlowMatch {
                    src: Some(IpPrefix::new(v4([192, 168, 0, 0]), 16)),
                    ..Default::default()
                },
                &[FlowAction::Drop],
            ))
            .unwrap();
        // Same priority as `web`, created later: loses ties.
        let late = t
            .create(rule(
                1,
                FlowMatch {
                    ethertype: Some(ETHERTYPE_IPV4),
                    ..Default::default()
                },
                &[FlowAction::Queue(3)],
            ))
            .unwrap();
        let mut stats = t.new_stats();
        let d = t.classify(&key([1, 1, 1, 1], [10, 2, 3, 4], 6, 999, 80), &mut stats);
        assert_eq!(
            d,
            Some(FlowDecision {
                rule: web,
                fate: Some(FlowFate::Queue(2)),
                mark: Some(7)
            })
        );
        let d = t.classify(
            &key([192, 168, 5, 5], [10, 2, 3, 4], 6, 999, 80),
            &mut stats,
        );
        assert_eq!(
            d.map(|d| (d.rule, d.fate)),
            Some((drop_net, Some(FlowFate::Drop)))
        );
        let d = t.classify(&key([1, 1, 1, 1], [10, 2, 3, 4], 17, 999, 80), &mut stats);
        assert_eq!(d.map(|d| d.rule), Some(late));
        let mut arp = key([0; 4], [0; 4], 0, 0, 0);
        arp.ethertype = 0x0806;
        arp.src = None;
        arp.dst = None;
        assert_eq!(t.classify(&arp, &mut stats), None);
        assert_eq!((stats.hits(web), stats.bytes(web)), (1, 100));
        assert_eq!((stats.hits(drop_net), stats.bytes(drop_net)), (1, 0));
        assert_eq!((stats.hits(late), stats.misses), (1, 1));
        let mut total = t.new_stats();
        total.merge(&stats);
        total.merge(&stats);
        assert_eq!(total.hits(web), 2);
        t.destroy(drop_net).unwrap();
        assert_eq!(
            t.lookup(&key([192, 168, 5, 5], [10, 2, 3, 4], 6, 999, 80))
                .map(|d| d.rule),
            Some(web)
        );
        assert_eq!(t.destroy(drop_net), Err(FlowError::NoSuchRule(drop_net.0)));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn vlan_and_ipv6_patterns() {
        let mut t = FlowTable::new(2);
        let a6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let r = t
            .create(rule(
                0,
                FlowMatch {
                    vlan_id: Some(100),
                    dst: Some(IpPrefix::new(IpAddr::V6(a6), 64)),
                    ..Default::default()
                },
                &[FlowAction::Queue(1)],
            ))
            .unwrap();
        let mut k = FlowKey {
            ethertype: ETHERTYPE_IPV6,
            vlan_id: Some(100),
            src: None,
            dst: Some(IpAddr::V6("2001:db8::ffff".parse().unwrap())),
            proto: None,
            sport: None,
            dport: None,
            len: 60,
        };
        assert_eq!(t.lookup(&k).map(|d| d.rule), Some(r));
        k.vlan_id = None;
        assert_eq!(t.lookup(&k), None);
        k.vlan_id = Some(100);
        k.dst = Some(v4([1, 2, 3, 4]));
        assert_eq!(t.lookup(&k), None);
    }

    #[test]
    fn validation_errors() {
        let t = FlowTable::new(2);
        let any = FlowMatch::default();
        assert_eq!(t.validate(&rule(0, any, &[])), Err(FlowError::NoActions));
        assert_eq!(
            t.validate(&rule(0, any, &[FlowAction::Queue(2)])),
            Err(FlowError::QueueOutOfRange {
                queue: 2,
                queues: 2
            })
        );
        assert_eq!(
            t.validate(&rule(0, any, &[FlowAction::Queue(1), FlowAction::Drop])),
            Err(FlowError::ConflictingFates(
                FlowAction::Queue(1),
                FlowAction::Drop
            ))
        );
        assert_eq!(
            t.validate(&rule(0, any, &[FlowAction::Mark(1), FlowAction::Mark(2)])),
            Err(FlowError::DuplicateAction(FlowAction::Mark(2)))
        );
        let bad_len = FlowMatch {
            src: Some(IpPrefix::new(v4([1, 2, 3, 4]), 33)),
            ..any
        };
        assert!(matches!(
            t.validate(&rule(0, bad_len, &[FlowAction::Drop])),
            Err(FlowError::PrefixLength { len: 33, .. })
        ));
        let mixed = FlowMatch {
            src: Some(IpPrefix::host(v4([1, 2, 3, 4]))),
            dst: Some(IpPrefix::host(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ..any
        };
        assert!(matches!(
            t.validate(&rule(0, mixed, &[FlowAction::Drop])),
            Err(FlowError::FamilyMismatch { .. })
        ));
        let bad_vlan = FlowMatch {
            vlan_id: Some(5000),
            ..any
        };
        assert_eq!(
            t.validate(&rule(0, bad_vlan, &[FlowAction::Drop])),
            Err(FlowError::VlanId(5000))
        );
    }

    #[test]
    fn offload_kinds() {
        let five = FlowMatch {
            ethertype: Some(ETHERTYPE_IPV4),
            src: Some(IpPrefix::host(v4([1, 1, 1, 1]))),
            dst: Some(IpPrefix::host(v4([2, 2, 2, 2]))),
            proto: Some(17),
            sport: Some(53),
            dport: Some(5353),
            ..Default::default()
        };
        let r = |p| rule(0, p, &[FlowAction::Drop]);
        assert_eq!(
            r(five).offload_match(),
            Some(OffloadMatch::FiveTuple {
                src: v4([1, 1, 1, 1]),
                dst: v4([2, 2, 2, 2]),
                proto: 17,
                sport: 53,
                dport: 5353
            })
        );
        let dst_port = FlowMatch {
            dst: Some(IpPrefix::host(v4([2, 2, 2, 2]))),
            dport: Some(80),
            proto: Some(6),
            ..Default::default()
        };
        assert_eq!(
            r(dst_port).offload_match(),
            Some(OffloadMatch::DstAddrPort {
                dst: v4([2, 2, 2, 2]),
                proto: Some(6),
                dport: 80
            })
        );
        let eth = FlowMatch {
            ethertype: Some(0x88cc),
            ..Default::default()
        };
        assert_eq!(
            r(eth).offload_match(),
            Some(OffloadMatch::EtherType(0x88cc))
        );
        // Not offloadable: prefixes, VLAN, partial tuples, match-all.
        let prefix = FlowMatch {
            dst: Some(IpPrefix::new(v4([2, 2, 2, 0]), 24)),
            dport: Some(80),
            ..Default::default()
        };
        assert_eq!(r(prefix).offload_match(), None);
        assert_eq!(
            r(FlowMatch {
                vlan_id: Some(1),
                ..five
            })
            .offload_match(),
            None
        );
        assert_eq!(
            r(FlowMatch {
                sport: None,
                ..five
            })
            .offload_match(),
            None
        );
        assert_eq!(r(FlowMatch::default()).offload_match(), None);
        let wrong_family = FlowMatch {
            ethertype: Some(ETHERTYPE_IPV6),
            ..dst_port
        };
        assert_eq!(r(wrong_family).offload_match(), None);
    }
}
