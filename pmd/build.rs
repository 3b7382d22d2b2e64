//! Builds the XDP programs in `bpf/` with clang and generates their libbpf-rs
//! skeletons into `OUT_DIR` (only with the `af_xdp` feature).

fn main() {
    #[cfg(feature = "af_xdp")]
    af_xdp::build();
}

#[cfg(feature = "af_xdp")]
mod af_xdp {
    use std::{env, path::PathBuf};

    use libbpf_cargo::SkeletonBuilder;

    /// The XDP programs: (source in bpf/, skeleton file name).
    const PROGRAMS: &[(&str, &str)] = &[
        ("xdp_steer.bpf.c", "xdp_steer.skel.rs"),
        ("xdp_redirect.bpf.c", "xdp_redirect.skel.rs"),
    ];

    pub fn build() {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        let clang = env::var_os("CLANG").unwrap_or_else(|| "clang".into());
        for (src, skel) in PROGRAMS {
            let src = PathBuf::from("bpf").join(src);
            let obj = out.join(src.file_name().unwrap()).with_extension("o");
            println!("cargo:rerun-if-changed={}", src.display());
            if let Err(e) = SkeletonBuilder::new()
                .source(&src)
                .obj(&obj)
                .clang(&clang)
                .clang_args(["-I/usr/include/x86_64-linux-gnu", "-O2", "-g", "-Wall"])
                .build_and_generate(out.join(skel))
            {
                panic!(
                    "building the XDP program {} failed (needs clang and the kernel/libbpf \
                     headers: apt install clang libbpf-dev linux-libc-dev): {e:#}",
                    src.display()
                );
            }
        }
        println!("cargo:rerun-if-env-changed=CLANG");
    }
}
