//! Embedding Ferroplane: a two-port forwarder with a custom per-packet rule, in well under 100
//! lines. Frames received on one port leave on the other with their MAC addresses swapped,
//! except UDP datagrams to port 9 (discard), which are dropped and counted as `udp_discard`.
//!
//! ```text
//! cargo run --release -p ferroplane --example embed -- -l 0-1 --port null --port null --stats-period 1
//! ```

use clap::Parser;
use ferroplane::{BurstCtx, Engine, EngineArgs, Mbuf, MbufBurst, Worker};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    engine: EngineArgs,
}

/// Drop reasons, by index.
const UDP_DISCARD: usize = 0;

struct SwapAndFilter;

/// UDP destination port of an untagged IPv4 frame, if it is one.
fn udp_dst_port(f: &[u8]) -> Option<u16> {
    if f.len() < 42 || f[12..14] != [0x08, 0x00] || f[23] != 17 {
        return None;
    }
    let l4 = 14 + usize::from(f[14] & 0x0f) * 4;
    Some(u16::from_be_bytes([*f.get(l4 + 2)?, *f.get(l4 + 3)?]))
}

fn swap_macs(m: &mut Mbuf) {
    if let Some(d) = m.data_mut()
        && d.len() >= 12
    {
        for i in 0..6 {
            d.swap(i, i + 6);
        }
    }
}

impl Worker for SwapAndFilter {
    fn drop_reasons(&self) -> Vec<String> {
        vec!["udp_discard".into()]
    }

    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        let out = ctx.rx_port() ^ 1;
        for mut m in burst.drain(..) {
            if udp_dst_port(m.data()) == Some(9) {
                ctx.drop(m, UDP_DISCARD);
            } else {
                swap_macs(&mut m);
                ctx.tx(out, m);
            }
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = Engine::from_args(&cli.engine).and_then(|engine| {
        if engine.nb_ports() != 2 {
            eprintln!("embed: give exactly two ports (--port A --port B)");
            std::process::exit(1);
        }
        engine.run(|_| SwapAndFilter)
    });
    if let Err(e) = result {
        eprintln!("embed: {e}");
        std::process::exit(1);
    }
}
