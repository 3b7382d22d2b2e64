//! Plots (SVG and PNG through plotters): throughput against frame size, latency CDF, and the
//! bench suite's ours/DPDK ratios.
//!
//! Each function writes `<stem>.svg` and `<stem>.png`. Text is drawn with ab_glyph from a
//! TrueType font file (no fontconfig): DejaVu Sans from Debian's `fonts-dejavu-core`, or the file
//! named by `FERROPLANE_PLOT_FONT`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::PktgenError;

/// Font files tried in order when `FERROPLANE_PLOT_FONT` is not set.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/lato/Lato-Regular.ttf",
];

const SIZE: (u32, u32) = (900, 560);
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// One named line of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

fn plot_err(path: &Path, reason: impl std::fmt::Display) -> PktgenError {
    PktgenError::Plot {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Registers the font once per process; the error names the files tried.
fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<String> = match std::env::var("FERROPLANE_PLOT_FONT") {
            Ok(p) => vec![p],
            Err(_) => FONT_CANDIDATES.iter().map(|s| s.to_string()).collect(),
        };
        for c in &candidates {
            if let Ok(bytes) = std::fs::read(c) {
                // plotters keeps registered fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "no usable TrueType font (tried {}; install fonts-dejavu-core or set FERROPLANE_PLOT_FONT)",
            candidates.join(", ")
        ))
    })
    .clone()
}

/// What to draw: each variant is drawn by a generic function over the backend.
enum Chart<'a> {
    Lines {
        title: &'a str,
        x_desc: &'a str,
        y_desc: &'a str,
        series: &'a [Series],
        log_x: bool,
    },
    Ratios {
        title: &'a str,
        rows: &'a [(String, f64)],
    },
}

fn render(stem: &Path, chart: &Chart<'_>) -> Result<[PathBuf; 2], PktgenError> {
    ensure_font().map_err(|e| plot_err(stem, e))?;
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let height = match chart {
        Chart::Ratios { rows, .. } => (120 + 28 * rows.len() as u32).max(SIZE.1 / 2),
        Chart::Lines { .. } => SIZE.1,
    };
    {
        let root = SVGBackend::new(&svg, (SIZE.0, height)).into_drawing_area();
        draw_chart(&root, chart).map_err(|e| plot_err(&svg, e))?;
        root.present().map_err(|e| plot_err(&svg, e))?;
    }
    {
        let root = BitMapBackend::new(&png, (SIZE.0, height)).into_drawing_area();
        draw_chart(&root, chart).map_err(|e| plot_err(&png, e))?;
        root.present().map_err(|e| plot_err(&png, e))?;
    }
    Ok([svg, png])
}

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart<'_>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match chart {
        Chart::Lines {
            title,
            x_desc,
            y_desc,
            series,
            log_x,
        } => draw_lines(root, title, x_desc, y_desc, series, *log_x),
        Chart::Ratios { title, rows } => draw_ratios(root, title, rows),
    }
}

/// The range of `v` padded by 5 % (a unit range around a single value).
fn padded(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (
            lo - 0.5_f64.max(lo.abs() * 0.1),
            hi + 0.5_f64.max(hi.abs() * 0.1),
        );
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// A tick label without needless decimals: 1000, 2.5, 0.25.
fn tick(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    log_x: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let xs = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (y0, y1) = padded(ys());
    // Rates and percentiles start at zero.
    let y0 = if ys().all(|y| y >= 0.0) { 0.0 } else { y0 };
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 24))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(70);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|x| tick(*x))
                .y_label_formatter(&|y| tick(*y))
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17))
                .draw()
                .map_err(|x| e(&x))?;
            for (i, s) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|x| e(&x))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                    });
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(|x| e(&x))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|x| e(&x))?;
        }};
    }
    if log_x {
        let lo = xs().filter(|x| *x > 0.0).fold(f64::INFINITY, f64::min);
        let hi = xs().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() && hi > lo {
            (lo / 1.2, hi * 1.2)
        } else if lo.is_finite() {
            (lo / 2.0, lo * 2.0)
        } else {
            (0.1, 10.0)
        };
        finish!(
            builder
                .build_cartesian_2d((lo..hi).log_scale(), y0..y1)
                .map_err(|x| e(&x))?
        );
    } else {
        let (x0, x1) = padded(xs());
        finish!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|x| e(&x))?
        );
    }
    Ok(())
}

fn draw_ratios<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[(String, f64)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let n = rows.len().max(1);
    let xmax = rows
        .iter()
        .map(|r| r.1)
        .filter(|x| x.is_finite())
        .fold(1.2_f64, f64::max)
        * 1.1;
    let longest = rows.iter().map(|r| r.0.len()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size((longest * 8 + 20).min(420))
        .build_cartesian_2d(0.0..xmax, 0.0..n as f64)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            // Labels sit at bar centres (i + 0.5); row 0 at the top.
            let f = y - y.floor();
            if (f - 0.5).abs() < 0.01 {
                rows.get(n - 1 - y.floor() as usize)
                    .map(|r| r.0.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("ours / DPDK (cost per item: below 1 = Ferroplane faster)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (_, r))| {
            let y = (n - 1 - i) as f64;
            let color = if *r <= 1.0 { PALETTE[2] } else { PALETTE[1] };
            Rectangle::new([(0.0, y + 0.15), (r.max(0.0), y + 0.85)], color.filled())
        }))
        .map_err(|x| e(&x))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, 0.0), (1.0, n as f64)],
            BLACK.stroke_width(2),
        )))
        .map_err(|x| e(&x))?;
    Ok(())
}

