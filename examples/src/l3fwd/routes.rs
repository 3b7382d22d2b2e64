//! Routes and rules: the text formats of `--route-file` and `--rule-file`, and DPDK l3fwd's
//! built-in tables.
//!
//! # Route file (`--route-file`, LPM)
//! One route per line; `#` starts a comment; blank lines are ignored.
//! ```text
//! 198.18.5.0/24 3               # IPv4 prefix -> port 3
//! ipv6 2001:db8::/32 1          # IPv6 prefix -> port 1 (the "ipv6" keyword is optional)
//! 10.9.0.0/16 1 via 10.0.2.2    # router mode: next hop 10.0.2.2 (resolved by ARP/ND)
//! R198.18.0.0/24 0              # DPDK's lpm_default_v4.cfg lines are accepted as they are
//! ```
//! Without `via`, the destination itself is the next hop (a connected network).
//!
//! # Exact-match rule file (`--rule-file` with `--lookup em`)
//! ```text
//! 198.18.0.1 198.18.1.1 1024 80 6 1      # SRC DST SPORT DPORT PROTO PORT
//! R198.18.0.0 198.18.0.1 9 9 0x11 0       # DPDK order (em_default_v4.cfg): DST SRC DPORT SPORT PROTO PORT
//! ```
//! Addresses may be IPv6 (both of one family). PROTO is decimal or `0x` hex.
//!
//! # ACL rule file (`--rule-file` with `--lookup acl`)
//! DPDK l3fwd's format: `@` lines drop, `R` lines forward to the trailing port. The first
//! matching line wins.
//! ```text
//! @0.0.0.0/0 198.18.3.0/24 0 : 65535 0 : 65535 0x11/0xff
//! R0.0.0.0/0 198.18.0.0/16 0 : 65535 0 : 65535 0x00/0x00 1
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Output port.
    pub port: u16,
    /// Gateway; `None` means the destination is on the port's link.
    pub via: Option<IpAddr>,
}

/// An LPM route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Prefix address (host bits are ignored).
    pub prefix: IpAddr,
    /// Prefix length.
    pub len: u8,
    /// Next hop.
    pub next_hop: NextHop,
}

/// An exact-match flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// Output port.
    pub port: u16,
}

/// What an ACL rule does with matching packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclAction {
    /// Forward out of this port.
    Forward(u16),
    /// Drop.
    Drop,
}

/// An ACL rule line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclLine {
    /// Source prefix.
    pub src: (IpAddr, u8),
    /// Destination prefix.
    pub dst: (IpAddr, u8),
    /// Source port range (inclusive).
    pub sport: (u16, u16),
    /// Destination port range (inclusive).
    pub dport: (u16, u16),
    /// Protocol and mask.
    pub proto: (u8, u8),
    /// Action.
    pub action: AclAction,
}

/// A line of a route or rule file that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {reason}: '{text}'")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// The line.
    pub text: String,
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("").trim();
        (!l.is_empty()).then_some((i + 1, l))
    })
}

fn err(line: usize, text: &str, reason: impl Into<String>) -> ParseError {
    ParseError {
        line,
        reason: reason.into(),
        text: text.to_string(),
    }
}

/// Parses `ADDR/LEN`.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not ADDR/LEN"))?;
    let addr: IpAddr = a.parse().map_err(|_| format!("bad address '{a}'"))?;
    let len: u8 = l.parse().map_err(|_| format!("bad prefix length '{l}'"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(format!("prefix length {len} exceeds {max}"));
    }
    Ok((addr, len))
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse().map_err(|_| format!("bad port number '{s}'"))
}

fn parse_u8(s: &str) -> Result<u8, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u8::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("bad number '{s}'"))
}

fn parse_u16(s: &str) -> Result<u16, String> {
    s.parse().map_err(|_| format!("bad number '{s}'"))
}

