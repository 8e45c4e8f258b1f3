//! The Prometheus text exposition format for series rendered ahead of a
//! scrape: a typed list of metric families per source, each subject's
//! (domain's) lines kept per family, and a scrape that concatenates them.
//!
//! A scrape takes an [`Exposition`]: a snapshot that shares each subject's
//! lines (copy on write, so a probe finishing during the scrape copies its
//! domain's lines instead of waiting) and writes the answer in chunks of
//! about [`CHUNK_BYTES`], so no scrape holds a full copy of the exposition.

use super::openmetrics;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::Arc;

/// The size a chunk of a streamed exposition grows to before it is handed
/// on (one subject's lines are never split, so a chunk may be a little
/// larger).
pub const CHUNK_BYTES: usize = 64 * 1024;

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
/// series). Cloning shares the text; the first change after a clone copies
/// it (a scrape's snapshot keeps what it took).
///
/// The families' texts are kept end to end in one `String`, in family
/// order, with where each family's text ends: one allocation per subject
/// instead of one per family (issue 18: 33 strings, each with room to
/// grow, held twice the text at 100,000 domains). A line whose first label
/// is the subject's (`domain="example.com"`, the first label of the first
/// sample) is kept without its metric name and that label, which a scrape
/// writes back: three quarters of the text were those.
#[derive(Debug)]
pub struct FamilyLines<F> {
    lines: Arc<Lines>,
    families: PhantomData<F>,
}

/// The text of every family, and where each family's text ends in it
/// (`ends[i]`: the end of the family at index `i`). A line of the text
/// that starts with `,` or `}` (which no metric name does) is a sample
/// whose metric name and first label, `first_label`, were left out.
#[derive(Debug, Clone, Default)]
struct Lines {
    text: String,
    ends: Box<[u32]>,
    /// The subject's label as written, `name="escaped value"`; empty until
    /// the first sample with a label.
    first_label: Box<str>,
}

impl Lines {
    /// The byte range of the family at `index`.
    fn range(&self, index: usize) -> std::ops::Range<usize> {
        let start = match index {
            0 => 0,
            i => self.ends.get(i - 1).map_or(0, |&e| e as usize),
        };
        let end = self.ends.get(index).map_or(start, |&e| e as usize);
        start..end
    }

    /// Drops the text of the family at `index`, moving the families
    /// after it.
    fn clear(&mut self, index: usize) {
        let range = self.range(index);
        let removed = range.len() as u32;
        self.text.replace_range(range, "");
        for end in self.ends.iter_mut().skip(index) {
            *end -= removed;
        }
    }

    /// Appends `line` to the family at `index`, moving the families after
    /// it.
    fn push(&mut self, index: usize, line: &str) {
        let at = self.range(index).end;
        self.text.insert_str(at, line);
        for end in self.ends.iter_mut().skip(index) {
            *end += line.len() as u32;
        }
    }
}

impl Lines {
    /// Writes the lines of the family at `index`, named `name`, each whole.
    fn expand(&self, index: usize, name: &str, mut write: impl FnMut(&str)) {
        for line in self.text[self.range(index)].split_inclusive('\n') {
            if line.starts_with([',', '}']) {
                write(name);
                write("{");
                write(&self.first_label);
            }
            write(line);
        }
    }
}

impl<F> Clone for FamilyLines<F> {
    fn clone(&self) -> Self {
        FamilyLines {
            lines: Arc::clone(&self.lines),
            families: PhantomData,
        }
    }
}

impl<F: FamilySet> Default for FamilyLines<F> {
    fn default() -> Self {
        FamilyLines {
            lines: Arc::new(Lines {
                text: String::new(),
                ends: vec![0; F::ALL.len()].into_boxed_slice(),
                first_label: Box::default(),
            }),
            families: PhantomData,
        }
    }
}

impl<F: FamilySet> FamilyLines<F> {
    /// The lines of `family`, as a scrape writes them.
    pub fn get(&self, family: F) -> String {
        let mut text = String::new();
        self.lines
            .expand(family.index(), family.name(), |part| text.push_str(part));
        text
    }

