//! l2fwd: forwards frames between port pairs, rewriting MACs (DPDK's l2fwd on Ferroplane).
//!
//! ```text
//! l2fwd -l 0-1 --port af_packet:iface=veth0 --port af_packet:iface=veth1 [-p 0x3] [-q 1] [-T 10] [--no-mac-updating]
//! ```

use std::process::ExitCode;

use clap::Parser;
use ferroplane_examples::l2fwd::{app, cli::Cli};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match app::run(&cli) {
        Ok(report) => {
            if report.pool_in_use != 0 {
                eprintln!(
                    "l2fwd: {} mbufs not returned to the pool",
                    report.pool_in_use
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("l2fwd: {e}");
            ExitCode::FAILURE
        }
    }
}