/// Parses one route (`PREFIX PORT [via GW]`, optionally after `ipv6`/`ipv4` or DPDK's `R`).
pub fn parse_route(line: &str) -> Result<Route, String> {
    let l = line.strip_prefix('R').unwrap_or(line);
    let mut f: Vec<&str> = l.split_whitespace().collect();
    if matches!(f.first(), Some(&"ipv6") | Some(&"ipv4")) {
        f.remove(0);
    }
    let (prefix, port, via) = match f.as_slice() {
        [p, port] => (p, port, None),
        [p, port, "via", gw] => (p, port, Some(gw)),
        _ => return Err("expected 'PREFIX/LEN PORT [via GATEWAY]'".into()),
    };
    let (prefix, len) = parse_prefix(prefix)?;
    let port = parse_port(port)?;
    let via = match via {
        Some(g) => {
            let g: IpAddr = g.parse().map_err(|_| format!("bad gateway '{g}'"))?;
            if g.is_ipv4() != prefix.is_ipv4() {
                return Err(format!("gateway {g} is not of the prefix's family"));
            }
            Some(g)
        }
        None => None,
    };
    Ok(Route {
        prefix,
        len,
        next_hop: NextHop { port, via },
    })
}

/// Parses a route file.
pub fn parse_routes(text: &str) -> Result<Vec<Route>, ParseError> {
    lines(text)
        .map(|(n, l)| parse_route(l).map_err(|r| err(n, l, r)))
        .collect()
}

/// Parses an exact-match rule file.
pub fn parse_flows(text: &str) -> Result<Vec<Flow>, ParseError> {
    lines(text)
        .map(|(n, l)| {
            let (dpdk, body) = match l.strip_prefix('R') {
                Some(b) => (true, b),
                None => (false, l),
            };
            let f: Vec<&str> = body.split_whitespace().collect();
            if f.len() != 6 {
                return Err(err(
                    n,
                    l,
                    "expected 6 fields: SRC DST SPORT DPORT PROTO PORT",
                ));
            }
            let e = |r: String| err(n, l, r);
            let a: IpAddr = f[0]
                .parse()
                .map_err(|_| e(format!("bad address '{}'", f[0])))?;
            let b: IpAddr = f[1]
                .parse()
                .map_err(|_| e(format!("bad address '{}'", f[1])))?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(e("addresses of different families".into()));
            }
            let p0 = parse_u16(f[2]).map_err(e)?;
            let p1 = parse_u16(f[3]).map_err(e)?;
            let proto = parse_u8(f[4]).map_err(e)?;
            let port = parse_port(f[5]).map_err(e)?;
            Ok(if dpdk {
                Flow {
                    src: b,
                    dst: a,
                    sport: p1,
                    dport: p0,
                    proto,
                    port,
                }
            } else {
                Flow {
                    src: a,
                    dst: b,
                    sport: p0,
                    dport: p1,
                    proto,
                    port,
                }
            })
        })
        .collect()
}

fn parse_range(lo: &str, colon: &str, hi: &str) -> Result<(u16, u16), String> {
    if colon != ":" {
        return Err("expected 'LO : HI' port range".into());
    }
    let (lo, hi) = (parse_u16(lo)?, parse_u16(hi)?);
    if lo > hi {
        return Err(format!("empty port range {lo} : {hi}"));
    }
    Ok((lo, hi))
}

