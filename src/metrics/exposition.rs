//! The Prometheus text exposition format for series rendered ahead of a
//! scrape: a typed list of metric families per source, each subject's
//! (domain's) lines kept per family, and a scrape that concatenates them.

use std::fmt::Write as _;
use std::marker::PhantomData;

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Goes up and down.
    Gauge,
    /// Only goes up; named `_total`.
    Counter,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// The metric families one source feeds (the probe today; report
/// ingestion next), as an enum: each variant is a family, in exposition
/// order, so no index is kept in sync by hand.
pub trait FamilySet: Copy + 'static {
    /// Every family, in exposition order (`ALL[f.index()] == f`).
    const ALL: &'static [Self];
    /// The family's position in [`ALL`](Self::ALL).
    fn index(self) -> usize;
    /// The metric name.
    fn name(self) -> &'static str;
    /// The metric type.
    fn kind(self) -> Kind;
    /// The `# HELP` text.
    fn help(self) -> &'static str;
}

/// One subject's exposition lines, one text per family of `F` (empty: no
/// series).
#[derive(Debug)]
pub struct FamilyLines<F> {
    lines: Vec<String>,
    families: PhantomData<F>,
}

impl<F: FamilySet> Default for FamilyLines<F> {
    fn default() -> Self {
        FamilyLines {
            lines: vec![String::new(); F::ALL.len()],
            families: PhantomData,
        }
    }
}

impl<F: FamilySet> FamilyLines<F> {
    /// The lines of `family`.
    pub fn get(&self, family: F) -> &str {
        &self.lines[family.index()]
    }

    /// Drops the lines of `family`.
    pub fn clear(&mut self, family: F) {
        self.lines[family.index()].clear();
    }

    /// Bytes held, over all families.
    pub fn len(&self) -> usize {
        self.lines.iter().map(String::len).sum()
    }

    /// Whether no family has a line.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(String::is_empty)
    }

    /// Appends one sample, `name{l1="v1",...} value`, to `family`. Labels
    /// in the order given (name order, as the `prometheus` crate writes
    /// them).
    pub fn sample(&mut self, family: F, labels: &[(&str, &str)], value: f64) {
        let out = &mut self.lines[family.index()];
        out.push_str(family.name());
        out.push('{');
        for (i, (name, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            escape_into(out, value);
            out.push('"');
        }
        out.push_str("} ");
        if value.is_nan() {
            out.push_str("NaN");
        } else {
            let _ = write!(out, "{value}");
        }
        out.push('\n');
    }
}

/// Writes a label value escaped for the text format.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// 1 for true, 0 for false.
pub fn flag(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

/// Writes every family of `F` that has a line: its `# HELP` and `# TYPE`,
/// then each subject's lines in the order given.
pub fn write_families<'a, F: FamilySet>(
    out: &mut Vec<u8>,
    subjects: impl Iterator<Item = &'a FamilyLines<F>> + Clone,
) {
    let total: usize = subjects.clone().map(FamilyLines::len).sum();
    out.reserve(total + F::ALL.len() * 200);
    for &family in F::ALL {
        if subjects.clone().all(|s| s.get(family).is_empty()) {
            continue;
        }
        let name = family.name();
        let header = format!(
            "# HELP {name} {}\n# TYPE {name} {}\n",
            family.help(),
            family.kind().as_str()
        );
        out.extend_from_slice(header.as_bytes());
        for subject in subjects.clone() {
            out.extend_from_slice(subject.get(family).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::probe::ProbeFamily;

    #[test]
    fn samples_are_escaped() {
        let mut lines = FamilyLines::<ProbeFamily>::default();
        let family = ProbeFamily::RecordInfo;
        lines.sample(family, &[("domain", "a\"b\\c\nd")], 1.0);
        assert_eq!(
            lines.get(family),
            "mtasts_record_info{domain=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
        let family = ProbeFamily::ProbeTimestamp;
        lines.sample(family, &[("domain", "a")], 1_795_899_555.25);
        assert_eq!(
            lines.get(family),
            "mtasts_probe_timestamp_seconds{domain=\"a\"} 1795899555.25\n"
        );
    }
}
