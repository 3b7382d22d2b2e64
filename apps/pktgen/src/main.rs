//! `pktgen`: Ferroplane's traffic generator.
//!
//! ```text
//! pktgen run --tx af_packet:iface=veth0 --rx af_packet:iface=veth1 --rate 1Mpps --duration 10 --live
//! pktgen run --tx af_packet:iface=a0 --tx-netns nsA --rx af_packet:iface=b0 --rx-netns nsB ...
//! pktgen run --config gen.toml --json out.json --csv out.csv --plot latency
//! pktgen rfc2544 --tx ... --rx ... --sizes 64,512,1518 --trial 2 --loss 0
//! pktgen plot --out latency report.json        # latency CDF (rfc2544 JSON: throughput/size)
//! pktgen xdp --iface veth0 --count 10000000 [--duration 10] [--count-on veth1 --netns ns1]
//! pktgen-dut -l 0-1 --port af_packet:iface=d0 --port af_packet:iface=d1 --max-pps 20000
//! ```
//!
//! `--rx-idle yield|adaptive|busy` chooses what an idle receiver does (the engine's idle
//! policies; `yield`, the default, suits a machine whose cores are shared).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args, Parser, Subcommand};
use ferroplane::IdlePolicy;
use ferroplane::signal::{SecondSignal, StopOnSignal};
use ferroplane_pktgen::report::LiveView;
use ferroplane_pktgen::rfc2544::SearchConfig;
use ferroplane_pktgen::traffic::{FrameSizes, Proto};
use ferroplane_pktgen::xdp_tx::{SendLimit, StampSites, XdpCounter, XdpTx, block_stop_signals};
use ferroplane_pktgen::{PktgenError, Rate, Session, SessionConfig};

#[derive(Parser)]
#[command(name = "pktgen", about = "Ferroplane traffic generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Transmit and measure.
    Run(RunArgs),
    /// RFC 2544 throughput search (NDR/PDR) per frame size.
    Rfc2544 {
        #[command(flatten)]
        run: RunArgs,
        /// Trial length in seconds.
        #[arg(long, default_value_t = 2.0)]
        trial: f64,
        /// Acceptable loss in percent (0: NDR).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Highest rate to try, frames/s.
        #[arg(long, default_value_t = 14_880_952.0)]
        max_pps: f64,
        /// Frame sizes to search, one search each.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "64,128,256,512,1024,1280,1518"
        )]
        sizes: Vec<u16>,
    },
    /// Draw SVG and PNG plots from reports: run reports (JSON) give a latency CDF, rfc2544
    /// reports (JSON) throughput against frame size; TSV files of "label, ratio" give a ratio
    /// chart and of "series, frame size, frames/s" throughput lines (tab-separated).
    Plot {
        /// Output path without extension (STEM.svg and STEM.png are written).
        #[arg(long)]
        out: PathBuf,
        /// Chart title.
        #[arg(long)]
        title: Option<String>,
        /// Input files (all of one kind).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Kernel-speed TX into a Linux interface (BPF_PROG_RUN, XDP live frames).
    Xdp {
        /// Egress interface.
        #[arg(long)]
        iface: String,
        /// Frames to send (default 10000000, or no limit when --duration is given).
        #[arg(long)]
        count: Option<u64>,
        /// Seconds to send for (stops at --count or --duration, whichever comes first;
        /// SIGINT/SIGTERM also stop the run, which is reported).
        #[arg(long, value_parser = parse_duration_secs)]
        duration: Option<f64>,
        /// Frames per kernel batch (0: kernel default, 64).
        #[arg(long, default_value_t = 0)]
        batch: u32,
        /// Count (and drop) what arrives on this interface with an XDP program.
        #[arg(long)]
        count_on: Option<String>,
        /// Network namespace (name under /var/run/netns) of --count-on.
        #[arg(long)]
        netns: Option<String>,
        #[command(flatten)]
        traffic: TrafficArgs,
    },
}

