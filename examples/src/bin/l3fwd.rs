//! l3fwd: IPv4/IPv6 forwarding with LPM, exact-match or ACL lookups (DPDK's l3fwd on
//! Ferroplane), and a router mode that stands between real hosts.
//!
//! ```text
//! l3fwd -l 0-1 --port af_packet:iface=veth0 --port af_packet:iface=veth1 --lookup lpm
//! l3fwd -l 0-1 --port ... --port ... --router --addr 0,10.0.1.1/24 --addr 1,10.0.2.1/24
//! ```

use std::process::ExitCode;

use clap::Parser;
use ferroplane_examples::l3fwd::{app, cli::Cli};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match app::run(&cli) {
        Ok(s) => {
            for (lcore, counters) in &s.router {
                let line: Vec<String> = counters
                    .iter()
                    .filter(|(_, v)| *v > 0)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!("lcore {lcore} router: {}", line.join(" "));
            }
            if s.report.pool_in_use != 0 {
                eprintln!(
                    "l3fwd: {} mbufs not returned to the pool",
                    s.report.pool_in_use
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("l3fwd: {e}");
            ExitCode::FAILURE
        }
    }
}
