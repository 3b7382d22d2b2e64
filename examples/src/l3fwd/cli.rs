//! The l3fwd command line: the engine's options (`-l`, `--port`, `--config`, ...) plus DPDK
//! l3fwd's (`-p`, `--lookup`, `--eth-dest`, route and rule files) and router mode's.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use ferroplane::EngineArgs;
use ferroplane_net::MacAddr;

use super::lookup::LookupMode;

/// l3fwd: IPv4/IPv6 forwarding (LPM, exact match or ACL), optionally as a router between hosts.
#[derive(Debug, Parser)]
#[command(name = "l3fwd", version)]
pub struct Cli {
    /// Engine options.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Hex mask of the ports to use (DPDK's -p); must cover every --port given.
    #[arg(short = 'p', long = "portmask", value_name = "MASK", value_parser = parse_portmask)]
    pub portmask: Option<u64>,
    /// Lookup method.
    #[arg(long, value_enum, default_value = "lpm")]
    pub lookup: LookupMode,
    /// Static next-hop MAC of a port, "PORT,MAC" (repeat); default 02:00:00:00:00:PORT.
    #[arg(long = "eth-dest", value_name = "PORT,MAC", value_parser = parse_eth_dest)]
    pub eth_dest: Vec<(u16, MacAddr)>,
    /// LPM route file (see the routes module for the format); default: DPDK's built-in routes.
    #[arg(long, value_name = "PATH")]
    pub route_file: Option<PathBuf>,
    /// Exact-match (--lookup em) or ACL (--lookup acl) rule file; default: DPDK's built-in flows
    /// (em) or rules made from the routes (acl).
    #[arg(long, value_name = "PATH")]
    pub rule_file: Option<PathBuf>,
    /// Router mode: answer ARP/ND and ICMP echo for --addr, resolve next hops, send ICMP errors.
    #[arg(long)]
    pub router: bool,
    /// A port address for router mode, "PORT,IP/PREFIX" (IPv4 or IPv6; repeat).
    #[arg(long = "addr", value_name = "PORT,IP/LEN", value_parser = parse_addr)]
    pub addrs: Vec<(u16, IpAddr, u8)>,
    /// ICMP errors per second per lcore (router mode).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub icmp_rate: u64,
    /// Milliseconds between ARP/ND retries (3 tries).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub neigh_retry_ms: u64,
    /// Stop after this many seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub duration: u64,
}

/// Parses a hex port mask (`0x3` or `3`).
pub fn parse_portmask(s: &str) -> Result<u64, String> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    match u64::from_str_radix(h, 16) {
        Ok(0) => Err(format!("invalid portmask '{s}': no port enabled")),
        Ok(m) => Ok(m),
        Err(_) => Err(format!(
            "invalid portmask '{s}': expected a hex number like 0x3"
        )),
    }
}

/// Parses `PORT,MAC`.
pub fn parse_eth_dest(s: &str) -> Result<(u16, MacAddr), String> {
    let (p, m) = s
        .split_once(',')
        .ok_or_else(|| format!("invalid --eth-dest '{s}': expected PORT,MAC"))?;
    let port = p
        .trim()
        .parse()
        .map_err(|_| format!("invalid --eth-dest '{s}': bad port '{p}'"))?;
    let mac = m
        .trim()
        .parse()
        .map_err(|_| format!("invalid --eth-dest '{s}': bad MAC '{m}'"))?;
    Ok((port, mac))
}

/// Parses `PORT,IP/LEN`.
pub fn parse_addr(s: &str) -> Result<(u16, IpAddr, u8), String> {
    let bad = |why: &str| format!("invalid --addr '{s}': {why} (expected PORT,IP/LEN)");
    let (p, a) = s.split_once(',').ok_or_else(|| bad("no comma"))?;
    let port = p.trim().parse().map_err(|_| bad("bad port"))?;
    let (ip, len) = a
        .trim()
        .split_once('/')
        .ok_or_else(|| bad("no prefix length"))?;
    let ip: IpAddr = ip.parse().map_err(|_| bad("bad address"))?;
    let len: u8 = len.parse().map_err(|_| bad("bad prefix length"))?;
    if len > if ip.is_ipv4() { 32 } else { 128 } {
        return Err(bad("prefix length too long"));
    }
    Ok((port, ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_parsers() {
        assert_eq!(parse_portmask("0x3"), Ok(3));
        assert_eq!(parse_portmask("f"), Ok(15));
        assert!(parse_portmask("0").unwrap_err().contains("'0'"));
        assert!(parse_portmask("zz").unwrap_err().contains("'zz'"));
        assert_eq!(
            parse_eth_dest("1,02:00:00:00:00:09"),
            Ok((1, MacAddr([2, 0, 0, 0, 0, 9])))
        );
        assert!(parse_eth_dest("1,nomac").unwrap_err().contains("nomac"));
        assert_eq!(
            parse_addr("0,10.0.1.1/24"),
            Ok((0, "10.0.1.1".parse().unwrap(), 24))
        );
        assert_eq!(
            parse_addr("1,2001:db8:2::1/64"),
            Ok((1, "2001:db8:2::1".parse().unwrap(), 64))
        );
        assert!(parse_addr("0,10.0.1.1/33").is_err());
        assert!(parse_addr("0,10.0.1.1").is_err());
    }

    #[test]
    fn full_command_line() {
        let c = Cli::try_parse_from([
            "l3fwd",
            "-l",
            "0-1",
            "--port",
            "null:",
            "--port",
            "null:",
            "-p",
            "0x3",
            "--lookup",
            "em",
            "--config",
            "(0,0,1),(1,0,1)",
            "--eth-dest",
            "0,02:00:00:00:00:aa",
            "--router",
            "--addr",
            "0,10.0.1.1/24",
        ])
        .unwrap();
        assert_eq!(c.lookup, LookupMode::Em);
        assert_eq!(c.portmask, Some(3));
        assert_eq!(c.engine.ports.len(), 2);
        assert!(c.router);
        assert!(Cli::try_parse_from(["l3fwd", "--lookup", "hash"]).is_err());
    }
}
