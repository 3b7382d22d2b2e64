//! Telemetry: a Unix-socket JSON endpoint in the spirit of DPDK's telemetry, and a Prometheus
//! text exposition over a minimal HTTP/1.0 server.
//!
//! # Unix socket protocol
//!
//! A `SOCK_STREAM` socket. The client writes one query per line (`\n`-terminated); the server
//! answers each with one line of JSON, an object whose single key is the query, as DPDK does
//! (`{"/ports": [...]}`). Queries:
//!
//! | query | reply |
//! |---|---|
//! | `/` | the list of queries |
//! | `/info` | version, pid, uptime, lcores |
//! | `/ports` | id, name, driver and queue counts of each port |
//! | `/ports/<id>/stats` | the port's counters (see [`PortSnapshot`]) |
//! | `/lcores` | each worker lcore's counters (see [`LcoreSnapshot`]) |
//! | `/mempools` | each pool's occupancy (see [`MempoolSnapshot`]) |
//!
//! Applications add their own commands ([`crate::Engine::telemetry_command`]), listed by `/`.
//! As in DPDK, a command's parameters follow the first comma: `/l3fwd/route/add,10.0.0.0/8 1`
//! runs `/l3fwd/route/add` with `10.0.0.0/8 1` and replies `{"/l3fwd/route/add": ...}`.
//!
//! An unknown query gets `{"error": "..."}`. Unlike DPDK (SOCK_SEQPACKET, a greeting, no
//! newlines) this can be used with `socat - UNIX-CONNECT:PATH` or `nc -U PATH`.
//!
//! # Prometheus
//!
//! `GET /metrics` (any path is answered the same) returns the text format 0.0.4 with counters
//! named `ferroplane_port_*`, `ferroplane_lcore_*` and gauges `ferroplane_mempool_*`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::stats::{LcoreSnapshot, MempoolSnapshot, PortSnapshot, StatsSource};

/// A metric: name suffix, help text, and how to read it.
type Metric<T> = (&'static str, &'static str, fn(&T) -> u64);

/// The queries the Unix socket answers.
pub const QUERIES: &[&str] = &[
    "/",
    "/info",
    "/ports",
    "/ports/<id>/stats",
    "/lcores",
    "/mempools",
];

/// Longest query line accepted.
const MAX_QUERY: usize = 1024;
/// Most telemetry connections served at once.
const MAX_CLIENTS: usize = 16;
/// How often the accept loops look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Answers one query (without the newline).
pub fn answer(source: &dyn StatsSource, query: &str) -> Value {
    let q = query.trim();
    let body = match q {
        "/" => {
            let mut all: Vec<String> = QUERIES.iter().map(|s| s.to_string()).collect();
            all.extend(source.commands());
            json!(all)
        }
        "/info" => source.info(),
        "/ports" => Value::Array(
            source
                .ports()
                .into_iter()
                .map(|p| {
                    json!({"id": p.id, "name": p.name, "driver": p.driver,
                           "rx_queues": p.rx_queues, "tx_queues": p.tx_queues})
                })
                .collect(),
        ),
        "/lcores" => serde_json::to_value(source.lcores()).unwrap_or(Value::Null),
        "/mempools" => serde_json::to_value(source.mempools()).unwrap_or(Value::Null),
        _ => {
            let port = q
                .strip_prefix("/ports/")
                .and_then(|r| r.strip_suffix("/stats"))
                .and_then(|id| id.parse::<u16>().ok());
            match port {
                Some(id) => match source.ports().into_iter().find(|p| p.id == id) {
                    Some(p) => serde_json::to_value(p).unwrap_or(Value::Null),
                    None => return json!({"error": format!("no port {id}")}),
                },
                None => {
                    let (name, args) = q.split_once(',').unwrap_or((q, ""));
                    match source.command(name, args.trim()) {
                        Some(Ok(v)) => {
                            let mut m = serde_json::Map::new();
                            m.insert(name.to_string(), v);
                            return Value::Object(m);
                        }
                        Some(Err(e)) => return json!({ "error": format!("{name}: {e}") }),
                        None => {
                            return json!({"error": format!("unknown query '{q}'; try '/'")});
                        }
                    }
                }
            }
        }
    };
    let mut m = serde_json::Map::new();
    m.insert(q.to_string(), body);
    Value::Object(m)
}