    /// Whether `family` has a line.
    pub fn has(&self, family: F) -> bool {
        !self.lines.range(family.index()).is_empty()
    }

    /// Appends the lines of `family` to `out`, as in [`get`](Self::get).
    pub fn write_to(&self, family: F, out: &mut Vec<u8>) {
        self.lines.expand(family.index(), family.name(), |part| {
            out.extend_from_slice(part.as_bytes())
        });
    }

    /// Drops the lines of `family`.
    pub fn clear(&mut self, family: F) {
        if self.has(family) {
            Arc::make_mut(&mut self.lines).clear(family.index());
        }
    }

    /// Drops the lines of every family but `keep`, for a subject whose
    /// series are all rendered anew (cheaper than clearing each family).
    pub fn clear_all_but(&mut self, keep: F) {
        let index = keep.index();
        let kept = self.lines.range(index);
        let kept_len = kept.len() as u32;
        match Arc::get_mut(&mut self.lines) {
            Some(lines) => {
                lines.text.truncate(kept.end);
                lines.text.replace_range(..kept.start, "");
                for (i, end) in lines.ends.iter_mut().enumerate() {
                    *end = if i < index { 0 } else { kept_len };
                }
            }
            // A scrape holds the text: leave it that, start a new one.
            None => {
                let text = self.lines.text[kept].to_string();
                let ends = (0..self.lines.ends.len())
                    .map(|i| if i < index { 0 } else { kept_len })
                    .collect();
                let first_label = self.lines.first_label.clone();
                self.lines = Arc::new(Lines {
                    text,
                    ends,
                    first_label,
                });
            }
        }
    }

    /// Gives back the room the text has beyond its length (after the
    /// subject's series were rendered: they stay as they are until the
    /// next probe).
    pub fn shrink_to_fit(&mut self) {
        if self.lines.text.capacity() > self.lines.text.len() {
            Arc::make_mut(&mut self.lines).text.shrink_to_fit();
        }
    }

    /// Bytes held, over all families (lines without their metric name and
    /// first label count without them).
    pub fn len(&self) -> usize {
        self.lines.text.len()
    }

    /// Whether no family has a line.
    pub fn is_empty(&self) -> bool {
        self.lines.text.is_empty()
    }

    /// Appends one sample, `name{l1="v1",...} value`, to `family`. Labels
    /// in the order given (name order, as the `prometheus` crate writes
    /// them).
    pub fn sample(&mut self, family: F, labels: &[(&str, &str)], value: f64) {
        let lines = Arc::make_mut(&mut self.lines);
        let mut line = String::with_capacity(64);
        let shared = match labels.first() {
            Some((name, value)) => {
                write_label(&mut line, name, value);
                if lines.first_label.is_empty() {
                    lines.first_label = line.as_str().into();
                }
                *lines.first_label == *line
            }
            None => false,
        };
        if shared {
            // Only what follows the subject's label.
            line.clear();
            write_sample_rest(&mut line, &labels[1..], value);
        } else {
            line.clear();
            write_sample(&mut line, family.name(), labels, value);
        }
        lines.push(family.index(), &line);
    }
}

/// Writes `name="escaped value"`.
fn write_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    escape_into(out, value);
    out.push('"');
}

/// Writes what follows a sample's first label: `,l2="v2",...} value` and
/// the newline.
fn write_sample_rest(out: &mut String, labels: &[(&str, &str)], value: f64) {
    for (name, value) in labels {
        out.push(',');
        write_label(out, name, value);
    }
    write_value(out, value);
}

/// Writes `} value` and the newline.
fn write_value(out: &mut String, value: f64) {
    out.push_str("} ");
    if value.is_nan() {
        out.push_str("NaN");
    } else {
        let _ = write!(out, "{value}");
    }
    out.push('\n');
}

/// Writes one sample, `name{l1="v1",...} value`, and its newline.
fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_label(out, name, value);
    }
    write_value(out, value);
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

/// The exposition formats a scrape can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 (see [`openmetrics`]).
    OpenMetrics,
}

