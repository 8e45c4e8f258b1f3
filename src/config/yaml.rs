//! Reading YAML files into the configuration types, with every error placed:
//! the field path and the line and column it is written on.
//!
//! serde_yaml (the user's choice of YAML crate) gives a position only for
//! syntax and type errors, and for a struct's error it gives the position of
//! the enclosing mapping rather than of the field. Errors found after
//! deserialization (a zero timeout, a duplicate domain) have no position at
//! all. So the position of each field is looked up separately, from the
//! parser events of `saphyr-parser`, and only when there are errors to place:
//! a valid file is parsed once.

use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;

/// Where something is written in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, counted from 1.
    pub line: usize,
    /// The column, counted in characters from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A problem in a configuration file: the field, where it is, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The field path, e.g. `domains[2].interval`, or empty for the whole file.
    pub field: String,
    /// Where the field (or, for a syntax error, the error) is in the file.
    pub position: Option<Position>,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigIssue {
    /// An issue with a field, placed later by [`place_issues`].
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> ConfigIssue {
        ConfigIssue {
            field: field.into(),
            position: None,
            problem: problem.into(),
        }
    }

    /// One line naming the file, the position, the field and the problem, in
    /// the `file:line:column: ...` form editors and CI logs link to.
    pub fn render(&self, file: &str) -> String {
        let place = match self.position {
            Some(position) => format!("{file}:{position}"),
            None => file.to_string(),
        };
        if self.field.is_empty() {
            format!("{place}: {}", self.problem)
        } else {
            format!("{place}: field {}: {}", self.field, self.problem)
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// The deepest nesting of mappings and sequences accepted. The
/// configuration needs 4 levels; serde_yaml's parser takes time quadratic
/// in the depth of flow collections (37 s for 200 KB of `[`), so deeper
/// documents are refused before it sees them.
pub const MAX_DEPTH: usize = 64;

/// Refuses a document nested deeper than [`MAX_DEPTH`], at the collection
/// that goes one level too deep. This runs the `saphyr-parser` scanner,
/// which is cheap at this depth and stops at that collection (or at its own
/// limit of 255 flow levels, a few hundred bytes on).
///
/// Where saphyr finds a syntax error, the depth after it is unknown: the
/// document then goes on to serde_yaml (whose message and position are the
/// ones reported) only when the `[` and `{` not yet parsed, which bound its
/// flow depth, cannot take it past the limit (its block nesting is cheap,
/// and bounded by serde_yaml itself). Otherwise saphyr's error is reported.
pub fn check_depth(text: &str) -> Result<(), ConfigIssue> {
    use saphyr_parser::Event;
    // Most files cannot nest deeply by the look of their bytes alone: they
    // are not parsed twice.
    if depth_bound(text) <= MAX_DEPTH {
        return Ok(());
    }
    let mut depth = 0usize;
    // Characters parsed into events so far.
    let mut parsed = 0;
    for event in saphyr_parser::Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(error) => {
                let rest = text.chars().skip(parsed);
                let opens = rest.filter(|c| matches!(c, '[' | '{')).count();
                if depth + opens <= MAX_DEPTH {
                    return Ok(());
                }
                let position = Position {
                    line: error.marker().line(),
                    column: error.marker().col() + 1,
                };
                // saphyr's own limit on flow levels.
                if error.info() == "recursion limit exceeded" {
                    return Err(too_deep(position));
                }
                return Err(ConfigIssue {
                    field: String::new(),
                    position: Some(position),
                    problem: error.info().to_string(),
                });
            }
        };
        parsed = span.end.index();
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > MAX_DEPTH {
            return Err(too_deep(Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            }));
        }
    }
    Ok(())
}