#[derive(Args, Clone)]
struct TrafficArgs {
    /// Frame size(s) with FCS: 64, a list 64,512,1518, or imix.
    #[arg(long)]
    size: Option<FrameSizes>,
    /// Source MAC.
    #[arg(long)]
    src_mac: Option<String>,
    /// Destination MAC.
    #[arg(long)]
    dst_mac: Option<String>,
    /// 802.1Q VLAN id.
    #[arg(long)]
    vlan: Option<u16>,
    /// L4 protocol.
    #[arg(long, value_enum)]
    proto: Option<Proto>,
    /// Source addresses: A, A-B (stepping) or A~B (random).
    #[arg(long)]
    src_ip: Option<String>,
    /// Destination addresses.
    #[arg(long)]
    dst_ip: Option<String>,
    /// Source ports: P, P-Q or P~Q.
    #[arg(long)]
    src_port: Option<String>,
    /// Destination ports.
    #[arg(long)]
    dst_port: Option<String>,
    /// Replay this pcap file.
    #[arg(long)]
    pcap: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// TOML configuration (command-line options override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port to transmit on (device string; repeatable).
    #[arg(long)]
    tx: Vec<String>,
    /// Port to receive and measure on (repeatable).
    #[arg(long)]
    rx: Vec<String>,
    /// Network namespace (name or path) to open the TX ports in.
    #[arg(long)]
    tx_netns: Option<String>,
    /// Network namespace to open the RX ports in.
    #[arg(long)]
    rx_netns: Option<String>,
    /// TX queues per TX port.
    #[arg(long)]
    tx_queues: Option<u16>,
    /// RX queues per RX port.
    #[arg(long)]
    rx_queues: Option<u16>,
    /// Rate per TX port: max, N%, Npps, Nbps (k/M/G).
    #[arg(long)]
    rate: Option<Rate>,
    /// Line rate for N% (bit/s).
    #[arg(long)]
    line_rate: Option<f64>,
    /// Frames per TX port.
    #[arg(long)]
    count: Option<u64>,
    /// Seconds to transmit.
    #[arg(long)]
    duration: Option<f64>,
    /// CPUs to pin threads to.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// What an idle receiver does: yield (offer the CPU to other threads; the default),
    /// adaptive (pause, then sleep up to 0.5 ms) or busy (poll without pause).
    #[arg(long, value_enum)]
    rx_idle: Option<IdlePolicy>,
    /// Show the live view once a second.
    #[arg(long)]
    live: bool,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the CSV report here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Draw STEM.svg and STEM.png: the latency CDF (run) or throughput against frame size
    /// (rfc2544).
    #[arg(long, value_name = "STEM")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    traffic: TrafficArgs,
}

fn apply_traffic(t: &mut ferroplane_pktgen::TrafficConfig, a: &TrafficArgs) {
    if let Some(v) = &a.size {
        t.size = v.clone();
    }
    if let Some(v) = &a.src_mac {
        t.src_mac = v.clone();
    }
    if let Some(v) = &a.dst_mac {
        t.dst_mac = v.clone();
    }
    if a.vlan.is_some() {
        t.vlan = a.vlan;
    }
    if let Some(v) = a.proto {
        t.proto = v;
    }
    for (dst, src) in [
        (&mut t.src_ip, &a.src_ip),
        (&mut t.dst_ip, &a.dst_ip),
        (&mut t.src_port, &a.src_port),
        (&mut t.dst_port, &a.dst_port),
    ] {
        if let Some(v) = src {
            *dst = v.clone();
        }
    }
    if a.pcap.is_some() {
        t.pcap = a.pcap.clone();
    }
}

fn session_config(a: &RunArgs) -> Result<SessionConfig, PktgenError> {
    let mut c = match &a.config {
        Some(p) => SessionConfig::from_toml_file(p)?,
        None => SessionConfig::default(),
    };
    if !a.tx.is_empty() {
        c.tx = a.tx.clone();
    }
    if !a.rx.is_empty() {
        c.rx = a.rx.clone();
    }
    if a.tx_netns.is_some() {
        c.tx_netns = a.tx_netns.clone();
    }
    if a.rx_netns.is_some() {
        c.rx_netns = a.rx_netns.clone();
    }
    if let Some(v) = a.tx_queues {
        c.tx_queues = v;
    }
    if let Some(v) = a.rx_queues {
        c.rx_queues = v;
    }
    if let Some(v) = a.rate {
        c.rate = v;
    }
    if let Some(v) = a.line_rate {
        c.line_rate = v;
    }
    if a.count.is_some() {
        c.count = a.count;
    }
    if a.duration.is_some() {
        c.duration = a.duration;
    }
    if !a.cores.is_empty() {
        c.cores = a.cores.clone();
    }
    if let Some(p) = a.rx_idle {
        c.rx_idle = p;
    }
    apply_traffic(&mut c.traffic, &a.traffic);
    Ok(c)
}