/// Renders the Prometheus text exposition.
pub fn prometheus_text(source: &dyn StatsSource) -> String {
    let mut s = String::new();
    let ports = source.ports();
    let port_metrics: [Metric<PortSnapshot>; 9] = [
        ("rx_packets_total", "Packets received", |p| p.rx_packets),
        ("rx_bytes_total", "Bytes received", |p| p.rx_bytes),
        ("tx_packets_total", "Packets sent", |p| p.tx_packets),
        ("tx_bytes_total", "Bytes sent", |p| p.tx_bytes),
        (
            "rx_missed_total",
            "Packets dropped on RX before reaching software",
            |p| p.rx_missed,
        ),
        ("rx_errors_total", "RX errors", |p| p.rx_errors),
        ("rx_nombuf_total", "RX mbuf allocation failures", |p| {
            p.rx_nombuf
        }),
        ("tx_errors_total", "TX errors", |p| p.tx_errors),
        ("tx_dropped_total", "Packets dropped on TX", |p| {
            p.tx_dropped
        }),
    ];
    write_family(&mut s, "port", &port_metrics, &ports, |p| {
        format!("port=\"{}\",name=\"{}\"", p.id, escape(&p.name))
    });
    let lcores = source.lcores();
    let lcore_metrics: [Metric<LcoreSnapshot>; 9] = [
        (
            "rx_packets_total",
            "Packets received from ports by the lcore",
            |l| l.rx_packets,
        ),
        (
            "ring_rx_total",
            "Packets dequeued from pipeline rings by the lcore",
            |l| l.ring_rx,
        ),
        ("tx_packets_total", "Packets sent by the lcore", |l| {
            l.tx_packets
        }),
        (
            "tx_dropped_total",
            "Packets the TX queues did not take",
            |l| l.tx_dropped,
        ),
        (
            "ring_full_total",
            "Packets dropped on a full pipeline ring",
            |l| l.ring_full,
        ),
        (
            "exit_dropped_total",
            "Packets left in pipeline rings at shutdown",
            |l| l.exit_dropped,
        ),
        ("polls_total", "Poll loop iterations", |l| l.polls),
        (
            "empty_polls_total",
            "Poll loop iterations without packets",
            |l| l.empty_polls,
        ),
        (
            "idle_nanoseconds_total",
            "Time spent idle by the adaptive policy",
            |l| l.idle_ns,
        ),
    ];
    write_family(&mut s, "lcore", &lcore_metrics, &lcores, |l| {
        format!("lcore=\"{}\"", l.lcore)
    });
    let _ = writeln!(
        s,
        "# HELP ferroplane_lcore_app_dropped_total Packets dropped by the application, by reason.\n# TYPE ferroplane_lcore_app_dropped_total counter"
    );
    for l in &lcores {
        for (reason, n) in &l.drops {
            let _ = writeln!(
                s,
                "ferroplane_lcore_app_dropped_total{{lcore=\"{}\",reason=\"{}\"}} {n}",
                l.lcore,
                escape(reason)
            );
        }
    }
    let pools = source.mempools();
    let pool_metrics: [Metric<MempoolSnapshot>; 4] = [
        ("capacity", "Mbufs in the pool", |m| m.capacity),
        ("in_use", "Mbufs handed out", |m| m.in_use),
        ("available", "Mbufs free", |m| m.available),
        ("alloc_failures_total", "Allocation failures", |m| {
            m.alloc_failures
        }),
    ];
    write_family(&mut s, "mempool", &pool_metrics, &pools, |m| {
        format!("pool=\"{}\"", escape(&m.name))
    });
    s
}

