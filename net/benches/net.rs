//! Criterion benches: packet-type parsing of a 64-byte IPv4/UDP frame and an IPv6/TCP frame,
//! and the Internet checksum of 1500 bytes (ours and etherparse's).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ferroplane_net::builder::{FrameSpec, IpSpec, L4Spec};
use ferroplane_net::ipv6::Ipv6Repr;
use ferroplane_net::options::HeaderOptions;
use ferroplane_net::tcp::TcpRepr;
use ferroplane_net::{MacAddr, checksum, parse};

fn frames() -> (Vec<u8>, Vec<u8>) {
    let udp = FrameSpec::udp(
        MacAddr([2; 6]),
        MacAddr([4; 6]),
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        1,
        2,
    )
    .unwrap();
    let mut a = vec![0u8; 64];
    let n = udp.build(&[0u8; 18], &mut a).unwrap();
    a.truncate(n);
    let tcp = FrameSpec {
        ip: IpSpec::V6(Ipv6Repr::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            0,
            0,
        )),
        l4: L4Spec::Tcp(TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: 0x18,
            window: 5,
            urgent: 0,
            options: HeaderOptions::new(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).unwrap(),
            payload_len: 0,
        }),
        ..udp
    };
    let mut b = vec![0u8; 256];
    let n = tcp.build(&[0u8; 100], &mut b).unwrap();
    b.truncate(n);
    (a, b)
}

fn bench(c: &mut Criterion) {
    let (udp4, tcp6) = frames();
    c.bench_function("ptype/ipv4_udp_64B", |b| b.iter(|| parse(black_box(&udp4))));
    c.bench_function("ptype/ipv6_tcp", |b| b.iter(|| parse(black_box(&tcp6))));
    let data: Vec<u8> = (0..1500u32).map(|i| (i * 131 + 7) as u8).collect();
    c.bench_function("checksum/ours_1500B", |b| {
        b.iter(|| checksum::sum(black_box(&data)))
    });
    c.bench_function("checksum/etherparse_1500B", |b| {
        b.iter(|| {
            etherparse::checksum::Sum16BitWords::new()
                .add_slice(black_box(&data))
                .ones_complement()
        })
    });
    c.bench_function("checksum/ours_ipv4_header_20B", |b| {
        b.iter(|| checksum::checksum(black_box(&data[..20])))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
