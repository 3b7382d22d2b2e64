//! l3fwd in router mode between two namespaces that are plain Linux hosts: addresses in
//! different subnets, default routes via l3fwd's port addresses, no static ARP/ND entries.
//! l3fwd runs in a third namespace on af_packet or AF_XDP ports (each test runs on both), so
//! nothing can leak to the host's interfaces. Needs root (skips otherwise, unless
//! FERROPLANE_REQUIRE_PRIVILEGED=1).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{App, counter, in_netns, mac_in, move_into, ns_run, telemetry};
use ferroplane_net::MacAddr;
use ferroplane_net::builder::FrameSpec;
use ferroplane_pmd::testing::{FrameSocket, Netns, VethPair, privileged};

struct Topology {
    // Field order is drop order: veths (no-ops once moved), then the namespaces.
    a_if: VethPair,
    b_if: VethPair,
    router: Netns,
    a: Netns,
    b: Netns,
}

fn topology() -> Topology {
    let router = Netns::new().unwrap();
    let a = Netns::new().unwrap();
    let b = Netns::new().unwrap();
    let a_if = VethPair::with_peer_in(&a, 1).unwrap();
    let b_if = VethPair::with_peer_in(&b, 1).unwrap();
    move_into(a_if.host(), &router);
    move_into(b_if.host(), &router);
    for (ns, ifname, v4, gw4, v6, gw6) in [
        (
            &a,
            a_if.peer(),
            "10.0.1.2/24",
            "10.0.1.1",
            "2001:db8:1::2/64",
            "2001:db8:1::1",
        ),
        (
            &b,
            b_if.peer(),
            "10.0.2.2/24",
            "10.0.2.1",
            "2001:db8:2::2/64",
            "2001:db8:2::1",
        ),
    ] {
        ns.exec(
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{ifname}.disable_ipv6=0")],
        )
        .unwrap();
        // The hosts' kernels would leave TCP/UDP checksums to veth "offload" (CHECKSUM_PARTIAL),
        // and af_packet and AF_XDP (copy mode) hand such frames over without the checksum:
        // make them compute it.
        ns.exec("ethtool", &["-K", ifname, "tx", "off"]).unwrap();
        ns.exec("ip", &["addr", "add", v4, "dev", ifname]).unwrap();
        ns.exec("ip", &["-6", "addr", "add", v6, "dev", ifname, "nodad"])
            .unwrap();
        ns.exec("ip", &["route", "add", "default", "via", gw4])
            .unwrap();
        ns.exec("ip", &["-6", "route", "add", "default", "via", gw6])
            .unwrap();
    }
    Topology {
        a_if,
        b_if,
        router,
        a,
        b,
    }
}

fn start_l3fwd(t: &Topology, driver: &str, extra: &[&str]) -> App {
    // No arp=xsk on AF_XDP ports: l3fwd adds it in router mode (ARP must reach the socket, not
    // the kernel), so these tests' ARP resolution checks that it does.
    let pa = format!("{driver}:iface={}", t.a_if.host());
    let pb = format!("{driver}:iface={}", t.b_if.host());
    let mut args: Vec<&str> = extra.to_vec();
    args.extend_from_slice(&[
        "-l",
        "0-1",
        "--idle",
        "adaptive",
        "--port",
        &pa,
        "--port",
        &pb,
        "--router",
        "--addr",
        "0,10.0.1.1/24",
        "--addr",
        "1,10.0.2.1/24",
        "--addr",
        "0,2001:db8:1::1/64",
        "--addr",
        "1,2001:db8:2::1/64",
        "--icmp-rate",
        "1000",
    ]);
    App::spawn(Some(&t.router), env!("CARGO_BIN_EXE_l3fwd"), &args)
}

fn wait_ping(ns: &Netns, dst: &str) -> bool {
    (0..20).any(|_| ns_run(ns, "ping", &["-c", "1", "-W", "1", dst]).0)
}

/// 1 MiB of deterministic bytes.
fn data() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn l3fwd_router_between_namespaces() {
    if privileged("l3fwd_router_between_namespaces") {
        router_between_namespaces("af_packet");
    }
}

#[test]
fn l3fwd_router_between_namespaces_af_xdp() {
    if privileged("l3fwd_router_between_namespaces_af_xdp") {
        router_between_namespaces("af_xdp");
    }
}

