//! l2fwd from a parsed command line.

use std::time::Duration;

use ferroplane::{Engine, EngineConfig, EngineError, QueueAssign, RunReport};
use ferroplane_net::MacAddr;

use super::cli::Cli;
use super::{L2fwdWorker, pair_ports};

/// Why l2fwd could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An option is inconsistent with the others.
    #[error("{0}")]
    Option(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The engine configuration l2fwd runs with: the engine's options, `-T` as the statistics
/// period, and `-q` spreading the enabled ports over the worker lcores when `--config` is absent.
pub fn engine_config(cli: &Cli) -> Result<EngineConfig, AppError> {
    let mut config = EngineConfig::from_args(&cli.engine).map_err(EngineError::from)?;
    config.stats_period = cli
        .timer_period
        .unwrap_or(if cli.engine.stats_period.is_some() {
            config.stats_period
        } else {
            10
        });
    let nb_ports = config.ports.len() as u16;
    let mask = cli.portmask.unwrap_or(u64::MAX);
    if let Some(m) = cli.portmask {
        let all = if nb_ports >= 64 {
            u64::MAX
        } else {
            (1u64 << nb_ports) - 1
        };
        if m & !all != 0 {
            return Err(AppError::Option(format!(
                "portmask {m:#x} enables ports beyond the {nb_ports} given"
            )));
        }
    }
    if config.queue_map.is_empty() && !config.lcores.is_empty() {
        let workers: Vec<u32> = if config.main_lcore_works {
            config.lcores.clone()
        } else {
            config.lcores.iter().skip(1).copied().collect()
        };
        if !workers.is_empty() {
            // Every port needs a polling lcore (the engine requires it); enabled ports go
            // -q at a time to each worker, disabled ones to the first worker.
            let mut k = 0usize;
            for port in 0..nb_ports {
                let enabled = port < 64 && mask & (1 << port) != 0;
                let lcore = if enabled {
                    let w = workers[(k / cli.queues_per_lcore as usize).min(workers.len() - 1)];
                    k += 1;
                    w
                } else {
                    workers[0]
                };
                config.queue_map.push(QueueAssign {
                    port,
                    queue: 0,
                    lcore,
                });
            }
        }
    }
    Ok(config)
}

/// Runs l2fwd until SIGINT/SIGTERM or `--duration`.
pub fn run(cli: &Cli) -> Result<RunReport, AppError> {
    let config = engine_config(cli)?;
    let nb_ports = config.ports.len() as u16;
    let mut engine = Engine::new(config)?;
    if cli.duration > 0 {
        engine.stop_after(Duration::from_secs(cli.duration));
    }
    let macs: Vec<MacAddr> = (0..nb_ports)
        .map(|p| MacAddr(engine.port_mac(p).map(|m| m.0).unwrap_or([0; 6])))
        .collect();
    let pairs = pair_ports(nb_ports, cli.portmask.unwrap_or(u64::MAX));
    for (p, d) in pairs.iter().enumerate() {
        match d {
            Some(d) => log::info!("port {p} ({}) -> port {d}", macs[p]),
            None => log::info!("port {p} disabled by the portmask"),
        }
    }
    let worker = L2fwdWorker::new(pairs, &macs, !cli.no_mac_updating);
    Ok(engine.run(|_| worker.clone())?)
}
