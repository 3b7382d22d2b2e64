//! The neighbour table of router mode: next-hop IP -> MAC, resolved by ARP (IPv4) or neighbour
//! solicitation (IPv6), with a small hold queue per unresolved neighbour.
//!
//! States, as a much reduced RFC 4861 / Linux neighbour cache:
//! - *incomplete*: a request was sent; up to [`HOLD_PER_NEIGHBOUR`] packets wait for the
//!   answer; the request is repeated every `retry` up to `probes` times, then the waiting
//!   packets are dropped (counted by the caller) and the entry is removed so a later packet
//!   starts over.
//! - *reachable*: the MAC is known until `reachable` has passed since it was learnt; after
//!   that the entry is *stale*: packets still use the old MAC while a new request is sent
//!   (at most one per `retry`).
//!
//! The table is per worker lcore (no lock); each lcore resolves the neighbours it sends to.
//! Entries are created only for next hops the router sends to, or for hosts that asked for our
//! address, so a flood of unrelated ARP cannot fill it; it is bounded by `max_entries` anyway.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ferroplane_net::MacAddr;

/// Packets held per unresolved neighbour (Linux's default `unres_qlen_bytes` holds a few).
pub const HOLD_PER_NEIGHBOUR: usize = 4;

/// Timers and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// Time between requests for one neighbour.
    pub retry: Duration,
    /// Requests sent before giving up.
    pub probes: u8,
    /// How long a learnt MAC is used before it is refreshed.
    pub reachable: Duration,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            retry: Duration::from_secs(1),
            probes: 3,
            reachable: Duration::from_secs(30),
            max_entries: 4096,
        }
    }
}

#[derive(Debug)]
enum State {
    Incomplete {
        probes: u8,
        next_probe: u64,
    },
    Reachable {
        mac: MacAddr,
        learnt: u64,
        last_probe: u64,
    },
}

#[derive(Debug)]
struct Entry<P> {
    state: State,
    held: Vec<P>,
}

/// The result of [`NeighTable::resolve`].
#[derive(Debug)]
pub enum Resolve<P> {
    /// Send with this destination MAC; `refresh` asks the caller to send a request too (stale).
    Mac {
        /// The neighbour's MAC.
        mac: MacAddr,
        /// Send a request to refresh a stale entry.
        refresh: bool,
        /// The packet, given back.
        pkt: P,
    },
    /// The packet waits; `probe` asks the caller to send the first request now.
    Held {
        /// Send a request.
        probe: bool,
    },
    /// The hold queue (or the table) is full: the packet is given back to be dropped.
    Full(P),
}

