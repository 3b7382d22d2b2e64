//! Builds pktgen's XDP programs (bpf/) with clang and generates their libbpf-rs skeleton.

use std::{env, path::PathBuf};

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = env::var_os("CLANG").unwrap_or_else(|| "clang".into());
    let src = PathBuf::from("bpf/pktgen_xdp.bpf.c");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    if let Err(e) = SkeletonBuilder::new()
        .source(&src)
        .obj(out.join("pktgen_xdp.bpf.o"))
        .clang(&clang)
        .clang_args(["-I/usr/include/x86_64-linux-gnu", "-O2", "-g", "-Wall"])
        .build_and_generate(out.join("pktgen_xdp.skel.rs"))
    {
        panic!(
            "building {} failed (needs clang and the kernel/libbpf headers: apt install clang \
             libbpf-dev linux-libc-dev): {e:#}",
            src.display()
        );
    }
}
