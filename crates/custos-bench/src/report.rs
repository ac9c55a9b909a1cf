//! The results of one suite run: the JSON document, a plain-text table and an SVG plot of
//! throughput and p99 latency against concurrency.
use crate::raw::RawSigning;
use crate::stats::Measurement;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Format version of this document.
    pub version: u32,
    /// Unix seconds when the run started.
    pub started_at_unix: u64,
    /// Where it ran.
    pub machine: Machine,
    /// How it was run.
    pub params: serde_json::Value,
    /// Measured curves, one per server configuration and endpoint.
    pub series: Vec<Series>,
    /// The in-process signing baseline, one entry per thread count.
    pub raw_ed25519: Vec<RawSigning>,
    /// Scenario 5's baseline: raw `C_Sign` (Ed25519) on the SoftHSM2 token with a token key (the
    /// kind every agent key is), per thread count.
    #[serde(default)]
    pub raw_pkcs11: Vec<RawSigning>,
    /// The same with a session key (memory only), for comparison.
    #[serde(default)]
    pub raw_pkcs11_session_key: Vec<RawSigning>,
    /// The scenarios' ratios.
    pub ratios: Vec<Ratio>,
    /// Scenarios that cannot be measured on this build yet.
    pub pending: Vec<Pending>,
    /// Remarks on method.
    pub notes: Vec<String>,
}

/// The machine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// `/proc/loadavg` when the run started (other work on the machine skews figures).
    pub loadavg_at_start: String,
    /// `/proc/loadavg` when the run ended.
    pub loadavg_at_end: String,
}

impl Machine {
    /// Reads what Linux says about this machine.
    pub fn probe() -> Self {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            kernel: read("/proc/sys/kernel/osrelease"),
            loadavg_at_start: read("/proc/loadavg"),
            loadavg_at_end: String::new(),
        }
    }
}

/// One curve: a server configuration and endpoint at several concurrencies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Series {
    /// Short id, e.g. `custos_sign_store`.
    pub id: String,
    /// What was driven, in words.
    pub description: String,
    /// One measurement per concurrency (or per offered rate).
    pub points: Vec<Measurement>,
}

/// A scenario's figure: a ratio of two figures from this run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ratio {
    /// Issue 6 scenario number.
    pub scenario: u8,
    /// Short id.
    pub id: String,
    /// What the numerator is.
    pub numerator_label: String,
    /// Its value.
    pub numerator: f64,
    /// What the denominator is.
    pub denominator_label: String,
    /// Its value.
    pub denominator: f64,
    /// numerator ÷ denominator.
    pub value: f64,
    /// The target, e.g. `>= 0.25`.
    pub target: String,
    /// Whether the target is met.
    pub met: bool,
    /// The ratio in each round, when the two sides were measured alternately
    /// ([`crate::rounds`]); `value` is their median. Empty for a single measurement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<f64>,
}

/// How a ratio is judged.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// At least this.
    AtLeast(f64),
    /// At most this.
    AtMost(f64),
}

impl Ratio {
    /// Builds a ratio and judges it.
    pub fn new(scenario: u8, id: &str, num: (&str, f64), den: (&str, f64), target: Target) -> Self {
        let value = if den.1 > 0.0 { num.1 / den.1 } else { f64::NAN };
        let (target, met) = match target {
            Target::AtLeast(t) => (format!(">= {t}"), value >= t),
            Target::AtMost(t) => (format!("<= {t}"), value <= t),
        };
        Self {
            scenario,
            id: id.to_owned(),
            numerator_label: num.0.to_owned(),
            numerator: num.1,
            denominator_label: den.0.to_owned(),
            denominator: den.1,
            value,
            target,
            met,
            rounds: Vec::new(),
        }
    }

    /// A ratio of two sides measured alternately: numerator and denominator are each side's
    /// median, `value` the median of the per-round ratios (so a drift of the machine between
    /// rounds cancels), judged against `target`.
    pub fn from_rounds(
        scenario: u8,
        id: &str,
        num: (&str, &[f64]),
        den: (&str, &[f64]),
        target: Target,
    ) -> Self {
        let rounds = crate::rounds::per_round(num.1, den.1);
        let med = |v: &[f64]| crate::rounds::median(v).unwrap_or(f64::NAN);
        let mut r = Self::new(
            scenario,
            id,
            (num.0, med(num.1)),
            (den.0, med(den.1)),
            target,
        );
        let value = med(&rounds);
        let (target, met) = match target {
            Target::AtLeast(t) => (format!(">= {t}"), value >= t),
            Target::AtMost(t) => (format!("<= {t}"), value <= t),
        };
        r.value = value;
        r.target = target;
        r.met = met;
        r.rounds = rounds;
        r
    }

    /// The smallest and largest per-round ratio, if there were rounds.
    pub fn spread(&self) -> Option<(f64, f64)> {
        let lo = self.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .rounds
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (!self.rounds.is_empty()).then_some((lo, hi))
    }
}

