#!/usr/bin/python3
"""Regenerates frames.txt: frames built by scapy (an independent implementation) whose
checksums and fields net/tests/scapy_frames.rs checks against ferroplane-net.

Run: /usr/bin/python3 net/tests/data/gen_frames.py  (needs python3-scapy; the test does not).
Each line: name <TAB> hex of the frame. The test re-derives every field from our parser and
recomputes every checksum, so the file carries no expected values besides the frames.
"""
import os
from scapy.all import Ether, Dot1Q, Dot1AD, IP, IPv6, UDP, TCP, ICMP, ICMPv6EchoRequest, \
    ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, IPv6ExtHdrHopByHop, \
    IPv6ExtHdrRouting, IPv6ExtHdrFragment, IPv6ExtHdrDestOpt, ARP, GRE, VXLAN, Raw, IPOption_RR

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
frames = []


def add(name, pkt):
    frames.append((name, bytes(pkt)))


for i, plen in enumerate([0, 1, 18, 19, 100, 1001, 1458]):
    pay = bytes((j * 7 + i) & 0xff for j in range(plen))
    add(f"udp4_{plen}", Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.%d.2" % i, ttl=64 - i, id=i) /
        UDP(sport=1000 + i, dport=2000) / Raw(pay))
    add(f"tcp4_{plen}", Ether(src=M1, dst=M2) / IP(src="192.0.2.%d" % (i + 1), dst="198.51.100.7") /
        TCP(sport=40000 + i, dport=80, seq=0x12345678 + i, ack=99, flags="PA", window=501) / Raw(pay))
    add(f"udp6_{plen}", Ether(src=M1, dst=M2) / IPv6(src="2001:db8::%x" % (i + 1), dst="2001:db8:1::2", hlim=63) /
        UDP(sport=5353, dport=5353) / Raw(pay))
    add(f"tcp6_{plen}", Ether(src=M1, dst=M2) / IPv6(src="fe80::1", dst="fe80::%x" % (i + 2)) /
        TCP(sport=22, dport=50000 + i, flags="S", options=[("MSS", 1440), ("NOP", None), ("WScale", 7)]) / Raw(pay))
add("icmp4_echo", Ether(src=M1, dst=M2) / IP(src="10.1.1.1", dst="10.1.1.2") / ICMP(id=0x4242, seq=7) / Raw(b"abcdefgh" * 7))
add("icmp6_echo", Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=9, seq=3, data=b"x" * 33))
add("ndp_ns", Ether(src=M1, dst="33:33:ff:00:00:02") / IPv6(src="fe80::1", dst="ff02::1:ff00:2", hlim=255) /
    ICMPv6ND_NS(tgt="2001:db8::2") / ICMPv6NDOptSrcLLAddr(lladdr=M1))
add("ndp_na", Ether(src=M2, dst=M1) / IPv6(src="2001:db8::2", dst="fe80::1", hlim=255) /
    ICMPv6ND_NA(tgt="2001:db8::2", R=1, S=1, O=0) / ICMPv6NDOptDstLLAddr(lladdr=M2))
add("ipv4_options_udp", Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.9", options=[IPOption_RR(routers=["1.2.3.4"])]) /
    UDP(sport=7, dport=7) / Raw(b"opt"))
add("vlan_udp4", Ether(src=M1, dst=M2) / Dot1Q(vlan=100, prio=5) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"v" * 20))
add("qinq_tcp6", Ether(src=M1, dst=M2) / Dot1AD(vlan=20) / Dot1Q(vlan=300) / IPv6(src="::1", dst="::2") / TCP(sport=3, dport=4) / Raw(b"q"))
add("ipv6_ext_udp", Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() /
    IPv6ExtHdrRouting(addresses=["2001:db8::3"], segleft=0) / IPv6ExtHdrDestOpt() / UDP(sport=9, dport=9) / Raw(b"ext"))
add("ipv6_frag_first", Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2") /
    IPv6ExtHdrFragment(offset=0, m=1, id=0xabcd) / UDP(sport=9, dport=9) / Raw(b"f" * 16))
add("ipv4_frag_second", Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2", proto=17, frag=185, flags=0) / Raw(b"z" * 40))
add("arp_request", Ether(src=M1, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=M1, psrc="10.0.0.1", pdst="10.0.0.2"))
add("gre_ipv4", Ether(src=M1, dst=M2) / IP(src="172.16.0.1", dst="172.16.0.2") / GRE(key_present=1, key=77, chksum_present=1) /
    IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=11, dport=12) / Raw(b"gre"))
add("vxlan_udp4", Ether(src=M1, dst=M2) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=49152, dport=4789) /
    VXLAN(vni=5000, flags=0x08) / Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") /
    IP(src="10.10.0.1", dst="10.10.0.2") / TCP(sport=1234, dport=443, flags="A") / Raw(b"inner payload"))
add("vxlan_ipv6_outer", Ether(src=M1, dst=M2) / IPv6(src="2001:db8::a", dst="2001:db8::b") / UDP(sport=50000, dport=4789) /
    VXLAN(vni=7, flags=0x08) / Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / Dot1Q(vlan=5) /
    IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=53, dport=53) / Raw(b"dns?"))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frames.txt")
with open(out, "w") as f:
    for name, b in frames:
        f.write(f"{name}\t{b.hex()}\n")
print(f"wrote {len(frames)} frames to {out}")