/// The stop flag, set by the first SIGINT/SIGTERM (the engine's signal watcher). A second signal
/// does not exit: the run stops within a burst and must still detach XDP programs and close
/// AF_XDP ports. Without handlers (another owner in the process) the run is not stoppable by
/// signal, which is logged.
fn install_stop() -> (Arc<AtomicBool>, Option<StopOnSignal>) {
    let stop = Arc::new(AtomicBool::new(false));
    let watch = match StopOnSignal::install("pktgen", stop.clone(), SecondSignal::Ignore) {
        Ok(w) => Some(w),
        Err(e) => {
            log::warn!("no SIGINT/SIGTERM handling: {e}");
            None
        }
    };
    (stop, watch)
}

fn cmd_run(a: &RunArgs) -> Result<(), PktgenError> {
    let cfg = session_config(a)?;
    let (stop, _signals) = install_stop();
    let mut s = Session::new(cfg)?;
    let mut view = LiveView::default();
    let live = a.live;
    let report = s.run(&stop, |st, t| {
        if live {
            view.print(st, t);
        }
    })?;
    println!("{}", report.summary());
    // Where lost frames went, as far as the drivers know (e.g. a full af_packet RX ring).
    for (dev, st) in s.port_stats() {
        if st.rx_missed + st.rx_errors + st.tx_drops + st.tx_errors + st.alloc_failures > 0 {
            println!(
                "  driver {dev}: rx_missed {} rx_errors {} tx_drops {} tx_errors {} alloc_failures {}",
                st.rx_missed, st.rx_errors, st.tx_drops, st.tx_errors, st.alloc_failures
            );
        }
    }
    if let Some(p) = &a.json {
        report.write_json(p)?;
    }
    if let Some(p) = &a.csv {
        report.write_csv(p)?;
    }
    if let Some(p) = &a.plot {
        if report.latency_cdf.is_empty() {
            eprintln!("pktgen: no latency samples, no plot drawn");
        } else {
            let [svg, png] = ferroplane_pktgen::plot::latency_cdf(
                p,
                "latency CDF",
                &[("pktgen".into(), report.latency_cdf.clone())],
            )?;
            println!("plots: {} {}", svg.display(), png.display());
        }
    }
    // Every mbuf must be back in the pool once the queues and ports are closed.
    s.close()
}

fn cmd_rfc2544(
    a: &RunArgs,
    trial: f64,
    loss: f64,
    max_pps: f64,
    sizes: &[u16],
) -> Result<(), PktgenError> {
    let base = session_config(a)?;
    let (stop, _signals) = install_stop();
    let mut results = Vec::new();
    for &size in sizes {
        let mut cfg = base.clone();
        cfg.traffic.size = FrameSizes::Fixed(size);
        let mut s = Session::new(cfg)?;
        let search = SearchConfig {
            max_pps,
            loss_pct: loss,
            trial_secs: Some(trial),
            ..Default::default()
        };
        let res = s.search_throughput(&search, &stop)?;
        println!(
            "size {size}: throughput {:.0} frames/s ({:.3} Gbit/s L1) after {} trials",
            res.throughput_pps,
            res.throughput_pps * (size as f64 + 20.0) * 8.0 / 1e9,
            res.trials.len()
        );
        results.push((size, res));
    }
    if let Some(p) = &a.csv {
        let mut text = String::from("frame_size,throughput_pps,trials\n");
        for (size, r) in &results {
            text += &format!("{size},{:.1},{}\n", r.throughput_pps, r.trials.len());
        }
        std::fs::write(p, text)
            .map_err(|e| PktgenError::Config(format!("{}: {e}", p.display())))?;
    }
    if let Some(p) = &a.json {
        let v: Vec<_> = results
            .iter()
            .map(|(s, r)| serde_json::json!({"frame_size": s, "result": r}))
            .collect();
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(|e| PktgenError::Config(format!("{}: {e}", p.display())))?;
    }
    if let Some(p) = &a.plot {
        let pts = results
            .iter()
            .map(|(s, r)| (f64::from(*s), r.throughput_pps))
            .collect();
        let [svg, png] = ferroplane_pktgen::plot::throughput_vs_size(
            p,
            &format!("RFC 2544 throughput (loss <= {loss} %)"),
            &[ferroplane_pktgen::plot::Series {
                name: "pktgen".into(),
                points: pts,
            }],
        )?;
        println!("plots: {} {}", svg.display(), png.display());
    }
    Ok(())
}

