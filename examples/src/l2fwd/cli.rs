//! The l2fwd command line: the engine's options plus DPDK l2fwd's.

use clap::Parser;
use ferroplane::EngineArgs;

pub use crate::l3fwd::cli::parse_portmask;

/// l2fwd: forwards between port pairs with MAC rewriting.
#[derive(Debug, Parser)]
#[command(name = "l2fwd", version)]
pub struct Cli {
    /// Engine options (`-l`, `--port DEVSTR` repeated, `--config`, ...).
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Hex mask of the ports to forward between (default: all).
    #[arg(short = 'p', long = "portmask", value_name = "MASK", value_parser = parse_portmask)]
    pub portmask: Option<u64>,
    /// Ports (RX queues) per lcore, when --config is not given.
    #[arg(short = 'q', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=128))]
    pub queues_per_lcore: u16,
    /// Seconds between statistics prints (0: off; default 10 as DPDK).
    #[arg(short = 'T', value_name = "SECONDS")]
    pub timer_period: Option<u64>,
    /// Do not rewrite MAC addresses.
    #[arg(long)]
    pub no_mac_updating: bool,
    /// Rewrite MAC addresses (the default).
    #[arg(long, conflicts_with = "no_mac_updating")]
    pub mac_updating: bool,
    /// Stop after this many seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub duration: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpdk_options() {
        let c = Cli::try_parse_from([
            "l2fwd",
            "-l",
            "0-1",
            "--port",
            "null:",
            "--port",
            "null:",
            "-p",
            "3",
            "-q",
            "2",
            "-T",
            "0",
            "--no-mac-updating",
        ])
        .unwrap();
        assert_eq!(
            (
                c.portmask,
                c.queues_per_lcore,
                c.timer_period,
                c.no_mac_updating
            ),
            (Some(3), 2, Some(0), true)
        );
        assert!(Cli::try_parse_from(["l2fwd", "-q", "0"]).is_err());
        assert!(Cli::try_parse_from(["l2fwd", "-p", "xyz"]).is_err());
    }
}