/// What one scrape answers: the head (families rendered by a registry,
/// already in the text format), then one section per source (the probe's
/// families, then the received reports'), each a snapshot of every
/// subject's lines in subject order. Taking it copies no exposition text.
#[derive(Debug)]
pub struct Exposition {
    head: Vec<u8>,
    sections: Vec<Box<dyn SectionWriter>>,
}

impl Exposition {
    /// A snapshot that starts with `head`, with no section yet.
    pub fn new(head: Vec<u8>) -> Exposition {
        Exposition {
            head,
            sections: Vec::new(),
        }
    }

    /// Adds a section: the families of `F`, each with the lines of every
    /// subject in `subjects`, after the sections added before.
    pub fn with_section<F: FamilySet + Send + Sync + std::fmt::Debug>(
        mut self,
        subjects: Vec<FamilyLines<F>>,
    ) -> Exposition {
        self.sections.push(Box::new(Section {
            subjects,
            at: At::Start,
        }));
        self
    }

    /// The exposition in `format`, in chunks of about [`CHUNK_BYTES`].
    pub fn chunks(self, format: Format) -> Chunks {
        Chunks {
            exposition: self,
            format,
            stage: Stage::Head,
        }
    }

    /// The whole exposition in `format` as one buffer (for tests, `check`
    /// style callers and the benchmark; scrapes use [`chunks`](Self::chunks)).
    pub fn into_bytes(self, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in self.chunks(format) {
            out.extend_from_slice(&chunk);
        }
        out
    }
}

/// One section of an [`Exposition`], written out a chunk at a time.
trait SectionWriter: Send + Sync + std::fmt::Debug {
    /// Appends the section's next lines to `out` until `out` holds
    /// [`CHUNK_BYTES`] or the section is written out; true when it is.
    fn fill(&mut self, format: Format, out: &mut Vec<u8>) -> bool;
}

/// Where a [`Section`] is.
#[derive(Debug, Clone, Copy)]
enum At {
    Start,
    Family { family: usize, subject: usize },
    Done,
}

/// The families of `F` over a snapshot of subjects: each family that has a
/// line (its `# HELP` and `# TYPE`, then each subject's lines).
#[derive(Debug)]
struct Section<F> {
    subjects: Vec<FamilyLines<F>>,
    at: At,
}

impl<F: FamilySet> Section<F> {
    /// The first family at or after `family` that some subject has lines of.
    fn next_family(&self, mut family: usize) -> Option<usize> {
        while let Some(&f) = F::ALL.get(family) {
            if self.subjects.iter().any(|s| s.has(f)) {
                return Some(family);
            }
            family += 1;
        }
        None
    }

    /// Moves to the first family with lines at or after `family`, writing
    /// its metadata.
    fn open_family(&self, family: usize, format: Format, out: &mut Vec<u8>) -> At {
        match self.next_family(family) {
            Some(family) => {
                write_header(out, F::ALL[family], format);
                At::Family { family, subject: 0 }
            }
            None => At::Done,
        }
    }
}

impl<F: FamilySet + Send + Sync + std::fmt::Debug> SectionWriter for Section<F> {
    fn fill(&mut self, format: Format, out: &mut Vec<u8>) -> bool {
        while out.len() < CHUNK_BYTES {
            self.at = match self.at {
                At::Start => self.open_family(0, format, out),
                At::Family { family, subject } => match self.subjects.get(subject) {
                    Some(lines) => {
                        lines.write_to(F::ALL[family], out);
                        At::Family {
                            family,
                            subject: subject + 1,
                        }
                    }
                    None => self.open_family(family + 1, format, out),
                },
                At::Done => return true,
            };
        }
        matches!(self.at, At::Done)
    }
}

/// Appends the metadata of `family` in `format`.
fn write_header<F: FamilySet>(out: &mut Vec<u8>, family: F, format: Format) {
    let name = family.name();
    let header = format!(
        "# HELP {name} {}\n# TYPE {name} {}\n",
        family.help(),
        family.kind().as_str()
    );
    match format {
        Format::Text => out.extend_from_slice(header.as_bytes()),
        Format::OpenMetrics => out.extend(openmetrics::convert(header.as_bytes())),
    }
}

