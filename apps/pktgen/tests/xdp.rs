//! The kernel-speed transmitter (BPF_PROG_RUN, XDP live frames) into a veth whose other end is
//! in a network namespace, counted there by an XDP program. Needs root.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ferroplane_pktgen::TrafficConfig;
use ferroplane_pktgen::factory::FrameFactory;
use ferroplane_pktgen::xdp_tx::{StampSites, XdpCounter, XdpTx};
use ferroplane_pmd::testing::{self, Netns, VethPair};

#[test]
fn live_frames_tx_delivers_the_requested_count() {
    if !testing::privileged("live_frames_tx_delivers_the_requested_count") {
        return;
    }
    let ns = Netns::new().expect("netns");
    let veth = VethPair::with_peer_in(&ns, 1).expect("veth");
    let counter = XdpCounter::attach(veth.peer(), Some(&ns.path())).expect("attach xdp_count");
    let t = TrafficConfig::default().parse().unwrap();
    let mut f = FrameFactory::new(&t, 1).unwrap();
    let mut frame = vec![0u8; f.max_len()];
    let n = f.write(&mut frame, 0, 0, 0).unwrap();
    frame.truncate(n);
    let (csum, udp) = f.l4_checksum().unwrap();
    let tx = XdpTx::load(
        veth.host(),
        StampSites {
            seq_off: (f.payload_offset() + 2) as u32,
            csum_off: csum as u32,
            udp,
            stream_base: 0,
        },
    )
    .expect("load xdp_gen");
    const COUNT: u64 = 200_000;
    let stop = AtomicBool::new(false);
    let (sent, took) = tx
        .send(&frame, COUNT, 0, &stop)
        .expect("BPF_PROG_RUN live frames");
    assert_eq!(sent, COUNT);
    // Wait for the peer's NAPI to drain its ring.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = (0, 0);
    while Instant::now() < deadline {
        got = counter.counts().unwrap();
        if got.0 >= COUNT {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "xdp live-frames: {sent} frames in {:.3} s = {:.3} Mpps (debug build, shared cores)",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64() / 1e6
    );
    assert_eq!(got.0, COUNT, "frames counted at the far end");
    assert_eq!(got.1, COUNT * n as u64);
    drop(counter);
}
