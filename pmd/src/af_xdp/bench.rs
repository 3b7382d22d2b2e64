//! Benchmark helpers built from `pmd/bpf/xdp_redirect.bpf.c`: the kernel's own forwarding
//! ceiling (`XDP_REDIRECT` through a devmap) and a count-and-drop receiver. Each attached
//! program is detached when its guard drops.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle, Xdp, XdpFlags};

use super::sys;
use super::xdp::{XdpError, XdpMode};

crate::bpf_skeleton!(redirect_skel, "xdp_redirect.skel.rs");

/// Which benchmark program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchProgram {
    /// Redirect every frame to another interface.
    Redirect,
    /// Count and drop.
    CountDrop,
    /// `XDP_PASS` everything (a veth that is the target of a redirect needs an XDP program).
    Pass,
}

/// An attached benchmark program, detached on drop.
pub struct BenchXdp {
    prog: OwnedFd,
    counters: MapHandle,
    ifindex: i32,
    flags: u32,
    iface: String,
}

impl std::fmt::Debug for BenchXdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchXdp")
            .field("iface", &self.iface)
            .finish_non_exhaustive()
    }
}

fn iface_err(iface: &str) -> XdpError {
    XdpError::BadRule {
        rule: iface.to_string(),
        reason: "no such interface".into(),
    }
}

impl BenchXdp {
    /// Loads `which` and attaches it to `iface` (for [`BenchProgram::Redirect`], `target` is
    /// the interface frames are redirected to).
    pub fn attach(
        which: BenchProgram,
        iface: &str,
        target: Option<&str>,
        mode: XdpMode,
    ) -> Result<Self, XdpError> {
        let load = |source| XdpError::Load {
            program: "xdp_redirect",
            source,
        };
        let ifindex = sys::ifindex(iface).ok_or_else(|| iface_err(iface))? as i32;
        let mut storage = MaybeUninit::uninit();
        let open = redirect_skel::XdpRedirectSkelBuilder::default()
            .open(&mut storage)
            .map_err(load)?;
        let skel = open.load().map_err(load)?;
        if which == BenchProgram::Redirect {
            let t = target.ok_or_else(|| iface_err("(missing redirect target)"))?;
            let tidx = sys::ifindex(t).ok_or_else(|| iface_err(t))?;
            skel.maps
                .tx_port
                .update(&0u32.to_ne_bytes(), &tidx.to_ne_bytes(), MapFlags::ANY)
                .map_err(|source| XdpError::Map {
                    map: "tx_port",
                    op: "set target",
                    source,
                })?;
        }
        let p = match which {
            BenchProgram::Redirect => &skel.progs.xdp_redirect_dev,
            BenchProgram::CountDrop => &skel.progs.xdp_count_drop,
            BenchProgram::Pass => &skel.progs.xdp_pass_all,
        };
        let prog = p
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| load(libbpf_rs::Error::from(e)))?;
        let counters = MapHandle::try_from(&skel.maps.counters).map_err(load)?;
        drop(skel);
        let flags = match mode {
            XdpMode::Generic => XdpFlags::SKB_MODE,
            _ => XdpFlags::DRV_MODE,
        };
        Xdp::new(prog.as_fd())
            .attach(
                ifindex,
                XdpFlags::from_bits_retain(flags.bits() | XdpFlags::UPDATE_IF_NOEXIST.bits()),
            )
            .map_err(|source| XdpError::Attach {
                iface: iface.to_string(),
                mode: mode.name(),
                source,
            })?;
        Ok(BenchXdp {
            prog,
            counters,
            ifindex,
            flags: flags.bits(),
            iface: iface.to_string(),
        })
    }

    /// Frames and bytes seen by the program, summed over CPUs.
    pub fn counters(&self) -> (u64, u64) {
        let Ok(Some(v)) = self
            .counters
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        else {
            return (0, 0);
        };
        v.iter().fold((0, 0), |(p, b), c| {
            (
                p + u64::from_ne_bytes(c[0..8].try_into().unwrap_or_default()),
                b + u64::from_ne_bytes(c[8..16].try_into().unwrap_or_default()),
            )
        })
    }
}

impl Drop for BenchXdp {
    fn drop(&mut self) {
        let _ = Xdp::new(self.prog.as_fd())
            .detach(self.ifindex, XdpFlags::from_bits_retain(self.flags));
    }
}