/// Parses an ACL rule file (DPDK l3fwd's `@`/`R` format).
pub fn parse_acl(text: &str) -> Result<Vec<AclLine>, ParseError> {
    lines(text)
        .map(|(n, l)| {
            let e = |r: String| err(n, l, r);
            let (route, body) = if let Some(b) = l.strip_prefix('R') {
                (true, b)
            } else if let Some(b) = l.strip_prefix('@') {
                (false, b)
            } else {
                return Err(e("an ACL line starts with '@' (drop) or 'R' (route)".into()));
            };
            let f: Vec<&str> = body.split_whitespace().collect();
            if f.len() != 9 + route as usize {
                return Err(e(format!("expected {} fields", 9 + route as usize)));
            }
            let src = parse_prefix(f[0]).map_err(e)?;
            let dst = parse_prefix(f[1]).map_err(e)?;
            if src.0.is_ipv4() != dst.0.is_ipv4() {
                return Err(e("prefixes of different families".into()));
            }
            let sport = parse_range(f[2], f[3], f[4]).map_err(e)?;
            let dport = parse_range(f[5], f[6], f[7]).map_err(e)?;
            let (p, m) = f[8]
                .split_once('/')
                .ok_or_else(|| e("protocol is not VALUE/MASK".into()))?;
            let proto = (parse_u8(p).map_err(e)?, parse_u8(m).map_err(e)?);
            let action = if route {
                AclAction::Forward(parse_port(f[9]).map_err(e)?)
            } else {
                AclAction::Drop
            };
            Ok(AclLine {
                src,
                dst,
                sport,
                dport,
                proto,
                action,
            })
        })
        .collect()
}

/// DPDK l3fwd's built-in LPM routes: 198.18.P.0/24 -> port P and 2001:200:0:P::/64 -> port P,
/// for P in 0..16 (RFC 2544 / RFC 5180 benchmarking ranges).
pub fn default_routes() -> Vec<Route> {
    let mut v = Vec::with_capacity(32);
    for p in 0..16u16 {
        v.push(Route {
            prefix: IpAddr::V4(Ipv4Addr::new(198, 18, p as u8, 0)),
            len: 24,
            next_hop: NextHop { port: p, via: None },
        });
    }
    for p in 0..16u16 {
        v.push(Route {
            prefix: IpAddr::V6(Ipv6Addr::new(0x2001, 0x200, 0, p, 0, 0, 0, 0)),
            len: 64,
            next_hop: NextHop { port: p, via: None },
        });
    }
    v
}

/// DPDK l3fwd's built-in exact-match flows: UDP 198.18.P.1:9 -> 198.18.P.0:9 and
/// 2001:200:0:P::1 -> 2001:200:0:P:: (port 9) go to port P, for P in 0..16.
pub fn default_flows() -> Vec<Flow> {
    let mut v = Vec::with_capacity(32);
    for p in 0..16u16 {
        v.push(Flow {
            src: IpAddr::V4(Ipv4Addr::new(198, 18, p as u8, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(198, 18, p as u8, 0)),
            sport: 9,
            dport: 9,
            proto: 17,
            port: p,
        });
    }
    for p in 0..16u16 {
        v.push(Flow {
            src: IpAddr::V6(Ipv6Addr::new(0x2001, 0x200, 0, p, 0, 0, 0, 1)),
            dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0x200, 0, p, 0, 0, 0, 0)),
            sport: 9,
            dport: 9,
            proto: 17,
            port: p,
        });
    }
    v
}

