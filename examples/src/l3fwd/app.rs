//! l3fwd from a parsed command line: validate, build the tables, start the engine, report.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferroplane::{Engine, EngineConfig, EngineError, PortSpec, RunReport};
use ferroplane_net::MacAddr;
use ferroplane_pmd::DevArgs;
use thiserror::Error;

use super::RouterCounters;
use super::cli::Cli;
use super::control::{COMMANDS, Control};
use super::lookup::{LookupError, LookupMode, Tables};
use super::neigh::NeighConfig;
use super::router::{ConfigCell, PortAddrs, Router, RouterConfig};
use super::routes::{self, ParseError};
use super::worker::L3fwdWorker;

/// Why l3fwd could not start.
#[derive(Debug, Error)]
pub enum AppError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A route or rule file is malformed.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        source: ParseError,
    },
    /// An option is inconsistent with the others.
    #[error("{0}")]
    Option(String),
    /// A table could not be built.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn read(path: &std::path::Path) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|e| AppError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Builds the lookup tables the command line asks for.
pub fn build_tables(cli: &Cli) -> Result<Tables, AppError> {
    let parse_err = |p: &std::path::Path| {
        let path = p.display().to_string();
        move |source| AppError::Parse { path, source }
    };
    let routes = match &cli.route_file {
        Some(p) => routes::parse_routes(&read(p)?).map_err(parse_err(p))?,
        None => routes::default_routes(),
    };
    Ok(match cli.lookup {
        LookupMode::Lpm => {
            if cli.rule_file.is_some() {
                return Err(AppError::Option(
                    "--rule-file is for --lookup em|acl; use --route-file with lpm".into(),
                ));
            }
            Tables::lpm(&routes)?
        }
        LookupMode::Em => {
            let flows = match &cli.rule_file {
                Some(p) => routes::parse_flows(&read(p)?).map_err(parse_err(p))?,
                None => routes::default_flows(),
            };
            Tables::em(&flows)?
        }
        LookupMode::Acl => {
            let lines = match &cli.rule_file {
                Some(p) => routes::parse_acl(&read(p)?).map_err(parse_err(p))?,
                None => routes::acl_from_routes(&routes),
            };
            Tables::acl(&lines)?
        }
    })
}

/// Checks the options that depend on the number of ports.
pub fn check_ports(cli: &Cli, nb_ports: u16) -> Result<(), AppError> {
    if let Some(mask) = cli.portmask {
        let all = if nb_ports >= 64 {
            u64::MAX
        } else {
            (1u64 << nb_ports) - 1
        };
        if mask != all {
            return Err(AppError::Option(format!(
                "portmask {mask:#x} does not match the {nb_ports} port(s) given (expected {all:#x}); list only the ports to use with --port"
            )));
        }
    }
    for (p, mac) in &cli.eth_dest {
        if *p >= nb_ports {
            return Err(AppError::Option(format!(
                "--eth-dest {p},{mac}: port {p} does not exist ({nb_ports} ports)"
            )));
        }
    }
    for (p, ip, len) in &cli.addrs {
        if !cli.router {
            return Err(AppError::Option(format!(
                "--addr {p},{ip}/{len} needs --router"
            )));
        }
        if *p >= nb_ports {
            return Err(AppError::Option(format!(
                "--addr {p},{ip}/{len}: port {p} does not exist ({nb_ports} ports)"
            )));
        }
    }
    Ok(())
}

/// Router mode answers ARP itself, so on AF_XDP ports ARP must reach the socket: our XDP
/// program hands it to the kernel unless the device string says `arp=xsk`. Adds `arp=xsk` to
/// every af_xdp port that does not name an `arp` policy; an explicit `arp=pass` in router mode
/// is an error (the router would never see ARP requests, and hosts could not resolve it).
/// Outside router mode the device strings are left as they are.
pub fn router_port_devstrs(ports: &mut [PortSpec], router: bool) -> Result<(), AppError> {
    if !router {
        return Ok(());
    }
    for (i, port) in ports.iter_mut().enumerate() {
        let Ok(args) = DevArgs::parse(&port.dev) else {
            // The engine reports the malformed string with its own error when it opens the port.
            continue;
        };
        if args.driver() != "af_xdp" {
            continue;
        }
        match args.get("arp") {
            None => {
                let sep = if args.pairs().is_empty() { ':' } else { ',' };
                port.dev = format!("{}{sep}arp=xsk", port.dev.trim_end());
            }
            Some("xsk") => {}
            Some(v) => {
                return Err(AppError::Option(format!(
                    "port {i} '{}': --router needs ARP on the AF_XDP socket, but arp={v} gives it to the kernel; drop arp={v} (l3fwd then sets arp=xsk) or run without --router",
                    port.dev
                )));
            }
        }
    }
    Ok(())
}

/// The router configuration for ports with these MACs.
pub fn router_config(cli: &Cli, macs: &[MacAddr]) -> RouterConfig {
    let mut ports: Vec<PortAddrs> = macs
        .iter()
        .map(|m| PortAddrs {
            mac: *m,
            v4: Vec::new(),
            v6: Vec::new(),
        })
        .collect();
    for (p, ip, len) in &cli.addrs {
        if let Some(port) = ports.get_mut(*p as usize) {
            match ip {
                IpAddr::V4(a) => port.v4.push((*a, *len)),
                IpAddr::V6(a) => port.v6.push((*a, *len)),
            }
        }
    }
    let mut eth_dest: Vec<MacAddr> = (0..macs.len())
        .map(|p| MacAddr([2, 0, 0, 0, 0, p as u8]))
        .collect();
    for (p, mac) in &cli.eth_dest {
        if let Some(d) = eth_dest.get_mut(*p as usize) {
            *d = *mac;
        }
    }
    RouterConfig {
        ports,
        router: cli.router,
        eth_dest,
        miss_to_rx_port: cli.lookup != LookupMode::Acl,
        neigh: NeighConfig {
            retry: Duration::from_millis(cli.neigh_retry_ms.max(1)),
            ..NeighConfig::default()
        },
        icmp_rate: cli.icmp_rate,
        icmp_burst: cli.icmp_rate.clamp(1, 50),
    }
}