/// Throughput (Mpps) against frame size, one line per series (x: bytes, y: frames/s).
pub fn throughput_vs_size(
    stem: &Path,
    title: &str,
    series: &[Series],
) -> Result<[PathBuf; 2], PktgenError> {
    let scaled: Vec<Series> = series
        .iter()
        .map(|s| Series {
            name: s.name.clone(),
            points: s.points.iter().map(|&(x, y)| (x, y / 1e6)).collect(),
        })
        .collect();
    render(
        stem,
        &Chart::Lines {
            title,
            x_desc: "frame size (bytes, with FCS)",
            y_desc: "throughput (Mpps)",
            series: &scaled,
            log_x: false,
        },
    )
}

/// Latency CDF, one line per series of (percentile, nanoseconds) points (as in
/// [`Report::latency_cdf`](crate::Report)); drawn with latency in microseconds on a log axis.
pub fn latency_cdf(
    stem: &Path,
    title: &str,
    series: &[(String, Vec<(f64, u64)>)],
) -> Result<[PathBuf; 2], PktgenError> {
    let lines: Vec<Series> = series
        .iter()
        .map(|(name, cdf)| Series {
            name: name.clone(),
            points: cdf
                .iter()
                .map(|&(p, ns)| ((ns as f64 / 1e3).max(0.001), p))
                .collect(),
        })
        .collect();
    render(
        stem,
        &Chart::Lines {
            title,
            x_desc: "latency (us, log scale)",
            y_desc: "percentile",
            series: &lines,
            log_x: true,
        },
    )
}

/// Horizontal bars of ours/DPDK ratios, one per (label, ratio), with a line at 1.
pub fn ratios(
    stem: &Path,
    title: &str,
    rows: &[(String, f64)],
) -> Result<[PathBuf; 2], PktgenError> {
    render(stem, &Chart::Ratios { title, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font_present() -> bool {
        ensure_font().is_ok()
    }

    fn png_size(p: &Path) -> (u32, u32) {
        let b = std::fs::read(p).unwrap();
        assert_eq!(&b[1..4], b"PNG", "{} is not a PNG", p.display());
        (
            u32::from_be_bytes(b[16..20].try_into().unwrap()),
            u32::from_be_bytes(b[20..24].try_into().unwrap()),
        )
    }

    #[test]
    fn tick_labels() {
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(tick(12.25), "12.2");
    }

    #[test]
    fn padded_ranges() {
        assert_eq!(padded([1.0, 3.0].into_iter()), (0.9, 3.1));
        let (a, b) = padded([5.0].into_iter());
        assert!(a < 5.0 && b > 5.0);
        assert_eq!(padded(std::iter::empty()), (0.0, 1.0));
    }

    #[test]
    fn writes_svg_and_png_for_each_chart() {
        if !font_present() {
            eprintln!("skipping: {}", ensure_font().unwrap_err());
            return;
        }
        let dir = std::env::temp_dir().join(format!("fp-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tp = throughput_vs_size(
            &dir.join("tput"),
            "throughput",
            &[Series {
                name: "ours".into(),
                points: vec![(64.0, 3e6), (512.0, 1.5e6), (1518.0, 0.8e6)],
            }],
        )
        .unwrap();
        let cdf = latency_cdf(
            &dir.join("cdf"),
            "latency",
            &[(
                "run".into(),
                vec![(0.0, 900), (50.0, 2_000), (99.0, 9_000), (100.0, 40_000)],
            )],
        )
        .unwrap();
        let bars = ratios(
            &dir.join("ratios"),
            "ratios",
            &[("ring/a".into(), 0.8), ("lpm/b".into(), 1.3)],
        )
        .unwrap();
        for [svg, png] in [tp, cdf, bars] {
            let text = std::fs::read_to_string(&svg).unwrap();
            assert!(text.starts_with("<svg"), "{}", svg.display());
            assert!(text.contains("<text"), "no labels in {}", svg.display());
            let (w, h) = png_size(&png);
            assert_eq!(w, SIZE.0);
            assert!(h >= SIZE.1 / 2);
        }
        // The legend names the series.
        assert!(
            std::fs::read_to_string(dir.join("tput.svg"))
                .unwrap()
                .contains("ours")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        if !font_present() {
            return;
        }
        let e = latency_cdf(
            Path::new("/nonexistent-dir/x"),
            "t",
            &[("a".into(), vec![(50.0, 1000)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x"), "{e}");
    }
}