/// ACL rules equivalent to a route list: forward by destination prefix, any source, port and
/// protocol (used with `--lookup acl` when no rule file is given). Longer prefixes come first so
/// that first-match equals longest-prefix match.
pub fn acl_from_routes(routes: &[Route]) -> Vec<AclLine> {
    let mut r: Vec<&Route> = routes.iter().collect();
    r.sort_by_key(|rt| std::cmp::Reverse(rt.len));
    r.into_iter()
        .map(|rt| {
            let any = if rt.prefix.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            };
            AclLine {
                src: (any, 0),
                dst: (rt.prefix, rt.len),
                sport: (0, u16::MAX),
                dport: (0, u16::MAX),
                proto: (0, 0),
                action: AclAction::Forward(rt.next_hop.port),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_file_formats() {
        let text = "# routes\n198.18.5.0/24 3\nipv6 2001:db8::/32 1  # v6\n\n10.9.0.0/16 1 via 10.0.2.2\nR198.18.0.0/24 0\n";
        let r = parse_routes(text).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            r[0],
            Route {
                prefix: "198.18.5.0".parse().unwrap(),
                len: 24,
                next_hop: NextHop { port: 3, via: None }
            }
        );
        assert_eq!(
            (r[1].prefix, r[1].len, r[1].next_hop.port),
            ("2001:db8::".parse().unwrap(), 32, 1)
        );
        assert_eq!(r[2].next_hop.via, Some("10.0.2.2".parse().unwrap()));
        assert_eq!(r[3].next_hop.port, 0);
    }

    #[test]
    fn route_errors_name_line_and_value() {
        let e = parse_routes("198.18.0.0/24 0\n198.18.1.0/33 1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("33"), "{e}");
        let e = parse_routes("10.0.0.0/8 x\n").unwrap_err();
        assert!(e.reason.contains("'x'"), "{e}");
        assert!(parse_routes("10.0.0.0/8 1 via 2001:db8::1\n").is_err());
        assert!(parse_routes("10.0.0.0 1\n").is_err());
    }

    #[test]
    fn flow_file_plain_and_dpdk_order() {
        let f =
            parse_flows("198.18.0.1 198.18.1.1 1024 80 6 1\nR198.18.0.0 198.18.0.1 9 10 0x11 0\n")
                .unwrap();
        assert_eq!(
            f[0],
            Flow {
                src: "198.18.0.1".parse().unwrap(),
                dst: "198.18.1.1".parse().unwrap(),
                sport: 1024,
                dport: 80,
                proto: 6,
                port: 1
            }
        );
        assert_eq!(
            f[1],
            Flow {
                src: "198.18.0.1".parse().unwrap(),
                dst: "198.18.0.0".parse().unwrap(),
                sport: 10,
                dport: 9,
                proto: 17,
                port: 0
            }
        );
        assert!(parse_flows("198.18.0.1 2001:db8::1 1 2 6 1\n").is_err());
        assert!(parse_flows("198.18.0.1 198.18.0.2 1 2 6\n").is_err());
    }

    #[test]
    fn dpdk_default_files_parse_to_the_built_in_tables() {
        let dir = "/usr/share/dpdk/examples/l3fwd";
        let (Ok(v4), Ok(v6), Ok(em4), Ok(em6)) = (
            std::fs::read_to_string(format!("{dir}/lpm_default_v4.cfg")),
            std::fs::read_to_string(format!("{dir}/lpm_default_v6.cfg")),
            std::fs::read_to_string(format!("{dir}/em_default_v4.cfg")),
            std::fs::read_to_string(format!("{dir}/em_default_v6.cfg")),
        ) else {
            println!(
                "SKIP dpdk_default_files_parse_to_the_built_in_tables: DPDK examples not installed"
            );
            return;
        };
        let mut routes = parse_routes(&v4).unwrap();
        routes.extend(parse_routes(&v6).unwrap());
        assert_eq!(routes, default_routes());
        let mut flows = parse_flows(&em4).unwrap();
        flows.extend(parse_flows(&em6).unwrap());
        assert_eq!(flows, default_flows());
    }

    #[test]
    fn acl_file() {
        let a = parse_acl("@0.0.0.0/0 198.18.3.0/24 0 : 65535 0 : 65535 0x11/0xff\nR0.0.0.0/0 198.18.0.0/16 0 : 65535 10 : 20 0x00/0x00 1\n").unwrap();
        assert_eq!(a[0].action, AclAction::Drop);
        assert_eq!(a[0].proto, (17, 0xff));
        assert_eq!(a[1].action, AclAction::Forward(1));
        assert_eq!(a[1].dport, (10, 20));
        assert!(parse_acl("R0.0.0.0/0 198.18.0.0/16 0 : 65535 20 : 10 0x00/0x00 1\n").is_err());
        assert!(parse_acl("0.0.0.0/0 198.18.0.0/16 0 : 65535 0 : 1 0x00/0x00\n").is_err());
    }
}