/// A scenario this build cannot measure yet, and what it waits for.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Pending {
    /// Issue 6 scenario number.
    pub scenario: u8,
    /// Short id.
    pub id: String,
    /// Why not, and what would make it measurable.
    pub reason: String,
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "machine: {} CPUs, kernel {}, loadavg at start {} / end {}",
        r.machine.cpus, r.machine.kernel, r.machine.loadavg_at_start, r.machine.loadavg_at_end
    );
    let _ = writeln!(
        out,
        "\n{:<28} {:>5} {:>10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}  statuses",
        "series", "conc", "req/s", "requests", "errors", "p50 µs", "p90 µs", "p99 µs", "max µs"
    );
    for s in &r.series {
        for p in &s.points {
            let statuses: Vec<String> = p
                .by_status
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            let _ = writeln!(
                out,
                "{:<28} {:>5} {:>10.0} {:>9} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>9.0}  {}{}",
                s.id,
                p.concurrency,
                p.goodput,
                p.requests,
                p.errors(),
                p.latency.p50_us,
                p.latency.p90_us,
                p.latency.p99_us,
                p.latency.max_us,
                statuses.join(" "),
                p.offered_rate
                    .map(|o| format!(" (offered {o:.0}/s)"))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<28} {:>7} {:>12} {:>9} {:>9}",
        "raw ed25519 (in-process)", "threads", "sigs/s", "p50 µs", "p99 µs"
    );
    for w in &r.raw_ed25519 {
        let _ = writeln!(
            out,
            "{:<28} {:>7} {:>12.0} {:>9.1} {:>9.1}",
            "", w.threads, w.per_second, w.latency.p50_us, w.latency.p99_us
        );
    }
    for (title, rows) in [
        ("raw C_Sign, token key", &r.raw_pkcs11),
        ("raw C_Sign, session key", &r.raw_pkcs11_session_key),
    ] {
        for (i, w) in rows.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:<28} {:>7} {:>12.0} {:>9.1} {:>9.1}",
                if i == 0 { title } else { "" },
                w.threads,
                w.per_second,
                w.latency.p50_us,
                w.latency.p99_us
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<3} {:<34} {:>9} {:>15} {:>10}  {:<5}  numerator ÷ denominator (medians)",
        "#", "ratio", "value", "rounds min-max", "target", "met"
    );
    for q in &r.ratios {
        let spread = q
            .spread()
            .map(|(lo, hi)| format!("{lo:.3}-{hi:.3}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<3} {:<34} {:>9.3} {:>15} {:>10}  {:<5}  {} {:.1} ÷ {} {:.1}",
            q.scenario,
            q.id,
            q.value,
            spread,
            q.target,
            if q.met { "yes" } else { "NO" },
            q.numerator_label,
            q.numerator,
            q.denominator_label,
            q.denominator
        );
    }
    for p in &r.pending {
        let _ = writeln!(
            out,
            "{:<3} {:<34} not yet measurable: {}",
            p.scenario, p.id, p.reason
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// A plotted curve: label, then (concurrency, throughput, p99 µs) per point.
type Curve = (String, Vec<(f64, f64, f64)>);

const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// A log-log SVG plot: throughput (left) and p99 latency (right) against concurrency for the
/// series named in `ids` (in that order), plus raw signing throughput when `with_raw`.
pub fn svg(r: &Report, ids: &[&str], with_raw: bool) -> String {
    let mut curves: Vec<Curve> = ids
        .iter()
        .filter_map(|id| r.series.iter().find(|s| s.id == *id))
        .filter(|s| s.points.len() > 1)
        .map(|s| {
            (
                s.id.clone(),
                s.points
                    .iter()
                    .map(|p| (p.concurrency as f64, p.goodput, p.latency.p99_us))
                    .collect(),
            )
        })
        .collect();
    if with_raw && r.raw_ed25519.len() > 1 {
        curves.push((
            "raw_ed25519_in_process".into(),
            r.raw_ed25519
                .iter()
                .map(|w| (w.threads as f64, w.per_second, w.latency.p99_us))
                .collect(),
        ));
    }
    let (w, h, pad) = (1000.0_f64, 420.0_f64, 60.0_f64);
    let panel_w = w / 2.0 - pad * 1.5;
    let panel_h = h - pad * 2.5;
    let xs: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.0))
        .collect();
    let (xmin, xmax) = bounds(&xs);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (panel, title, pick) in [
        (0usize, "throughput (req/s, log)", 1usize),
        (1, "p99 latency (µs, log)", 2),
    ] {
        let ox = pad + panel as f64 * (w / 2.0);
        let oy = pad;
        let ys: Vec<f64> = curves
            .iter()
            .filter(|c| panel == 0 || c.0 != "raw_ed25519_in_process")
            .flat_map(|c| c.1.iter().map(|p| if pick == 1 { p.1 } else { p.2 }))
            .filter(|v| *v > 0.0)
            .collect();
        let (ymin, ymax) = bounds(&ys);
        let sx = |x: f64| {
            ox + (x.log2() - xmin.log2()) / (xmax.log2() - xmin.log2()).max(1e-9) * panel_w
        };
        let sy = |y: f64| {
            oy + panel_h
                - (y.log10() - ymin.log10()) / (ymax.log10() - ymin.log10()).max(1e-9) * panel_h
        };
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{title}</text>"#,
            ox + panel_w / 2.0,
            oy - 15.0
        );
        let _ = writeln!(
            out,
            r#"<rect x="{ox}" y="{oy}" width="{panel_w}" height="{panel_h}" fill="none" stroke="black"/>"#
        );
        // Decade grid on y, each measured concurrency on x.
        let mut d = 10f64.powf(ymin.log10().floor());
        while d <= ymax * 1.0001 {
            if d >= ymin * 0.9999 {
                let y = sy(d);
                let _ = writeln!(
                    out,
                    r##"<line x1="{ox}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                    ox + panel_w,
                    ox - 4.0,
                    y + 4.0,
                    human(d)
                );
            }
            d *= 10.0;
        }
        let mut xticks = xs.clone();
        xticks.sort_by(f64::total_cmp);
        xticks.dedup();
        for x in xticks {
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle">{x}</text>"#,
                sx(x),
                oy + panel_h + 16.0
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">concurrency (connections / threads)</text>"#,
            ox + panel_w / 2.0,
            oy + panel_h + 34.0
        );
        for (i, (label, pts)) in curves.iter().enumerate() {
            if panel == 1 && label == "raw_ed25519_in_process" {
                continue;
            }
            let color = COLORS[i % COLORS.len()];
            let path: Vec<String> = pts
                .iter()
                .filter(|p| (if pick == 1 { p.1 } else { p.2 }) > 0.0)
                .map(|p| {
                    format!(
                        "{:.1},{:.1}",
                        sx(p.0),
                        sy(if pick == 1 { p.1 } else { p.2 })
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                path.join(" ")
            );
            for pt in &path {
                if let Some((x, y)) = pt.split_once(',') {
                    let _ = writeln!(out, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
                }
            }
        }
    }
    for (i, (label, _)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let x = pad + (i as f64 % 3.0) * 300.0;
        let y = h - 30.0 + (i / 3) as f64 * 16.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{label}</text>"#,
            y - 10.0,
            x + 16.0,
            y
        );
    }
    out.push_str("</svg>\n");
    out
}

fn bounds(v: &[f64]) -> (f64, f64) {
    let lo = v
        .iter()
        .copied()
        .filter(|x| *x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    if !lo.is_finite() || hi <= 0.0 {
        return (1.0, 10.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        return (lo / 2.0, hi * 2.0);
    }
    (lo / 1.2, hi * 1.2)
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_judges_its_target() {
        let r = Ratio::new(1, "x", ("a", 1.0), ("b", 4.0), Target::AtLeast(0.25));
        assert!(r.met);
        assert!((r.value - 0.25).abs() < 1e-12);
        let r = Ratio::new(1, "x", ("a", 6.0), ("b", 1.0), Target::AtMost(5.0));
        assert!(!r.met);
        let r = Ratio::new(1, "x", ("a", 6.0), ("b", 0.0), Target::AtLeast(0.0));
        assert!(!r.met, "a missing denominator never meets a target");
    }

    #[test]
    fn a_ratio_of_rounds_is_the_median_of_the_per_round_ratios() {
        // Round 3 ran on a machine half as fast: both sides halved, the ratio did not move.
        let r = Ratio::from_rounds(
            2,
            "x",
            ("a", &[70.0, 80.0, 35.0]),
            ("b", &[100.0, 100.0, 50.0]),
            Target::AtLeast(0.75),
        );
        assert_eq!(r.rounds, vec![0.7, 0.8, 0.7]);
        assert!((r.value - 0.7).abs() < 1e-12);
        assert!(!r.met);
        assert_eq!(r.spread(), Some((0.7, 0.8)));
        assert_eq!((r.numerator, r.denominator), (70.0, 100.0));
        let r = Ratio::from_rounds(6, "y", ("a", &[1.0]), ("b", &[]), Target::AtMost(1.0));
        assert!(r.value.is_nan() && !r.met, "no rounds never meets a target");
        assert!(
            Ratio::new(1, "z", ("a", 1.0), ("b", 2.0), Target::AtLeast(0.1))
                .spread()
                .is_none()
        );
    }

    #[test]
    fn svg_has_one_polyline_per_curve_and_panel() {
        let mut rep = Report::default();
        for id in ["a", "b"] {
            rep.series.push(Series {
                id: id.into(),
                description: String::new(),
                points: [1usize, 2, 4]
                    .iter()
                    .map(|c| Measurement {
                        concurrency: *c,
                        goodput: 100.0 * *c as f64,
                        ..Default::default()
                    })
                    .collect(),
            });
        }
        let s = svg(&rep, &["a", "b", "missing"], false);
        assert_eq!(s.matches("<polyline").count(), 4);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    }
}