/// Where a [`Chunks`] iterator is.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Head,
    Section(usize),
    End,
    Done,
}

/// An [`Exposition`] written out chunk by chunk: the head, then each
/// section, then, for OpenMetrics, `# EOF`.
#[derive(Debug)]
pub struct Chunks {
    exposition: Exposition,
    format: Format,
    stage: Stage,
}

impl Iterator for Chunks {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(CHUNK_BYTES + 4096);
        while out.len() < CHUNK_BYTES {
            self.stage = match self.stage {
                Stage::Head => {
                    let head = std::mem::take(&mut self.exposition.head);
                    match self.format {
                        Format::Text => out.extend_from_slice(&head),
                        Format::OpenMetrics => out.extend(openmetrics::convert(&head)),
                    }
                    Stage::Section(0)
                }
                Stage::Section(index) => match self.exposition.sections.get_mut(index) {
                    Some(section) => {
                        if section.fill(self.format, &mut out) {
                            Stage::Section(index + 1)
                        } else {
                            Stage::Section(index)
                        }
                    }
                    None => Stage::End,
                },
                Stage::End => {
                    if self.format == Format::OpenMetrics {
                        out.extend_from_slice(openmetrics::EOF);
                    }
                    Stage::Done
                }
                Stage::Done => break,
            };
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::probe::ProbeFamily;

    fn lines(domain: &str) -> FamilyLines<ProbeFamily> {
        let mut lines = FamilyLines::<ProbeFamily>::default();
        lines.sample(ProbeFamily::ProbeSuccess, &[("domain", domain)], 1.0);
        lines.sample(ProbeFamily::ProbesTotal, &[("domain", domain)], 3.0);
        lines
    }

    #[test]
    fn an_exposition_is_the_same_in_chunks_as_whole() {
        let subjects: Vec<_> = (0..5000).map(|i| lines(&format!("d{i}.example"))).collect();
        let head = b"# HELP up Up.\n# TYPE up gauge\nup 1\n".to_vec();
        let chunks: Vec<_> = Exposition::new(head.clone())
            .with_section(subjects.clone())
            .chunks(Format::Text)
            .collect();
        assert!(chunks.len() > 1, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < CHUNK_BYTES + 4096));
        let text = String::from_utf8(chunks.concat()).unwrap();
        assert!(text.starts_with("# HELP up Up.\n# TYPE up gauge\nup 1\n"));
        // Each family once, its header before its samples, subjects in order.
        assert_eq!(text.matches("# TYPE mtasts_probe_success gauge").count(), 1);
        assert_eq!(
            text.matches("# TYPE mtasts_probes_total counter").count(),
            1
        );
        assert_eq!(text.matches("mtasts_probe_success{").count(), 5000);
        let first = text
            .find("mtasts_probe_success{domain=\"d0.example\"}")
            .unwrap();
        let last = text
            .find("mtasts_probe_success{domain=\"d4999.example\"}")
            .unwrap();
        assert!(text.find("# TYPE mtasts_probe_success").unwrap() < first && first < last);
        // OpenMetrics: the same conversion as of the whole text.
        let open = Exposition::new(head)
            .with_section(subjects)
            .into_bytes(Format::OpenMetrics);
        assert_eq!(open, openmetrics::from_text_format(text.as_bytes()));
    }

    #[test]
    fn a_snapshot_keeps_what_it_took() {
        let mut domain = lines("a.example");
        let snapshot = Exposition::new(Vec::new()).with_section(vec![domain.clone()]);
        domain.clear(ProbeFamily::ProbeSuccess);
        domain.sample(ProbeFamily::ProbeSuccess, &[("domain", "a.example")], 0.0);
        let text = String::from_utf8(snapshot.into_bytes(Format::Text)).unwrap();
        assert!(
            text.contains("mtasts_probe_success{domain=\"a.example\"} 1\n"),
            "{text}"
        );
        assert!(domain.get(ProbeFamily::ProbeSuccess).ends_with("} 0\n"));
    }

