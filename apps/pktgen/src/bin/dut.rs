//! `pktgen-dut`: a device under test with a known capacity, built on the engine. It forwards
//! port 0 <-> port 1 and drops whatever exceeds `--max-pps` (per worker lcore), metering frames
//! by pktgen's transmit timestamps; pktgen's RFC 2544 search must find that rate.
//!
//! ```text
//! pktgen-dut -l 0-1 --port af_packet:iface=dut0 --port af_packet:iface=dut1 --max-pps 20000
//! ```
//!
//! Runs until SIGINT/SIGTERM; exits non-zero if an mbuf was not returned to the pool.

use std::process::ExitCode;

use clap::Parser;
use ferroplane::{Engine, EngineArgs};
use ferroplane_pktgen::testkit::RateLimitedFwd;

#[derive(Parser)]
#[command(
    name = "pktgen-dut",
    about = "A forwarder that drops above a known rate (pktgen's test device)"
)]
struct Cli {
    #[command(flatten)]
    engine: EngineArgs,
    /// Frames per second each worker lcore forwards; the excess is dropped.
    #[arg(long)]
    max_pps: f64,
    /// Token bucket depth in milliseconds of --max-pps.
    #[arg(long, default_value_t = 20.0)]
    bucket_ms: f64,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    if !(cli.max_pps.is_finite() && cli.max_pps > 0.0) {
        eprintln!(
            "pktgen-dut: --max-pps {}: must be a positive number",
            cli.max_pps
        );
        return ExitCode::FAILURE;
    }
    if !(cli.bucket_ms.is_finite() && cli.bucket_ms >= 0.0) {
        eprintln!(
            "pktgen-dut: --bucket-ms {}: must be 0 or more",
            cli.bucket_ms
        );
        return ExitCode::FAILURE;
    }
    let engine = match Engine::from_args(&cli.engine) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("pktgen-dut: {e}");
            return ExitCode::FAILURE;
        }
    };
    let depth = cli.bucket_ms / 1e3;
    match engine.run(|_| RateLimitedFwd::new(cli.max_pps, depth)) {
        // The engine prints its summary (per-port counts, drops by reason) on the way out.
        Ok(report) => {
            if report.pool_in_use != 0 {
                eprintln!(
                    "pktgen-dut: {} mbufs not returned to the pool",
                    report.pool_in_use
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pktgen-dut: {e}");
            ExitCode::FAILURE
        }
    }
}