/// A positive, finite number of seconds.
fn parse_duration_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!(
            "--duration {s:?}: expected a positive number of seconds"
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn cmd_xdp(
    iface: &str,
    count: Option<u64>,
    duration: Option<f64>,
    batch: u32,
    count_on: Option<&str>,
    netns: Option<&str>,
    t: &TrafficArgs,
) -> Result<(), PktgenError> {
    let mut tc = ferroplane_pktgen::TrafficConfig::default();
    apply_traffic(&mut tc, t);
    let traffic = tc.parse()?;
    let mut f = ferroplane_pktgen::factory::FrameFactory::new(&traffic, 1)?;
    let mut frame = vec![0u8; f.max_len()];
    let n = f.write(&mut frame, 0, 0, 0)?;
    frame.truncate(n);
    let (csum_off, udp) = f.l4_checksum().unwrap_or((0, false));
    let sites = StampSites {
        seq_off: (f.payload_offset() + 2) as u32,
        csum_off: csum_off as u32,
        udp,
        stream_base: 0,
    };
    let counter = match count_on {
        Some(i) => Some(XdpCounter::attach(
            i,
            netns.map(|n| format!("/var/run/netns/{n}")).as_deref(),
        )?),
        None => None,
    };
    let tx = XdpTx::load(iface, sites)?;
    let limit = SendLimit {
        count: count.unwrap_or(if duration.is_some() {
            u64::MAX
        } else {
            10_000_000
        }),
        duration: duration.map(std::time::Duration::from_secs_f64),
    };
    let (stop, _signals) = install_stop();
    // Send from a thread that blocks SIGINT/SIGTERM: the signal then goes to this thread,
    // whose handler sets `stop`, and the sender stops between two system calls with an exact
    // count instead of being interrupted in the middle of one.
    let report = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            if let Err(e) = block_stop_signals() {
                log::warn!("cannot block SIGINT/SIGTERM in the sender: {e}");
            }
            tx.send(&frame, limit, batch, &stop)
        });
        sender
            .join()
            .unwrap_or_else(|_| Err(PktgenError::Xdp("the sender thread panicked".into())))
    })?;
    let secs = report.took.as_secs_f64();
    println!(
        "xdp live-frames: {} frames of {} bytes in {secs:.3} s = {:.3} Mpps ({})",
        report.sent,
        n + 4,
        report.sent as f64 / secs / 1e6,
        report.reason.name()
    );
    if report.uncounted_max > 0 {
        println!(
            "  plus an unknown part of the interrupted call's {} frames",
            report.uncounted_max
        );
    }
    if let Some(c) = counter {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (p, _) = c.counts()?;
        println!("received on {}: {p} frames", count_on.unwrap_or_default());
    }
    Ok(())
}

fn read_json(p: &std::path::Path) -> Result<serde_json::Value, PktgenError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| PktgenError::Config(format!("{}: {e}", p.display())))?;
    serde_json::from_str(&text).map_err(|e| PktgenError::Config(format!("{}: {e}", p.display())))
}

fn file_label(p: &std::path::Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn bad(p: &std::path::Path, what: &str) -> PktgenError {
    PktgenError::Config(format!("{}: {what}", p.display()))
}

/// Reads tab-separated rows of 2 or 3 fields (lines starting with '#' and blank lines skipped).
fn read_tsv(p: &std::path::Path) -> Result<Vec<Vec<String>>, PktgenError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| PktgenError::Config(format!("{}: {e}", p.display())))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(|f| f.trim().to_string()).collect())
        .collect())
}

fn num(p: &std::path::Path, s: &str) -> Result<f64, PktgenError> {
    s.parse::<f64>()
        .map_err(|_| bad(p, &format!("{s:?} is not a number")))
}

