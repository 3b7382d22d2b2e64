//! io forwarding, the equivalent of `dpdk-testpmd --forward-mode=io`: every packet received on
//! port `2k` leaves on port `2k+1` and the other way round, untouched (with an odd number of
//! ports the last one sends back to itself).
//!
//! ```text
//! cargo run --release -p ferroplane --example io_fwd -- -l 0-1 --port null --port null --stats-period 1
//! ```
//!
//! Stops on SIGINT/SIGTERM (or after `--duration`), prints the final statistics (the last line
//! starts with `final:`) and exits 0; exits 1 with the error on bad arguments.

use std::time::Duration;

use clap::Parser;
use ferroplane::{BurstCtx, Engine, EngineArgs, MbufBurst, Worker};

#[derive(Parser)]
#[command(about = "io forwarding between port pairs (testpmd --forward-mode=io)")]
struct Cli {
    #[command(flatten)]
    engine: EngineArgs,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
}

struct IoFwd {
    nb_ports: u16,
}

impl Worker for IoFwd {
    fn prefetch(&self) -> bool {
        false
    }

    #[inline]
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        let p = ctx.rx_port();
        let peer = if p ^ 1 < self.nb_ports { p ^ 1 } else { p };
        ctx.tx_all(peer, burst);
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let mut engine = match Engine::from_args(&cli.engine) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("io_fwd: {e}");
            std::process::exit(1);
        }
    };
    if let Some(s) = cli.duration {
        engine.stop_after(Duration::from_secs_f64(s.max(0.0)));
    }
    let nb_ports = engine.nb_ports();
    match engine.run(|_| IoFwd { nb_ports }) {
        Ok(report) if report.pool_in_use == 0 => {}
        Ok(report) => {
            eprintln!("io_fwd: {} mbufs leaked", report.pool_in_use);
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("io_fwd: {e}");
            std::process::exit(1);
        }
    }
}
