//! Lookups on reader threads while the writer adds and deletes routes: readers must never see
//! a wrong next hop for addresses whose answer the updates do not change, and freed tbl8 groups
//! must not be reused before every online reader passed a quiescent state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use ferroplane_lpm::{Lpm4, Lpm6, LpmConfig, LpmError};

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

fn cfg(groups: u32) -> LpmConfig {
    LpmConfig {
        max_rules: 10_000,
        tbl8_groups: groups,
        hugepages: false,
        prefault: false,
        grace_timeout: Duration::from_secs(5),
    }
}

#[test]
fn readers_see_stable_routes_while_writer_churns() {
    // Few groups, so freed groups are reused constantly for other /24s with other next hops.
    let mut lpm = Lpm4::new(&cfg(6)).unwrap();
    lpm.add(ip(10, 0, 0, 0), 8, 1).unwrap();
    lpm.add(ip(10, 1, 2, 0), 26, 2).unwrap(); // stable: keeps one group alive in 10.1.2/24
    // (address, invariant answer)
    let stable: Vec<(u32, u32)> = vec![
        (ip(10, 1, 2, 5), 2),
        (ip(10, 1, 2, 63), 2),
        (ip(10, 1, 2, 100), 1),
        (ip(10, 9, 9, 9), 1),
        (ip(10, 7, 0, 1), 1), // its /24 gets groups, but not this address's /25
        (ip(10, 8, 0, 127), 1), // likewise
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..2 {
        let mut reader = lpm.reader().unwrap();
        let stable = stable.clone();
        let stop = Arc::clone(&stop);
        let lookups = Arc::clone(&lookups);
        handles.push(thread::spawn(move || {
            let ips: Vec<u32> = stable.iter().map(|s| s.0).cycle().take(32).collect();
            let mut out = [0u32; 32];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if t == 0 {
                    reader.lookup_bulk(&ips, &mut out);
                    for (i, &nh) in out.iter().enumerate() {
                        assert_eq!(nh, stable[i % stable.len()].1, "bulk {:#x}", ips[i]);
                    }
                } else {
                    for &(a, want) in &stable {
                        assert_eq!(reader.lookup(a), Some(want), "single {a:#x}");
                    }
                }
                reader.quiescent();
                n += 1;
                if n.is_multiple_of(64) {
                    // Only 2 cores: let the writer run.
                    thread::yield_now();
                }
            }
            lookups.fetch_add(n, Ordering::Relaxed);
        }));
    }
    // Writer: create and free groups in many /24s (including the readers' 10.7/24, 10.8/24
    // and 10.1.2/24), with next hops that would be wrong answers for the stable addresses.
    for i in 0..6_000u32 {
        let third = (i % 3) as u8;
        let net = [ip(10, 7, 0, 128), ip(10, 8, 0, 128), ip(10, 1, 2, 128)][third as usize];
        lpm.add(net, 25, 100 + i % 50).unwrap();
        lpm.add(ip(10, 1, 2, 64), 27, 200).unwrap();
        lpm.add(ip(10, 50 + (i % 40) as u8, 0, 0), 28, 300).unwrap();
        lpm.add(ip(10, 9, 9, 0), 23, 1).unwrap(); // same next hop as the /8: invariant
        lpm.delete(net, 25).unwrap();
        lpm.delete(ip(10, 1, 2, 64), 27).unwrap();
        lpm.delete(ip(10, 50 + (i % 40) as u8, 0, 0), 28).unwrap();
        lpm.delete(ip(10, 9, 9, 0), 23).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("reader saw a wrong next hop");
    }
    assert!(lookups.load(Ordering::Relaxed) > 0);
    assert_eq!(lpm.len(), 2);
}

#[test]
fn group_reuse_waits_for_quiescent_readers() {
    let mut lpm = Lpm4::new(&LpmConfig {
        grace_timeout: Duration::from_millis(20),
        ..cfg(1)
    })
    .unwrap();
    let mut reader = lpm.reader().unwrap();
    assert_eq!(lpm.readers(), 1);
    lpm.add(ip(1, 1, 1, 1), 32, 1).unwrap();
    lpm.delete(ip(1, 1, 1, 1), 32).unwrap();
    // The only group is retired but the reader has not been quiescent since.
    assert_eq!(
        lpm.add(ip(2, 2, 2, 2), 32, 2),
        Err(LpmError::Tbl8Exhausted { groups: 1 })
    );
    assert_eq!(lpm.lookup(ip(2, 2, 2, 2)), None);
    reader.quiescent();
    lpm.add(ip(2, 2, 2, 2), 32, 2).unwrap();
    assert_eq!(reader.lookup(ip(2, 2, 2, 2)), Some(2));
    // An offline reader does not hold up reuse.
    lpm.delete(ip(2, 2, 2, 2), 32).unwrap();
    reader.offline();
    lpm.add(ip(3, 3, 3, 3), 32, 3).unwrap();
    reader.online();
    assert_eq!(reader.lookup(ip(3, 3, 3, 3)), Some(3));
    // Neither does a dropped one.
    lpm.delete(ip(3, 3, 3, 3), 32).unwrap();
    drop(reader);
    assert_eq!(lpm.readers(), 0);
    lpm.add(ip(4, 4, 4, 4), 32, 4).unwrap();
}

#[test]
fn lpm6_readers_see_stable_routes_while_writer_churns() {
    let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut lpm = Lpm6::new(&cfg(64)).unwrap();
    lpm.add(&a("2001:db8::"), 32, 1).unwrap();
    lpm.add(&a("2001:db8:1::"), 48, 2).unwrap();
    let stable = vec![
        (a("2001:db8:1::5"), 2),
        (a("2001:db8:2::5"), 1),
        (a("2001:db8:1:ffff::1"), 2),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader = lpm.reader().unwrap();
    let handle = {
        let stop = Arc::clone(&stop);
        let stable = stable.clone();
        thread::spawn(move || {
            let ips: Vec<[u8; 16]> = stable.iter().map(|s| s.0).collect();
            let mut out = [0u32; 3];
            while !stop.load(Ordering::Relaxed) {
                reader.lookup_bulk(&ips, &mut out);
                for (i, &nh) in out.iter().enumerate() {
                    assert_eq!(nh, stable[i].1);
                }
                reader.quiescent();
                thread::yield_now();
            }
        })
    };
    for i in 0..3000u32 {
        let mut p = a("2001:db8:1::8000:0:0:0");
        p[6] = (i % 7) as u8;
        lpm.add(&p, 128, 10 + i % 5).unwrap();
        let mut q = a("2001:db8:3::");
        q[6] = (i % 11) as u8;
        lpm.add(&q, 64, 20).unwrap();
        lpm.delete(&p, 128).unwrap();
        lpm.delete(&q, 64).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("reader saw a wrong next hop");
    assert_eq!(lpm.len(), 2);
}

/// The tables and their reader handles cross threads (the handles carry raw table addresses,
/// so this is asserted rather than inferred).
#[test]
fn tables_and_readers_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ferroplane_lpm::Lpm4>();
    send_sync::<ferroplane_lpm::Lpm6>();
    send_sync::<ferroplane_lpm::Lpm4Reader>();
    send_sync::<ferroplane_lpm::Lpm6Reader>();
}