/// Writes the metrics `ferroplane_{family}_{name}` of `metrics`: each one's HELP and TYPE lines
/// (a counter if its name ends in `_total`, else a gauge), then one sample per item, labelled
/// by `labels` (the text between the braces).
fn write_family<T>(
    s: &mut String,
    family: &str,
    metrics: &[Metric<T>],
    items: &[T],
    labels: impl Fn(&T) -> String,
) {
    for (name, help, get) in metrics {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(
            s,
            "# HELP ferroplane_{family}_{name} {help}.\n# TYPE ferroplane_{family}_{name} {kind}"
        );
        for item in items {
            let _ = writeln!(
                s,
                "ferroplane_{family}_{name}{{{}}} {}",
                labels(item),
                get(item)
            );
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Errors starting a telemetry endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The socket path exists and is not a socket.
    #[error("telemetry path {0} exists and is not a socket; refusing to remove it")]
    NotASocket(PathBuf),
    /// Binding failed.
    #[error("cannot bind telemetry endpoint {what}: {reason}")]
    Bind {
        /// The path or address.
        what: String,
        /// The I/O error text.
        reason: String,
    },
}

/// A running endpoint; stopping (or dropping) it joins its thread and removes the socket file.
#[derive(Debug)]
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    path: Option<PathBuf>,
    addr: Option<SocketAddr>,
}

impl Server {
    /// The bound TCP address (Prometheus), with the real port when 0 was asked for.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A client of the Unix-socket endpoint: one query per line, one JSON reply per line.
#[derive(Debug)]
pub struct Client {
    conn: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the socket at `path`, retrying every 10 ms for up to `wait` (the server may
    /// still be starting).
    pub fn connect(path: &Path, wait: Duration) -> std::io::Result<Client> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match UnixStream::connect(path) {
                Ok(c) => {
                    return Ok(Client {
                        conn: BufReader::new(c),
                    });
                }
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("telemetry {}: {e}", path.display()),
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Sends `query` and returns the server's reply.
    pub fn query(&mut self, query: &str) -> std::io::Result<Value> {
        self.conn
            .get_mut()
            .write_all(format!("{query}\n").as_bytes())?;
        let mut line = String::new();
        self.conn.read_line(&mut line)?;
        serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("telemetry reply '{line}': {e}"),
            )
        })
    }
}

/// Starts the Unix-socket JSON endpoint at `path` (a stale socket there is replaced).
pub fn serve_unix(path: &Path, source: Arc<dyn StatsSource>) -> Result<Server, TelemetryError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(TelemetryError::NotASocket(path.to_path_buf()));
        }
        let _ = std::fs::remove_file(path);
    }
    let bind_err = |e: std::io::Error| TelemetryError::Bind {
        what: path.display().to_string(),
        reason: e.to_string(),
    };
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("fp-telemetry".into())
        .spawn(move || {
            let mut clients: Vec<JoinHandle<()>> = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) if clients.len() >= MAX_CLIENTS => {
                        let _ = stream.write_all(
                            format!("{}\n", json!({"error": "too many telemetry clients"}))
                                .as_bytes(),
                        );
                    }
                    Ok((stream, _)) => {
                        let src = source.clone();
                        let stop3 = stop2.clone();
                        if let Ok(h) = std::thread::Builder::new()
                            .name("fp-telemetry-c".into())
                            .spawn(move || unix_client(stream, &*src, &stop3))
                        {
                            clients.push(h);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(POLL)
                    }
                    Err(e) => {
                        log::warn!("telemetry accept: {e}");
                        std::thread::sleep(POLL);
                    }
                }
                clients.retain(|h| !h.is_finished());
            }
            for h in clients {
                let _ = h.join();
            }
        })
        .map_err(|e| TelemetryError::Bind {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(Server {
        stop,
        thread: Some(thread),
        path: Some(path.to_path_buf()),
        addr: None,
    })
}

fn unix_client(stream: UnixStream, source: &dyn StatsSource, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match reader
            .by_ref()
            .take((MAX_QUERY + 1) as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return,
            Ok(_) if line.last() == Some(&b'\n') || line.len() > MAX_QUERY => {
                let reply = if line.len() > MAX_QUERY {
                    json!({"error": format!("query longer than {MAX_QUERY} bytes")})
                } else {
                    answer(source, &String::from_utf8_lossy(&line))
                };
                line.clear();
                let mut out = reply.to_string();
                out.push('\n');
                if writer.write_all(out.as_bytes()).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Starts the Prometheus endpoint on `addr`.
pub fn serve_prometheus(
    addr: SocketAddr,
    source: Arc<dyn StatsSource>,
) -> Result<Server, TelemetryError> {
    let bind_err = |e: std::io::Error| TelemetryError::Bind {
        what: addr.to_string(),
        reason: e.to_string(),
    };
    let listener = TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("fp-prometheus".into())
        .spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => http_client(stream, &*source),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(POLL)
                    }
                    Err(e) => {
                        log::warn!("prometheus accept: {e}");
                        std::thread::sleep(POLL);
                    }
                }
            }
        })
        .map_err(bind_err)?;
    Ok(Server {
        stop,
        thread: Some(thread),
        path: None,
        addr: Some(local),
    })
}

