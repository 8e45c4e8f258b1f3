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

/// Deserializes a YAML document; an empty document is an empty mapping. A
/// syntax or type error comes back as one issue with its field and position.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigIssue> {
    let text = if text.trim().is_empty() { "{}" } else { text };
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
        place_issues(text, std::slice::from_mut(&mut issue));
        if issue.position.is_none() {
            issue.position = location;
        }
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