/// Each worker lcore's router counters, filled in as the engine builds the workers.
type SharedCounters = Arc<Mutex<Vec<(u32, Arc<RouterCounters>)>>>;

/// The result of a run: the engine's report and each lcore's router counters.
#[derive(Debug)]
pub struct Summary {
    /// The engine's report.
    pub report: RunReport,
    /// Router counters per worker lcore.
    pub router: Vec<(u32, Vec<(&'static str, u64)>)>,
}

/// Runs l3fwd until SIGINT/SIGTERM or `--duration`.
pub fn run(cli: &Cli) -> Result<Summary, AppError> {
    let mut config = EngineConfig::from_args(&cli.engine).map_err(EngineError::from)?;
    check_ports(cli, config.ports.len() as u16)?;
    router_port_devstrs(&mut config.ports, cli.router)?;
    let tables = build_tables(cli)?;
    let mut engine = Engine::new(config)?;
    if cli.duration > 0 {
        engine.stop_after(Duration::from_secs(cli.duration));
    }
    let macs: Vec<MacAddr> = (0..engine.nb_ports())
        .map(|p| MacAddr(engine.port_mac(p).map(|m| m.0).unwrap_or([0; 6])))
        .collect();
    let cell = Arc::new(ConfigCell::new(router_config(cli, &macs)));
    for (i, p) in cell.get().ports.iter().enumerate() {
        log::info!("port {i}: mac {} v4 {:?} v6 {:?}", p.mac, p.v4, p.v6);
    }
    let epoch = Arc::new(Instant::now());
    let pool = engine.pool().clone();
    let counters: SharedCounters = Arc::default();
    // Lookup handles are made before the run so an error stops l3fwd before any lcore starts.
    let nb_workers = engine.plan().workers.len();
    let mut handles = Vec::with_capacity(nb_workers);
    for _ in 0..nb_workers {
        handles.push(tables.handle()?);
    }
    let mut handles = handles.into_iter();
    // The tables' writer side moves to the control thread, where the commands run.
    let control = Arc::new(Mutex::new(Control::new(
        tables,
        cell.clone(),
        cli.route_file.clone(),
        engine.nb_ports(),
    )));
    for name in COMMANDS {
        let c = control.clone();
        engine.telemetry_command(name, move |args| {
            c.lock().unwrap_or_else(|p| p.into_inner()).run(name, args)
        })?;
    }
    if cli.route_file.is_some() {
        let c = control.clone();
        engine.on_sighup(move || {
            if let Err(e) = c.lock().unwrap_or_else(|p| p.into_inner()).reload() {
                log::error!("SIGHUP: route reload failed: {e}");
            }
        });
    }
    let c2 = counters.clone();
    let report = engine.run(move |info| {
        let c = Arc::new(RouterCounters::default());
        if let Ok(mut v) = c2.lock() {
            v.push((info.lcore, c.clone()));
        }
        let lookup = handles.next().expect("one lookup handle per worker lcore");
        L3fwdWorker::new(
            Router::following(cell.clone(), lookup, c),
            pool.clone(),
            epoch.clone(),
        )
    })?;
    drop(control);
    let router = counters
        .lock()
        .map(|v| v.iter().map(|(l, c)| (*l, c.snapshot())).collect())
        .unwrap_or_default();
    Ok(Summary { report, router })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devs(list: &[&str], router: bool) -> Result<Vec<String>, AppError> {
        let mut ports: Vec<PortSpec> = list.iter().map(|d| PortSpec::new(*d)).collect();
        router_port_devstrs(&mut ports, router)?;
        Ok(ports.into_iter().map(|p| p.dev).collect())
    }

    #[test]
    fn router_mode_gives_arp_to_af_xdp_sockets() {
        let out = devs(
            &[
                "af_xdp:iface=veth0",
                "af_xdp:iface=veth1,queues=2",
                "af_xdp:iface=veth2,arp=xsk",
                "af_packet:iface=veth3",
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            out,
            [
                "af_xdp:iface=veth0,arp=xsk",
                "af_xdp:iface=veth1,queues=2,arp=xsk",
                "af_xdp:iface=veth2,arp=xsk",
                "af_packet:iface=veth3",
            ]
        );
        // The result still parses, with the key once.
        for d in &out {
            DevArgs::parse(d).unwrap();
        }
        // A bare driver name gains its first key with ':'.
        assert_eq!(devs(&["af_xdp"], true).unwrap(), ["af_xdp:arp=xsk"]);
    }

    #[test]
    fn explicit_arp_pass_in_router_mode_is_a_clear_error() {
        let err = devs(&["af_packet:iface=a", "af_xdp:iface=b,arp=pass"], true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("port 1") && msg.contains("arp=pass"), "{msg}");
    }

    #[test]
    fn without_router_mode_device_strings_are_untouched() {
        let list = ["af_xdp:iface=veth0", "af_xdp:iface=veth1,arp=pass"];
        assert_eq!(devs(&list, false).unwrap(), list);
    }
}
