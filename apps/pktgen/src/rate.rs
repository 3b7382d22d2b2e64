//! Transmit rates: packets per second, bits per second, a percentage of line rate, or "max".

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::PktgenError;
use crate::traffic::L1_OVERHEAD;

/// A requested rate per TX port.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rate {
    /// As fast as the port takes frames.
    Max,
    /// Frames per second.
    Pps(f64),
    /// Bits per second of frames (FCS included, preamble and gap not).
    Bps(f64),
    /// Percent of the configured line rate, counting the 20 bytes of preamble and gap per frame.
    Percent(f64),
}

impl Rate {
    /// Frames per second for a mean frame size (FCS included) and a line rate; `None` for max.
    pub fn pps(&self, mean_frame: f64, line_bps: f64) -> Option<f64> {
        match *self {
            Rate::Max => None,
            Rate::Pps(p) => Some(p),
            Rate::Bps(b) => Some(b / (mean_frame * 8.0)),
            Rate::Percent(p) => {
                Some(line_bps * p / 100.0 / ((mean_frame + L1_OVERHEAD as f64) * 8.0))
            }
        }
    }
}

fn scaled(num: &str) -> Option<f64> {
    let num = num.trim();
    let (n, mult) = match num.char_indices().last()? {
        (i, 'k' | 'K') => (&num[..i], 1e3),
        (i, 'm' | 'M') => (&num[..i], 1e6),
        (i, 'g' | 'G') => (&num[..i], 1e9),
        _ => (num, 1.0),
    };
    let v: f64 = n.trim().parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v * mult)
}

impl FromStr for Rate {
    type Err = PktgenError;
    /// `max`, `50%`, `1.5Mpps`, `100000pps`, `10Gbps`, `400Mbit`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            PktgenError::Config(format!(
                "rate {s:?}: expected max, N%, Npps (k/M/G allowed) or Nbps/Nbit"
            ))
        };
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if v.is_nan() || v <= 0.0 || v > 100.0 {
                return Err(bad());
            }
            return Ok(Rate::Percent(v));
        }
        let lower = t.to_ascii_lowercase();
        if let Some(n) = lower.strip_suffix("pps") {
            return scaled(n).map(Rate::Pps).ok_or_else(bad);
        }
        for suf in ["bps", "bit/s", "bit"] {
            if let Some(n) = lower.strip_suffix(suf) {
                return scaled(n).map(Rate::Bps).ok_or_else(bad);
            }
        }
        Err(bad())
    }
}

impl TryFrom<String> for Rate {
    type Error = PktgenError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Rate> for String {
    fn from(r: Rate) -> String {
        match r {
            Rate::Max => "max".into(),
            Rate::Pps(p) => format!("{p}pps"),
            Rate::Bps(b) => format!("{b}bps"),
            Rate::Percent(p) => format!("{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("max".parse::<Rate>().unwrap(), Rate::Max);
        assert_eq!("1.5Mpps".parse::<Rate>().unwrap(), Rate::Pps(1.5e6));
        assert_eq!("100000 pps".parse::<Rate>().unwrap(), Rate::Pps(1e5));
        assert_eq!("10Gbps".parse::<Rate>().unwrap(), Rate::Bps(1e10));
        assert_eq!("400Mbit".parse::<Rate>().unwrap(), Rate::Bps(4e8));
        assert_eq!("50%".parse::<Rate>().unwrap(), Rate::Percent(50.0));
        for bad in ["", "fast", "0pps", "-5pps", "150%", "10 furlongs"] {
            let e = bad.parse::<Rate>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn converts_to_pps() {
        // 10 Gbit/s line, 64-byte frames: 14.88 Mpps at 100 %.
        let p = Rate::Percent(100.0).pps(64.0, 1e10).unwrap();
        assert!((p - 14_880_952.0).abs() < 1.0, "{p}");
        assert_eq!(Rate::Bps(512_000.0).pps(64.0, 1e10), Some(1000.0));
        assert_eq!(Rate::Max.pps(64.0, 1e10), None);
    }
}
