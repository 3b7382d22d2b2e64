//! l2fwd between two veth pairs: frames sent from one namespace arrive in the other with the
//! MACs rewritten (source = l2fwd's TX port MAC, destination = 02:00:00:00:00:<tx port>), and
//! the counters match, on af_packet and on AF_XDP ports (the latter with `-P`, promiscuous).
//! Needs root (skips otherwise, unless FERROPLANE_REQUIRE_PRIVILEGED=1).

mod common;

use std::time::Duration;

use common::{App, counter};
use ferroplane_pmd::MacAddr;
use ferroplane_pmd::testing::{
    FrameSocket, Netns, VethPair, privileged, test_frame, test_frame_tag, udp_frame,
};

#[test]
fn l2fwd_forwards_between_namespaces_with_rewritten_macs() {
    if privileged("l2fwd_forwards_between_namespaces_with_rewritten_macs") {
        l2fwd_between_namespaces("af_packet");
    }
}

#[test]
fn l2fwd_forwards_between_namespaces_with_rewritten_macs_af_xdp() {
    if privileged("l2fwd_forwards_between_namespaces_with_rewritten_macs_af_xdp") {
        l2fwd_between_namespaces("af_xdp");
    }
}

/// A frame tagged `tag`: the test EtherType on af_packet; UDP/IPv4 on AF_XDP, whose XDP
/// program hands frames that are not IP to the kernel.
fn frame(driver: &str, src: MacAddr, tag: u32, len: usize) -> Vec<u8> {
    if driver == "af_xdp" {
        udp_frame(
            MacAddr([0xff; 6]),
            src,
            [10, 9, 0, 1],
            [10, 9, 0, 2],
            4000,
            4001,
            tag,
            len.saturating_sub(42),
        )
    } else {
        test_frame(MacAddr([0xff; 6]), src, tag, len)
    }
}

fn tag_of(driver: &str, f: &[u8]) -> Option<u32> {
    if driver == "af_xdp" {
        (f.len() >= 46 && f[12..14] == [8, 0] && f[23] == 17)
            .then(|| u32::from_be_bytes([f[42], f[43], f[44], f[45]]))
    } else {
        test_frame_tag(f)
    }
}

fn l2fwd_between_namespaces(driver: &str) {
    let (na, nb) = (Netns::new().unwrap(), Netns::new().unwrap());
    let va = VethPair::with_peer_in(&na, 1).unwrap();
    let vb = VethPair::with_peer_in(&nb, 1).unwrap();
    let mac_b = vb.host_mac().unwrap();
    let sa = FrameSocket::open_in(&na, va.peer()).unwrap();
    let sb = FrameSocket::open_in(&nb, vb.peer()).unwrap();
    let pa = format!("{driver}:iface={}", va.host());
    let pb = format!("{driver}:iface={}", vb.host());
    let mut args = vec![
        "-l", "0-1", "--idle", "adaptive", "-T", "0", "--port", &pa, "--port", &pb,
    ];
    if driver == "af_xdp" {
        args.push("-P");
    }
    let app = App::spawn(None, env!("CARGO_BIN_EXE_l2fwd"), &args);
    // Wait until forwarding works, then count exactly.
    let src = MacAddr([2, 0x11, 0, 0, 0, 1]);
    let up = (0..100).any(|i| {
        sa.send(&frame(driver, src, 1_000_000 + i, 64)).unwrap();
        !sb.recv_matching(1, Duration::from_millis(100), |f| {
            tag_of(driver, f).is_some()
        })
        .is_empty()
    });
    assert!(up, "l2fwd never forwarded");
    while sb.recv(Duration::from_millis(200)).is_some() {}
    const N: u32 = 200;
    for tag in 0..N {
        sa.send(&frame(driver, src, tag, 64 + (tag as usize % 64)))
            .unwrap();
        if tag % 32 == 31 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut seen = vec![false; N as usize];
    while let Some(f) = sb.recv(Duration::from_millis(500)) {
        let Some(tag) = tag_of(driver, &f) else {
            continue;
        };
        if tag < N {
            assert_eq!(
                &f[0..6],
                &[2, 0, 0, 0, 0, 1],
                "destination MAC not 02:00:00:00:00:01"
            );
            assert_eq!(&f[6..12], &mac_b.0, "source MAC not the TX port's");
            seen[tag as usize] = true;
        }
    }
    let got = seen.iter().filter(|s| **s).count();
    assert_eq!(got, N as usize, "frames lost");
    let (ok, out) = app.stop();
    assert!(ok, "l2fwd failed (or leaked mbufs):\n{out}");
    // Port 0 received at least N + warm-up frames and port 1 sent as many (nothing dropped).
    assert!(out.contains("port 0"), "{out}");
    assert_eq!(
        counter(&out, "port_disabled") + counter(&out, "runt"),
        0,
        "{out}"
    );
}

#[test]
fn l2fwd_rejects_bad_options() {
    for args in [
        vec!["-l", "0-1", "--port", "null:", "-p", "xyz"],
        vec!["-l", "0-1", "--port", "null:", "-p", "0x6"],
        vec!["-l", "0-1", "--port", "nosuchdriver:x=1"],
        vec!["-q", "0"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_l2fwd"))
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn l3fwd_rejects_bad_options_and_files() {
    let dir = std::env::temp_dir().join(format!("l3fwd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_routes = dir.join("routes.txt");
    std::fs::write(&bad_routes, "198.18.0.0/24 0\n198.18.1.0/40 1\n").unwrap();
    let r = bad_routes.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["-l", "0-1", "--port", "null:", "--lookup", "trie"],
            "trie",
        ),
        (
            vec!["-l", "0-1", "--port", "null:", "--route-file", r],
            "line 2",
        ),
        (
            vec![
                "-l",
                "0-1",
                "--port",
                "null:",
                "--route-file",
                "/nonexistent/routes",
            ],
            "/nonexistent/routes",
        ),
        (
            vec![
                "-l",
                "0-1",
                "--port",
                "null:",
                "--eth-dest",
                "3,02:00:00:00:00:01",
            ],
            "port 3",
        ),
        (
            vec!["-l", "0-1", "--port", "null:", "--addr", "0,10.0.0.1/24"],
            "--router",
        ),
        (vec!["-l", "0-1", "--port", "null:", "-p", "0x3"], "0x3"),
        (
            vec!["-l", "0-1", "--port", "null:", "--config", "(0,0,7)"],
            "7",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_l3fwd"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn l3fwd_runs_on_null_ports_and_returns_every_mbuf() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_l3fwd"))
        .args([
            "-l",
            "0-1",
            "--port",
            "null:size=64",
            "--port",
            "null:size=64",
            "--duration",
            "1",
        ])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
}