/// An upper bound on how deep a document nests, from its bytes alone: every
/// `[` and `{` (flow collections), plus the most block collections one line
/// can be in. Those are at most two for each column of the line's
/// indentation and one more (nested collections are indented further, but
/// for a sequence that is a mapping's value) and one for each indicator
/// (`- `, `? `, `: `) on the line. Block scalars, comments and quoted text
/// only make the bound looser.
fn depth_bound(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut flow, mut block) = (0usize, 0usize);
    // The line so far: its indentation, whether still in it, its indicators.
    let (mut indent, mut indenting, mut indicators) = (0usize, true, 0usize);
    for (at, &byte) in bytes.iter().enumerate() {
        // Line breaks: LF, CR, and the last byte of NEL, LS and PS (whose
        // first bytes count as text, which only loosens the bound).
        let breaks = match byte {
            b'\n' | b'\r' => true,
            0x85 => at > 0 && bytes[at - 1] == 0xC2,
            0xA8 | 0xA9 => at > 1 && bytes[at - 2..at] == [0xE2, 0x80],
            _ => false,
        };
        if breaks {
            block = block.max(2 * (indent + 1) + indicators);
            (indent, indenting, indicators) = (0, true, 0);
            continue;
        }
        if indenting && byte == b' ' {
            indent += 1;
            continue;
        }
        indenting = false;
        match byte {
            b'[' | b'{' => flow += 1,
            b'-' | b'?' | b':' => {
                let next = bytes.get(at + 1);
                if matches!(
                    next,
                    None | Some(b' ' | b'\t' | b'\n' | b'\r' | 0xC2 | 0xE2)
                ) {
                    indicators += 1;
                }
            }
            _ => {}
        }
    }
    block = block.max(2 * (indent + 1) + indicators);
    flow.saturating_add(block)
}

/// The issue of a document nested too deep, at `position`.
fn too_deep(position: Position) -> ConfigIssue {
    ConfigIssue {
        field: String::new(),
        position: Some(position),
        problem: format!(
            "mappings and sequences are nested deeper than {MAX_DEPTH} levels, the limit (a configuration needs 4)"
        ),
    }
}

/// Refuses a character YAML does not allow in a document (C0 and C1
/// control characters but tab and line breaks, DEL, U+FFFE, U+FFFF), at its
/// line and column: serde_yaml places such an error at `1:1`.
pub fn check_characters(text: &str) -> Result<(), ConfigIssue> {
    let bytes = text.as_bytes();
    let bad = bytes.iter().enumerate().position(|(at, &byte)| match byte {
        b'\t' | b'\n' | b'\r' => false,
        0..=0x1F | 0x7F => true,
        0xC2 => matches!(bytes.get(at + 1), Some(0x80..=0x84 | 0x86..=0x9F)),
        0xEF => bytes
            .get(at + 1..at + 3)
            .is_some_and(|n| matches!(n, [0xBF, 0xBE | 0xBF])),
        _ => false,
    });
    let Some(at) = bad else { return Ok(()) };
    // `at` starts a character: a byte below 0x80, or a lead byte.
    let character = text[at..].chars().next().map_or(0, u32::from);
    Err(ConfigIssue {
        field: String::new(),
        position: Some(super::read::end_position(&text[..at])),
        problem: format!(
            "character U+{character:04X} is not allowed in YAML (a control character)"
        ),
    })
}

/// Deserializes a YAML document; an empty document is an empty mapping. A
/// syntax or type error comes back as one issue with its field and position.
/// A document nested deeper than [`MAX_DEPTH`] is refused before parsing.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigIssue> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    check_characters(text)?;
    check_depth(text)?;
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let mut field = error.path().to_string();
        // `.` is the document itself; `?` a key that is not a string (a
        // mapping used as a key): neither names a field.
        if field == "." || field == "?" {
            field.clear();
        }
        let inner = error.inner();
        let mut problem = inner.to_string();
        // serde names a repeated key in its message, not in its path.
        if let Some(name) = problem
            .find("duplicate field `")
            .and_then(|at| problem[at + 17..].split('`').next())
        {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        let location = inner.location().map(|mark| Position {
            line: mark.line(),
            column: mark.column(),
        });
        // serde_yaml prefixes its own (shorter) path and appends its own
        // position; both are given separately here.
        if let Some(mark) = location {
            problem = problem.replace(
                &format!(" at line {} column {}", mark.line, mark.column),
                "",
            );
        }
        if let Some((head, rest)) = problem.split_once(": ") {
            if head == "." || (!head.contains(' ') && field.starts_with(head)) {
                problem = rest.to_string();
            }
        }
        let mut issue = ConfigIssue {
            field,
            position: None,
            problem,
        };
        // A syntax error is where libyaml says, not at the field it broke
        // off in (a tab on line 4 inside `domains:` is on line 4). serde_yaml
        // tells its libyaml errors only by their `Debug` form.
        let syntax = format!("{inner:?}").starts_with("Error { kind: ");
        if !syntax || location.is_none() {
            place_issues(text, std::slice::from_mut(&mut issue));
        }
        if issue.position.is_none() {
            issue.position = location;
        }
        super::issues::cap(&mut issue);
        issue
    })
}