fn cmd_plot(
    out: &std::path::Path,
    title: Option<&str>,
    inputs: &[PathBuf],
) -> Result<(), PktgenError> {
    use ferroplane_pktgen::plot::{self, Series};
    let is_tsv = |p: &PathBuf| p.extension().is_some_and(|e| e == "tsv");
    let written = if inputs.iter().all(is_tsv) {
        let mut ratios = Vec::new();
        let mut lines: Vec<Series> = Vec::new();
        for p in inputs {
            for row in read_tsv(p)? {
                match row.as_slice() {
                    [label, r] => ratios.push((label.clone(), num(p, r)?)),
                    [name, x, y] => {
                        let pt = (num(p, x)?, num(p, y)?);
                        match lines.iter_mut().find(|s| &s.name == name) {
                            Some(s) => s.points.push(pt),
                            None => lines.push(Series {
                                name: name.clone(),
                                points: vec![pt],
                            }),
                        }
                    }
                    _ => {
                        return Err(bad(
                            p,
                            "rows must have 2 (label, ratio) or 3 (series, size, pps) fields",
                        ));
                    }
                }
            }
        }
        match (ratios.is_empty(), lines.is_empty()) {
            (false, true) => plot::ratios(out, title.unwrap_or("Ferroplane / DPDK"), &ratios)?,
            (true, false) => {
                for s in &mut lines {
                    s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                plot::throughput_vs_size(
                    out,
                    title.unwrap_or("throughput against frame size"),
                    &lines,
                )?
            }
            _ => {
                return Err(PktgenError::Config(
                    "TSV inputs mix ratio rows and throughput rows (or are empty)".into(),
                ));
            }
        }
    } else {
        let mut cdfs = Vec::new();
        let mut sizes = Vec::new();
        for p in inputs {
            let v = read_json(p)?;
            if let Some(cdf) = v.get("latency_cdf").and_then(|c| c.as_array()) {
                let pts: Vec<(f64, u64)> = cdf
                    .iter()
                    .filter_map(|pt| Some((pt.get(0)?.as_f64()?, pt.get(1)?.as_u64()?)))
                    .collect();
                if pts.is_empty() {
                    return Err(bad(p, "the report has no latency samples"));
                }
                cdfs.push((file_label(p), pts));
            } else if let Some(rows) = v.as_array() {
                let mut pts = Vec::new();
                for r in rows {
                    let size = r.get("frame_size").and_then(|x| x.as_f64());
                    let pps = r.pointer("/result/throughput_pps").and_then(|x| x.as_f64());
                    match (size, pps) {
                        (Some(s), Some(t)) => pts.push((s, t)),
                        _ => {
                            return Err(bad(
                                p,
                                "not an rfc2544 report (frame_size, result.throughput_pps)",
                            ));
                        }
                    }
                }
                sizes.push(Series {
                    name: file_label(p),
                    points: pts,
                });
            } else {
                return Err(bad(
                    p,
                    "neither a run report (latency_cdf) nor an rfc2544 report",
                ));
            }
        }
        match (cdfs.is_empty(), sizes.is_empty()) {
            (false, true) => plot::latency_cdf(out, title.unwrap_or("latency CDF"), &cdfs)?,
            (true, false) => plot::throughput_vs_size(
                out,
                title.unwrap_or("RFC 2544 throughput against frame size"),
                &sizes,
            )?,
            _ => {
                return Err(PktgenError::Config(
                    "inputs mix run reports and rfc2544 reports".into(),
                ));
            }
        }
    };
    println!(
        "wrote {} and {}",
        written[0].display(),
        written[1].display()
    );
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Rfc2544 {
            run,
            trial,
            loss,
            max_pps,
            sizes,
        } => cmd_rfc2544(run, *trial, *loss, *max_pps, sizes),
        Cmd::Plot { out, title, inputs } => cmd_plot(out, title.as_deref(), inputs),
        Cmd::Xdp {
            iface,
            count,
            duration,
            batch,
            count_on,
            netns,
            traffic,
        } => cmd_xdp(
            iface,
            *count,
            *duration,
            *batch,
            count_on.as_deref(),
            netns.as_deref(),
            traffic,
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pktgen: {e}");
            ExitCode::FAILURE
        }
    }
}