/// A per-lcore neighbour table holding packets of type `P`.
#[derive(Debug)]
pub struct NeighTable<P> {
    cfg: NeighConfig,
    map: HashMap<(u16, IpAddr), Entry<P>>,
    incomplete: usize,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl<P> NeighTable<P> {
    /// An empty table.
    pub fn new(cfg: NeighConfig) -> Self {
        NeighTable {
            cfg,
            map: HashMap::with_capacity(64),
            incomplete: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The MAC of a reachable or stale neighbour.
    pub fn mac(&self, port: u16, ip: IpAddr) -> Option<MacAddr> {
        match self.map.get(&(port, ip))?.state {
            State::Reachable { mac, .. } => Some(mac),
            State::Incomplete { .. } => None,
        }
    }

    /// Finds the MAC for sending `pkt` to `ip` on `port` at time `now` (ns), or holds `pkt`.
    #[inline]
    pub fn resolve(&mut self, port: u16, ip: IpAddr, pkt: P, now: u64) -> Resolve<P> {
        let (retry, reachable) = (ns(self.cfg.retry), ns(self.cfg.reachable));
        if let Some(e) = self.map.get_mut(&(port, ip)) {
            return match &mut e.state {
                State::Reachable {
                    mac,
                    learnt,
                    last_probe,
                } => {
                    let refresh = now.saturating_sub(*learnt) >= reachable
                        && now.saturating_sub(*last_probe) >= retry;
                    if refresh {
                        *last_probe = now;
                    }
                    Resolve::Mac {
                        mac: *mac,
                        refresh,
                        pkt,
                    }
                }
                State::Incomplete { .. } => {
                    if e.held.len() >= HOLD_PER_NEIGHBOUR {
                        Resolve::Full(pkt)
                    } else {
                        e.held.push(pkt);
                        Resolve::Held { probe: false }
                    }
                }
            };
        }
        if self.map.len() >= self.cfg.max_entries {
            return Resolve::Full(pkt);
        }
        let mut held = Vec::with_capacity(HOLD_PER_NEIGHBOUR);
        held.push(pkt);
        self.map.insert(
            (port, ip),
            Entry {
                state: State::Incomplete {
                    probes: 1,
                    next_probe: now + retry,
                },
                held,
            },
        );
        self.incomplete += 1;
        Resolve::Held { probe: true }
    }

    /// Records `ip` -> `mac` on `port`. Updates an existing entry; creates one only if `create`
    /// (the host asked for our address, so we will likely answer it). Held packets are passed
    /// to `release` in arrival order.
    pub fn learn(
        &mut self,
        port: u16,
        ip: IpAddr,
        mac: MacAddr,
        create: bool,
        now: u64,
        mut release: impl FnMut(P),
    ) {
        let state = State::Reachable {
            mac,
            learnt: now,
            last_probe: now,
        };
        let room = self.map.len() < self.cfg.max_entries;
        match self.map.get_mut(&(port, ip)) {
            Some(e) => {
                if matches!(e.state, State::Incomplete { .. }) {
                    self.incomplete -= 1;
                }
                e.state = state;
                for p in e.held.drain(..) {
                    release(p);
                }
            }
            None if create && room => {
                self.map.insert(
                    (port, ip),
                    Entry {
                        state,
                        held: Vec::new(),
                    },
                );
            }
            None => {}
        }
    }

    /// Runs the timers: calls `probe(port, ip)` for each request to repeat, and `fail(pkt)` for
    /// each held packet of a neighbour that did not answer. Cheap when nothing is unresolved.
    pub fn poll(&mut self, now: u64, mut probe: impl FnMut(u16, IpAddr), mut fail: impl FnMut(P)) {
        if self.incomplete == 0 {
            return;
        }
        let (retry, max) = (ns(self.cfg.retry), self.cfg.probes);
        let mut gone = 0;
        self.map.retain(|&(port, ip), e| {
            let State::Incomplete { probes, next_probe } = &mut e.state else {
                return true;
            };
            if now < *next_probe {
                return true;
            }
            if *probes < max {
                *probes += 1;
                *next_probe = now + retry;
                probe(port, ip);
                return true;
            }
            for p in e.held.drain(..) {
                fail(p);
            }
            gone += 1;
            false
        });
        self.incomplete -= gone;
    }

    /// Number of neighbours being resolved.
    pub fn incomplete(&self) -> usize {
        self.incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hold_then_release_in_order_on_learn() {
        let mut t = NeighTable::<u32>::new(NeighConfig::default());
        assert!(matches!(
            t.resolve(1, ip("10.0.2.2"), 1, 0),
            Resolve::Held { probe: true }
        ));
        for p in 2..=HOLD_PER_NEIGHBOUR as u32 {
            assert!(matches!(
                t.resolve(1, ip("10.0.2.2"), p, 1),
                Resolve::Held { probe: false }
            ));
        }
        assert!(matches!(
            t.resolve(1, ip("10.0.2.2"), 99, 2),
            Resolve::Full(99)
        ));
        let mut out = Vec::new();
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        t.learn(1, ip("10.0.2.2"), mac, false, 3, |p| out.push(p));
        assert_eq!(out, (1..=HOLD_PER_NEIGHBOUR as u32).collect::<Vec<_>>());
        assert!(
            matches!(t.resolve(1, ip("10.0.2.2"), 7, 4), Resolve::Mac { mac: m, refresh: false, pkt: 7 } if m == mac)
        );
        assert_eq!(t.incomplete(), 0);
        // Same IP on another port is another neighbour.
        assert!(matches!(
            t.resolve(0, ip("10.0.2.2"), 8, 4),
            Resolve::Held { probe: true }
        ));
    }

    #[test]
    fn retries_then_failure_drops_held_packets() {
        let cfg = NeighConfig {
            retry: Duration::from_secs(1),
            probes: 3,
            ..NeighConfig::default()
        };
        let mut t = NeighTable::<u32>::new(cfg);
        let _ = t.resolve(0, ip("2001:db8::2"), 1, 0);
        let _ = t.resolve(0, ip("2001:db8::2"), 2, 0);
        let (mut probes, mut failed) = (0, Vec::new());
        t.poll(S / 2, |_, _| probes += 1, |p| failed.push(p));
        assert_eq!((probes, failed.len()), (0, 0));
        t.poll(
            S,
            |_, a| {
                assert_eq!(a, ip("2001:db8::2"));
                probes += 1
            },
            |p| failed.push(p),
        );
        t.poll(2 * S, |_, _| probes += 1, |p| failed.push(p));
        assert_eq!((probes, failed.len()), (2, 0)); // 1 initial + 2 retries = 3 probes
        t.poll(3 * S, |_, _| probes += 1, |p| failed.push(p));
        assert_eq!((probes, failed), (2, vec![1, 2]));
        assert!(t.is_empty());
        assert_eq!(t.incomplete(), 0);
        // A later packet starts over.
        assert!(matches!(
            t.resolve(0, ip("2001:db8::2"), 3, 4 * S),
            Resolve::Held { probe: true }
        ));
    }

    #[test]
    fn stale_entries_refresh_at_most_once_per_retry() {
        let cfg = NeighConfig {
            reachable: Duration::from_secs(10),
            ..NeighConfig::default()
        };
        let mut t = NeighTable::<u32>::new(cfg);
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        t.learn(0, ip("10.0.0.1"), mac, true, 0, |_| unreachable!());
        assert!(matches!(
            t.resolve(0, ip("10.0.0.1"), 1, 9 * S),
            Resolve::Mac { refresh: false, .. }
        ));
        assert!(matches!(
            t.resolve(0, ip("10.0.0.1"), 1, 10 * S),
            Resolve::Mac { refresh: true, .. }
        ));
        assert!(matches!(
            t.resolve(0, ip("10.0.0.1"), 1, 10 * S + 1),
            Resolve::Mac { refresh: false, .. }
        ));
        assert!(matches!(
            t.resolve(0, ip("10.0.0.1"), 1, 11 * S),
            Resolve::Mac { refresh: true, .. }
        ));
        t.learn(0, ip("10.0.0.1"), mac, false, 12 * S, |_| unreachable!());
        assert!(matches!(
            t.resolve(0, ip("10.0.0.1"), 1, 13 * S),
            Resolve::Mac { refresh: false, .. }
        ));
    }

    #[test]
    fn unsolicited_learning_does_not_create_entries_and_table_is_bounded() {
        let cfg = NeighConfig {
            max_entries: 2,
            ..NeighConfig::default()
        };
        let mut t = NeighTable::<u32>::new(cfg);
        t.learn(0, ip("10.0.0.1"), MacAddr([2; 6]), false, 0, |_| {});
        assert!(t.is_empty());
        let _ = t.resolve(0, ip("10.0.0.2"), 1, 0);
        let _ = t.resolve(0, ip("10.0.0.3"), 2, 0);
        assert!(matches!(
            t.resolve(0, ip("10.0.0.4"), 3, 0),
            Resolve::Full(3)
        ));
        assert_eq!(t.len(), 2);
    }
}