    #[test]
    fn empty_families_and_an_empty_exposition() {
        let empty =
            Exposition::new(Vec::new()).with_section(Vec::<FamilyLines<ProbeFamily>>::new());
        assert_eq!(empty.into_bytes(Format::OpenMetrics), openmetrics::EOF);
        let empty =
            Exposition::new(Vec::new()).with_section(Vec::<FamilyLines<ProbeFamily>>::new());
        assert!(empty.into_bytes(Format::Text).is_empty());
    }

    /// Families written in any order, cleared one by one or all but one,
    /// read back as if each had its own text.
    #[test]
    fn families_kept_in_one_text_read_back_each_alone() {
        use ProbeFamily::*;
        let mut lines = FamilyLines::<ProbeFamily>::default();
        let d = [("domain", "a.example")];
        lines.sample(ProbeInterval, &d, 60.0);
        lines.sample(PolicySource, &d, 1.0);
        lines.sample(ProbeSuccess, &d, 1.0);
        lines.sample(PolicySource, &d, 0.0);
        lines.sample(ProbesTotal, &d, 2.0);
        assert_eq!(
            lines.get(ProbeSuccess),
            "mtasts_probe_success{domain=\"a.example\"} 1\n"
        );
        assert_eq!(
            lines.get(PolicySource),
            "mtasts_policy_source{domain=\"a.example\"} 1\nmtasts_policy_source{domain=\"a.example\"} 0\n"
        );
        assert_eq!(
            lines.get(ProbesTotal),
            "mtasts_probes_total{domain=\"a.example\"} 2\n"
        );
        assert_eq!(
            lines.get(ProbeInterval),
            "mtasts_probe_interval_seconds{domain=\"a.example\"} 60\n"
        );
        assert!(lines.get(RecordInfo).is_empty() && !lines.has(RecordInfo));
        // Kept without the metric name and the subject's label.
        let whole: usize = ProbeFamily::ALL.iter().map(|&f| lines.get(f).len()).sum();
        assert_eq!(lines.len(), "} 60\n} 1\n} 1\n} 0\n} 2\n".len());
        assert!(whole > 4 * lines.len());
        // A line of another subject's label is kept whole.
        lines.sample(RecordInfo, &[("domain", "b.example"), ("id", "1")], 1.0);
        lines.sample(RecordInfo, &[("domain", "a.example"), ("id", "2")], 1.0);
        lines.sample(ProbesTotal, &[], 3.0);
        assert_eq!(
            lines.get(RecordInfo),
            "mtasts_record_info{domain=\"b.example\",id=\"1\"} 1\nmtasts_record_info{domain=\"a.example\",id=\"2\"} 1\n"
        );
        assert_eq!(
            lines.get(ProbesTotal),
            "mtasts_probes_total{domain=\"a.example\"} 2\nmtasts_probes_total{} 3\n"
        );
        let mut written = Vec::new();
        lines.write_to(RecordInfo, &mut written);
        assert_eq!(written, lines.get(RecordInfo).as_bytes());
        lines.clear(RecordInfo);
        lines.clear(ProbesTotal);
        lines.sample(ProbesTotal, &[("domain", "a.example")], 2.0);

        let snapshot = lines.clone();
        lines.clear(ProbesTotal);
        assert!(lines.get(ProbesTotal).is_empty());
        assert_eq!(lines.get(ProbeSuccess), snapshot.get(ProbeSuccess));
        assert_eq!(lines.get(PolicySource), snapshot.get(PolicySource));

        // All but the interval, with a scrape's snapshot held and without.
        let held = lines.clone();
        lines.clear_all_but(ProbeInterval);
        assert_eq!(lines.get(ProbeInterval), held.get(ProbeInterval));
        assert_eq!(lines.len(), "} 60\n".len());
        assert_eq!(held.get(PolicySource), snapshot.get(PolicySource));
        lines.sample(ProbeSuccess, &d, 0.0);
        lines.shrink_to_fit();
        lines.clear_all_but(ProbeInterval);
        assert_eq!(lines.get(ProbeInterval), held.get(ProbeInterval));
        assert!(lines.get(ProbeSuccess).is_empty());
        lines.clear_all_but(ProbeSuccess);
        assert!(lines.is_empty());
    }

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