fn http_client(mut stream: TcpStream, source: &dyn StatsSource) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    // Read the request head (bounded); its content does not matter.
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 8192 {
            break;
        }
    }
    let body = prometheus_text(source);
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{LcoreSnapshot, LcoreStats, MempoolSnapshot, PortSnapshot};

    struct Fake {
        lcore: LcoreStats,
    }

    impl StatsSource for Fake {
        fn ports(&self) -> Vec<PortSnapshot> {
            vec![PortSnapshot {
                id: 0,
                name: "null0".into(),
                driver: "null".into(),
                rx_queues: 1,
                tx_queues: 1,
                rx_packets: self.lcore.ports[0].rx_packets.get(),
                tx_packets: self.lcore.ports[0].tx_packets.get(),
                ..Default::default()
            }]
        }
        fn lcores(&self) -> Vec<LcoreSnapshot> {
            vec![self.lcore.snapshot()]
        }
        fn mempools(&self) -> Vec<MempoolSnapshot> {
            vec![MempoolSnapshot {
                name: "pool0".into(),
                capacity: 100,
                in_use: 3,
                available: 97,
                alloc_failures: 0,
            }]
        }
        fn info(&self) -> Value {
            json!({"pid": std::process::id()})
        }
        fn commands(&self) -> Vec<String> {
            vec!["/app/echo".into()]
        }
        fn command(&self, name: &str, args: &str) -> Option<Result<Value, String>> {
            match (name, args) {
                ("/app/echo", "") => Some(Err("nothing to echo".into())),
                ("/app/echo", a) => Some(Ok(json!(a))),
                _ => None,
            }
        }
    }

    fn fake() -> Arc<Fake> {
        let lcore = LcoreStats::new(1, 1, Arc::from(vec!["udp9".to_string()]));
        lcore.core.rx_packets.add(42);
        lcore.ports[0].rx_packets.add(42);
        lcore.ports[0].tx_packets.add(40);
        lcore.count_drop(0, 2);
        Arc::new(Fake { lcore })
    }

    fn query(conn: &mut Client, q: &str) -> Value {
        conn.query(q).unwrap()
    }

    #[test]
    fn unix_socket_answers_with_schema_and_values() {
        let src = fake();
        let path = std::env::temp_dir().join(format!("fp-tel-{}.sock", std::process::id()));
        let mut server = serve_unix(&path, src.clone()).unwrap();
        let mut conn = Client::connect(&path, Duration::ZERO).unwrap();

        let root = query(&mut conn, "/");
        assert_eq!(root["/"].as_array().unwrap().len(), QUERIES.len() + 1);
        assert_eq!(root["/"][QUERIES.len()], "/app/echo");
        let echo = query(&mut conn, "/app/echo,hello world");
        assert_eq!(echo["/app/echo"], "hello world");
        assert_eq!(
            query(&mut conn, "/app/echo")["error"],
            "/app/echo: nothing to echo"
        );

        let ports = query(&mut conn, "/ports");
        assert_eq!(ports["/ports"][0]["name"], "null0");
        assert_eq!(ports["/ports"][0]["rx_queues"], 1);

        let stats = query(&mut conn, "/ports/0/stats");
        let st = &stats["/ports/0/stats"];
        for key in [
            "rx_packets",
            "rx_bytes",
            "tx_packets",
            "tx_bytes",
            "rx_missed",
            "tx_dropped",
        ] {
            assert!(st[key].is_u64(), "missing {key} in {st}");
        }
        assert_eq!(st["rx_packets"], 42);
        assert_eq!(st["tx_packets"], 40);

        // Counters move and the socket sees it.
        src.lcore.core.rx_packets.add(8);
        let lc = query(&mut conn, "/lcores");
        assert_eq!(lc["/lcores"][0]["lcore"], 1);
        assert_eq!(lc["/lcores"][0]["rx_packets"], 50);
        assert_eq!(lc["/lcores"][0]["drops"]["udp9"], 2);
        assert_eq!(lc["/lcores"][0]["app_dropped"], 2);

        let mp = query(&mut conn, "/mempools");
        assert_eq!(mp["/mempools"][0]["in_use"], 3);
        assert_eq!(
            query(&mut conn, "/info")["/info"]["pid"],
            std::process::id()
        );
        assert!(
            query(&mut conn, "/ports/9/stats")["error"]
                .as_str()
                .unwrap()
                .contains("no port 9")
        );
        assert!(
            query(&mut conn, "/bogus")["error"]
                .as_str()
                .unwrap()
                .contains("'/bogus'")
        );

        server.stop();
        assert!(!path.exists(), "socket file removed on stop");
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let path = std::env::temp_dir().join(format!("fp-tel-file-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let e = serve_unix(&path, fake()).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains("is not a socket"), "{e}");
    }

    #[test]
    fn prometheus_over_http() {
        let mut server = serve_prometheus("127.0.0.1:0".parse().unwrap(), fake()).unwrap();
        let addr = server.local_addr().unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
        assert!(
            reply.contains("ferroplane_port_rx_packets_total{port=\"0\",name=\"null0\"} 42\n"),
            "{reply}"
        );
        assert!(
            reply.contains("ferroplane_lcore_app_dropped_total{lcore=\"1\",reason=\"udp9\"} 2\n")
        );
        assert!(reply.contains(
            "# TYPE ferroplane_mempool_in_use gauge\nferroplane_mempool_in_use{pool=\"pool0\"} 3\n"
        ));
        server.stop();
    }
}