fn router_between_namespaces(driver: &str) {
    let t = topology();
    let mut app = start_l3fwd(&t, driver, &[]);
    if !wait_ping(&t.a, "10.0.1.1") {
        let (_, out) = app.stop();
        panic!("l3fwd ({driver}) does not answer ping on its port address:\n{out}");
    }
    assert!(app.running());

    // IPv4 both ways; the reply crossed the router once: TTL 64 - 1.
    let (ok, out) = ns_run(
        &t.a,
        "ping",
        &["-c", "3", "-i", "0.2", "-W", "2", "10.0.2.2"],
    );
    assert!(ok, "ping A->B failed:\n{out}");
    assert!(out.contains("ttl=63"), "TTL not decremented once:\n{out}");
    let (ok, out) = ns_run(
        &t.b,
        "ping",
        &["-c", "3", "-i", "0.2", "-W", "2", "10.0.1.2"],
    );
    assert!(ok, "ping B->A failed:\n{out}");

    // IPv6 both ways (neighbour discovery in both directions, no static entries).
    assert!(
        wait_ping(&t.a, "2001:db8:1::1"),
        "no ICMPv6 echo reply from the router"
    );
    let (ok, out) = ns_run(
        &t.a,
        "ping",
        &["-6", "-c", "3", "-i", "0.2", "-W", "2", "2001:db8:2::2"],
    );
    assert!(ok, "ping6 A->B failed:\n{out}");
    assert!(
        out.contains("=63"),
        "hop limit not decremented once:\n{out}"
    );
    let (ok, out) = ns_run(
        &t.b,
        "ping",
        &["-6", "-c", "3", "-i", "0.2", "-W", "2", "2001:db8:1::2"],
    );
    assert!(ok, "ping6 B->A failed:\n{out}");

    // Traceroute-style probe: TTL 1 gets time exceeded from the router's address.
    let (_, out) = ns_run(&t.a, "ping", &["-c", "1", "-t", "1", "-W", "2", "10.0.2.2"]);
    assert!(
        out.contains("10.0.1.1") && out.to_lowercase().contains("time to live exceeded"),
        "no time exceeded:\n{out}"
    );
    let (_, out) = ns_run(
        &t.a,
        "ping",
        &["-6", "-c", "1", "-t", "1", "-W", "2", "2001:db8:2::2"],
    );
    assert!(
        out.to_lowercase().contains("time exceeded"),
        "no ICMPv6 time exceeded:\n{out}"
    );
    // No route: destination unreachable.
    let (_, out) = ns_run(&t.a, "ping", &["-c", "1", "-W", "2", "192.0.2.9"]);
    assert!(
        out.to_lowercase().contains("unreachable"),
        "no destination unreachable:\n{out}"
    );

    // TCP: 1 MiB from A to B, compared byte for byte.
    let payload = data();
    let server = in_netns(&t.b, || {
        let l = TcpListener::bind("10.0.2.2:5201").unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    std::thread::sleep(Duration::from_millis(200));
    let p2 = payload.clone();
    let client = in_netns(&t.a, move || {
        let mut s =
            TcpStream::connect_timeout(&"10.0.2.2:5201".parse().unwrap(), Duration::from_secs(5))
                .unwrap();
        s.write_all(&p2).unwrap();
    });
    client.join().unwrap();
    let got = server.join().unwrap();
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "TCP data corrupted");

    // Malformed and hostile input from A, straight onto the wire, while good traffic flows.
    let router_mac = MacAddr(mac_in(&t.router, t.a_if.host()));
    let a_mac = MacAddr(mac_in(&t.a, t.a_if.peer()));
    let sock = FrameSocket::open_in(&t.a, t.a_if.peer()).unwrap();
    let spec = FrameSpec::udp(
        a_mac,
        router_mac,
        "10.0.1.2".parse().unwrap(),
        "10.0.2.2".parse().unwrap(),
        7,
        9,
    )
    .unwrap();
    let mut good = vec![0u8; 128];
    let n = spec.build(&[0x55; 32], &mut good).unwrap();
    good.truncate(n);
    let mut frames = Vec::new();
    let mut bad_ck = good.clone();
    bad_ck[24] ^= 0xff;
    frames.push(bad_ck);
    let mut ihl = good.clone();
    ihl[14] = 0x44;
    frames.push(ihl);
    let mut ttl0 = good.clone();
    ttl0[22] = 0;
    let c = ferroplane_net::checksum::checksum(&{
        let mut h = ttl0[14..34].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    ttl0[24..26].copy_from_slice(&c.to_be_bytes());
    frames.push(ttl0);
    let mut truncated = good.clone();
    truncated.truncate(14 + 10);
    frames.push(truncated);
    for f in &frames {
        for _ in 0..10 {
            sock.send(f).unwrap();
        }
    }
    let (ok, out) = ns_run(
        &t.a,
        "ping",
        &["-c", "3", "-i", "0.2", "-W", "2", "10.0.2.2"],
    );
    assert!(ok, "good traffic stopped after malformed input:\n{out}");

    assert!(app.running(), "l3fwd exited");
    let (ok, out) = app.stop();
    assert!(ok, "l3fwd failed (or leaked mbufs):\n{out}");
    assert_eq!(counter(&out, "bad_checksum"), 10, "{out}");
    assert_eq!(counter(&out, "bad_ihl"), 10, "{out}");
    assert!(counter(&out, "ttl_expired") >= 12, "{out}"); // 10 TTL 0 + the v4 and v6 probes
    // AF_XDP's XDP program passes frames too short for their IP header to the kernel.
    let truncated = if driver == "af_xdp" { 0 } else { 10 };
    assert_eq!(counter(&out, "truncated"), truncated, "{out}");
    assert!(counter(&out, "echo_replies") >= 2, "{out}");
    // B learns the router's MAC from the router's own request (RFC 826), so only A asks.
    assert!(counter(&out, "arp_replies") >= 1, "{out}");
    assert!(counter(&out, "arp_requests") >= 1, "{out}");
    assert!(counter(&out, "na_sent") >= 1, "{out}");
    assert!(counter(&out, "ns_sent") >= 1, "{out}");
    assert_eq!(counter(&out, "released"), counter(&out, "held"), "{out}");
    assert!(counter(&out, "time_exceeded") >= 2, "{out}");
    assert!(counter(&out, "unreachable") >= 1, "{out}");
}

#[test]
fn l3fwd_routes_and_addresses_change_while_forwarding() {
    if privileged("l3fwd_routes_and_addresses_change_while_forwarding") {
        changes_while_forwarding("af_packet");
    }
}

#[test]
fn l3fwd_routes_and_addresses_change_while_forwarding_af_xdp() {
    if privileged("l3fwd_routes_and_addresses_change_while_forwarding_af_xdp") {
        changes_while_forwarding("af_xdp");
    }
}

fn ping_ok(ns: &Netns, dst: &str) -> bool {
    (0..3).any(|_| ns_run(ns, "ping", &["-c", "1", "-W", "1", dst]).0)
}

/// Routes added and deleted over the telemetry socket, a port address added and removed, and a
/// route file reloaded on SIGHUP, while A pings B all along.
fn changes_while_forwarding(driver: &str) {
    let t = topology();
    // B also has 10.0.9.2/24, which l3fwd has no route to yet.
    t.b.exec("ip", &["addr", "add", "10.0.9.2/24", "dev", t.b_if.peer()])
        .unwrap();
    let dir = std::env::temp_dir().join(format!("fp-l3rt-{}-{driver}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("tel.sock");
    let route_file = dir.join("routes.cfg");
    std::fs::write(&route_file, "# empty at start\n").unwrap();
    let mut app = start_l3fwd(
        &t,
        driver,
        &[
            "--telemetry",
            sock.to_str().unwrap(),
            "--route-file",
            route_file.to_str().unwrap(),
        ],
    );
    if !wait_ping(&t.a, "10.0.2.2") {
        let (_, out) = app.stop();
        panic!("no forwarding A->B ({driver}):\n{out}");
    }
    // Background traffic for the whole test.
    let flow = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            t.a.name(),
            "ping",
            "-q",
            "-i",
            "0.01",
            "-w",
            "15",
            "10.0.2.2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    assert!(
        !ping_ok(&t.a, "10.0.9.2"),
        "10.0.9.2 reachable before its route"
    );
    let r = telemetry(&sock, "/l3fwd/route/add,10.0.9.0/24 1 via 10.0.2.2");
    assert_eq!(
        r["/l3fwd/route/add"]["added"]["prefix"], "10.0.9.0/24",
        "{r}"
    );
    assert!(
        ping_ok(&t.a, "10.0.9.2"),
        "route added over telemetry not used"
    );
    let r = telemetry(&sock, "/l3fwd/routes");
    assert_eq!(r["/l3fwd/routes"].as_array().unwrap().len(), 1, "{r}");
    let r = telemetry(&sock, "/l3fwd/route/del,10.0.9.0/24");
    assert!(r.get("error").is_none(), "{r}");
    assert!(!ping_ok(&t.a, "10.0.9.2"), "deleted route still used");
    let r = telemetry(&sock, "/l3fwd/route/add,10.0.9.0/24 9");
    assert!(r["error"].as_str().unwrap().contains("port 9"), "{r}");

    // SIGHUP reloads the route file.
    std::fs::write(&route_file, "10.0.9.0/24 1 via 10.0.2.2\n").unwrap();
    app.signal(libc::SIGHUP);
    assert!(
        ping_ok(&t.a, "10.0.9.2"),
        "route file not reloaded on SIGHUP"
    );
    std::fs::write(&route_file, "").unwrap();
    let r = telemetry(&sock, "/l3fwd/reload");
    assert_eq!(r["/l3fwd/reload"]["deleted"], 1, "{r}");

    // A new port address answers ping (and ARP) at once; removed, it stops.
    assert!(!ping_ok(&t.a, "10.0.1.254"));
    let r = telemetry(&sock, "/l3fwd/addr/add,0,10.0.1.254/24");
    assert!(r.get("error").is_none(), "{r}");
    assert!(
        ping_ok(&t.a, "10.0.1.254"),
        "new port address does not answer"
    );
    let r = telemetry(&sock, "/l3fwd/addr/del,0,10.0.1.254/24");
    assert!(r.get("error").is_none(), "{r}");
    t.a.exec("ip", &["neigh", "flush", "dev", t.a_if.peer()])
        .unwrap();
    assert!(
        !ping_ok(&t.a, "10.0.1.254"),
        "removed address still answers"
    );

    let out = flow.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let received: u64 = text
        .split(',')
        .find_map(|p| p.trim().strip_suffix(" received")?.parse().ok())
        .unwrap_or(0);
    assert!(received > 100, "background ping starved:\n{text}");
    assert!(app.running(), "l3fwd exited");
    let (ok, out) = app.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "l3fwd failed (or leaked mbufs):\n{out}");
}
