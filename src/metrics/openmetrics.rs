//! The exposition in OpenMetrics 1.0 (`application/openmetrics-text`), made
//! from the Prometheus text format the registry and the per-domain series
//! render: the two differ only in metadata, so one rendering serves both.
//!
//! What changes: a counter family is named without its `_total` suffix in
//! `# HELP` and `# TYPE` (its samples keep it); `untyped` is `unknown`;
//! families whose name ends in a base unit get a `# UNIT` line; `"` in help
//! text is escaped; the exposition ends with `# EOF`.

use std::collections::HashSet;

/// The media type of an OpenMetrics 1.0 exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Units a metric name may end in, as OpenMetrics names them.
const UNITS: [&str; 2] = ["seconds", "bytes"];

/// The line that ends an OpenMetrics exposition.
pub const EOF: &[u8] = b"# EOF\n";

/// Rewrites a whole text-format exposition as OpenMetrics 1.0.
pub fn from_text_format(text: &[u8]) -> Vec<u8> {
    let mut out = convert(text);
    out.extend_from_slice(EOF);
    out
}

/// Rewrites part of a text-format exposition (whole families, each with
/// its `# HELP` and `# TYPE`) as OpenMetrics 1.0, without the final
/// [`EOF`]: a streamed exposition converts family by family.
pub fn convert(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 256);
    let counters = counter_families(text);
    for line in text.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match metadata(line) {
            Some(("TYPE", name, kind)) => write_type(&mut out, name, kind),
            Some(("HELP", name, help)) => {
                let name = family_name(name, &counters);
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                escape_quotes(&mut out, help);
                out.push(b'\n');
            }
            _ => {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }
    out
}

/// `# KEYWORD name rest` split up.
fn metadata(line: &[u8]) -> Option<(&str, &str, &[u8])> {
    let line = line.strip_prefix(b"# ")?;
    let text = std::str::from_utf8(line).ok()?;
    let (keyword, rest) = text.split_once(' ')?;
    let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
    let value_at = line.len() - value.len();
    Some((keyword, name, &line[value_at..]))
}

/// The names of the counter families, from their `# TYPE` lines: `# HELP`
/// comes before `# TYPE` in the text format, so they are read first, in one
/// linear pass (searching the text for each family's `# TYPE` line cost
/// 8.5 s per scrape at 10,000 domains).
fn counter_families(text: &[u8]) -> HashSet<&str> {
    text.split(|b| *b == b'\n')
        .filter_map(|line| match metadata(line) {
            Some(("TYPE", name, b"counter")) => Some(name),
            _ => None,
        })
        .collect()
}

/// `# TYPE`, and `# UNIT` where the name ends in one.
fn write_type(out: &mut Vec<u8>, name: &str, kind: &[u8]) {
    let kind = match kind {
        b"untyped" => &b"unknown"[..],
        other => other,
    };
    let family = if kind == b"counter" {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    };
    out.extend_from_slice(format!("# TYPE {family} ").as_bytes());
    out.extend_from_slice(kind);
    out.push(b'\n');
    if let Some(unit) = UNITS
        .iter()
        .find(|unit| family.ends_with(&format!("_{unit}")))
    {
        out.extend_from_slice(format!("# UNIT {family} {unit}\n").as_bytes());
    }
}

/// The family name of `name` in metadata: a counter's without `_total`.
fn family_name<'a>(name: &'a str, counters: &HashSet<&str>) -> &'a str {
    if counters.contains(name) {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    }
}

/// Help text with `"` escaped (the text format escapes only `\` and line
/// feeds, which it already did).
fn escape_quotes(out: &mut Vec<u8>, help: &[u8]) {
    for &b in help {
        if b == b'"' {
            out.extend_from_slice(b"\\\"");
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_rewritten_and_samples_are_kept() {
        let text = b"# HELP mtasts_probes_total Probes run.\n# TYPE mtasts_probes_total counter\nmtasts_probes_total{domain=\"a\"} 3\n# HELP mtasts_probe_duration_seconds Duration of the \"last\" probe.\n# TYPE mtasts_probe_duration_seconds gauge\nmtasts_probe_duration_seconds{domain=\"a\"} 0.5\n# HELP x_untyped Something.\n# TYPE x_untyped untyped\nx_untyped 1\n";
        let open = String::from_utf8(from_text_format(text)).unwrap();
        assert_eq!(
            open,
            "# HELP mtasts_probes Probes run.\n# TYPE mtasts_probes counter\nmtasts_probes_total{domain=\"a\"} 3\n# HELP mtasts_probe_duration_seconds Duration of the \\\"last\\\" probe.\n# TYPE mtasts_probe_duration_seconds gauge\n# UNIT mtasts_probe_duration_seconds seconds\nmtasts_probe_duration_seconds{domain=\"a\"} 0.5\n# HELP x_untyped Something.\n# TYPE x_untyped unknown\nx_untyped 1\n# EOF\n"
        );
    }
}