/// Fills in the position of every issue from its field path: the line of
/// the field's key (for a mapping entry) or of the item (for a list entry),
/// or of its nearest written ancestor when the field itself is not written.
pub fn place_issues(text: &str, issues: &mut [ConfigIssue]) {
    if issues.iter().all(|issue| issue.field.is_empty()) {
        return;
    }
    let positions = FieldPositions::index(text);
    for issue in issues.iter_mut().filter(|issue| !issue.field.is_empty()) {
        issue.position = positions.find(&issue.field);
    }
}

/// The position of every field path written in a YAML document, in the path
/// syntax of the configuration errors (`domains[3].interval`). A key written
/// twice maps to its second occurrence, which is the one in error.
#[derive(Debug, Default)]
pub struct FieldPositions {
    by_path: HashMap<String, Position>,
}

/// What the parent of the next node expects it to be.
enum Awaiting {
    /// A mapping key.
    Key,
    /// The value of the key with this path (`None` under a key that is not
    /// a plain scalar, which no field path can name).
    Value(Option<String>),
}

/// An open mapping or sequence.
enum Frame {
    Mapping {
        path: Option<String>,
        awaiting: Awaiting,
    },
    Sequence {
        path: Option<String>,
        next_index: usize,
    },
}

impl FieldPositions {
    /// Indexes a document. A document the parser rejects is indexed up to
    /// the error; errors in it are reported by serde_yaml, not here. The
    /// nesting is tracked on a heap stack, so depth cannot exhaust the call
    /// stack.
    pub fn index(text: &str) -> FieldPositions {
        let mut positions = FieldPositions::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in saphyr_parser::Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let position = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            use saphyr_parser::Event;
            // Every node event: its text, when a plain scalar could be a key.
            let key_text = match &event {
                Event::Scalar(text, ..) => Some(text.as_ref()),
                Event::Alias(_) | Event::MappingStart(..) | Event::SequenceStart(..) => None,
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    continue;
                }
                _ => continue,
            };
            // The path of this node, when it is a value a field path names.
            let path = match stack.last_mut() {
                None => Some(String::new()),
                Some(Frame::Mapping { path, awaiting }) => match awaiting {
                    Awaiting::Key => {
                        let key_path = match (path.as_deref(), key_text) {
                            (Some(parent), Some(key)) => {
                                let key_path = if parent.is_empty() {
                                    key.to_string()
                                } else {
                                    format!("{parent}.{key}")
                                };
                                positions.by_path.insert(key_path.clone(), position);
                                Some(key_path)
                            }
                            _ => None,
                        };
                        *awaiting = Awaiting::Value(key_path);
                        // A key's own contents are never named by a path.
                        None
                    }
                    Awaiting::Value(value_path) => {
                        let value_path = value_path.take();
                        *awaiting = Awaiting::Key;
                        value_path
                    }
                },
                Some(Frame::Sequence { path, next_index }) => {
                    let item_path = path
                        .as_ref()
                        .map(|parent| format!("{parent}[{next_index}]"));
                    *next_index += 1;
                    if let Some(item_path) = &item_path {
                        positions.by_path.insert(item_path.clone(), position);
                    }
                    item_path
                }
            };
            match event {
                Event::MappingStart(..) => stack.push(Frame::Mapping {
                    path,
                    awaiting: Awaiting::Key,
                }),
                Event::SequenceStart(..) => stack.push(Frame::Sequence {
                    path,
                    next_index: 0,
                }),
                _ => {}
            }
        }
        positions
    }

    /// The position of a field path, or of its nearest written ancestor
    /// (`domains[1].interval` falls back to `domains[1]`, then `domains`).
    pub fn find(&self, field: &str) -> Option<Position> {
        let mut path = field;
        loop {
            if let Some(position) = self.by_path.get(path) {
                return Some(*position);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
            if path.is_empty() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_flow_fields_are_placed() {
        let text = "interval: 5m\nresolver:\n  nameservers: [\"1.1.1.1\", \"nope\"]\ndomains:\n  - a.example\n  - name: b.example\n    timeout: 0s\nmodules: {quick: {timeout: 1s}}\n";
        let positions = FieldPositions::index(text);
        let at = |field: &str| positions.find(field).map(|p| (p.line, p.column));
        assert_eq!(at("interval"), Some((1, 1)));
        assert_eq!(at("resolver.nameservers"), Some((3, 3)));
        assert_eq!(at("resolver.nameservers[1]"), Some((3, 28)));
        assert_eq!(at("domains[0]"), Some((5, 5)));
        assert_eq!(at("domains[1].timeout"), Some((7, 5)));
        // Not written: the nearest ancestor that is.
        assert_eq!(at("domains[1].interval"), Some((6, 5)));
        assert_eq!(at("modules.quick.timeout"), Some((8, 19)));
        assert_eq!(at("shard"), None);
    }

    #[test]
    fn a_repeated_key_is_placed_at_its_repetition() {
        let positions = FieldPositions::index("interval: 1m\ntimeout: 5s\ninterval: 2m\n");
        assert_eq!(positions.find("interval").map(|p| p.line), Some(3));
    }

    #[test]
    fn complex_keys_and_aliases_do_not_confuse_paths() {
        let text = "? [a, b]\n: x\nbase: &b {timeout: 1s}\nother: *b\nlast: 1\n";
        let positions = FieldPositions::index(text);
        assert_eq!(positions.find("base.timeout").map(|p| p.line), Some(3));
        assert_eq!(positions.find("last").map(|p| p.line), Some(5));
        assert_eq!(positions.find("other.timeout").map(|p| p.line), Some(4));
    }

    #[test]
    fn the_depth_bound_is_above_the_depth() {
        let typical = "interval: 1h\nresolver:\n  nameservers: [\"127.0.0.1\"]\ndomains:\n  - a-b.example\n  - name: c.example\n    timeout: 5s\n";
        // One `[`, and `    timeout: 5s`: four columns and one indicator.
        assert_eq!(depth_bound(typical), 1 + 2 * (4 + 1) + 1);
        // Compact nesting on one line, and a sequence at its key's column.
        assert!(depth_bound("a:\n- - - ? x\n") >= 5);
        assert!(depth_bound("a:\u{85}  b:\u{85}    c: 1") > 2 * (4 + 1));
        assert!(check_depth(typical).is_ok());
    }

    #[test]
    fn deep_nesting_and_broken_documents_are_indexed_without_panic() {
        let deep = "[".repeat(100_000);
        let _ = FieldPositions::index(&deep);
        let positions = FieldPositions::index("a: 1\nb: [\n");
        assert_eq!(positions.find("a").map(|p| p.line), Some(1));
    }

    #[test]
    fn type_errors_name_the_field_line_once() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Inner {
            #[allow(dead_code)]
            count: u8,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Outer {
            #[allow(dead_code)]
            items: Vec<Inner>,
        }
        let issue = from_str::<Outer>("items:\n  - count: 1\n  - count: 300\n").unwrap_err();
        assert_eq!(issue.field, "items[1].count");
        assert_eq!(issue.position, Some(Position { line: 3, column: 5 }));
        assert!(!issue.problem.contains("line"), "{}", issue.problem);
        assert!(!issue.problem.starts_with("items"), "{}", issue.problem);
        assert_eq!(
            issue.render("c.yml"),
            format!("c.yml:3:5: field items[1].count: {}", issue.problem)
        );
        // A syntax error: serde_yaml's own position.
        let issue = from_str::<Outer>("items: [\n").unwrap_err();
        assert!(issue.position.is_some(), "{issue:?}");
    }
}
