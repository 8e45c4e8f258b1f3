//! Reading a configuration file into text, with bounds: only a regular file,
//! at most [`MAX_CONFIG_BYTES`], UTF-8 (a leading byte-order mark is
//! dropped). `/dev/zero` must not be read for ever and a FIFO must not block
//! the loader for ever, so the file's type and size are checked from its
//! metadata before it is opened, and the read stops one byte past the cap.

use super::yaml::{ConfigIssue, Position};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The largest configuration file read: 16 MiB. 100,000 domains take about
/// 1.7 MB (a name a line) to 4 MB (a mapping with overrides each).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The UTF-8 byte-order mark some editors write at the start of a file.
const UTF8_BOM: &str = "\u{feff}";

/// Why a file could not be read as configuration text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The path names something else than a regular file.
    #[error("is {0}, not a regular file")]
    NotAFile(&'static str),
    /// The file is larger than the cap.
    #[error("is larger than the {} MiB limit for a configuration file ({size} bytes)", MAX_CONFIG_BYTES / (1024 * 1024))]
    TooLarge {
        /// The size found (or, while reading, the bytes read so far).
        size: u64,
    },
    /// The file was read but is not UTF-8 text.
    #[error("{}", .0.problem)]
    Encoding(ConfigIssue),
}

/// Reads a configuration file as UTF-8 text within the bounds above. Only a
/// file swapped for a FIFO between the metadata check and the open could
/// still block.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    decode(read_bytes(path)?).map_err(ReadError::Encoding)
}

/// Reads a regular file of at most [`MAX_CONFIG_BYTES`] (a configuration
/// file, or a certificate or key it names) without blocking on a FIFO or
/// reading a device for ever.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(ReadError::NotAFile(describe(&metadata.file_type())));
    }
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(ReadError::TooLarge {
            size: metadata.len(),
        });
    }
    let file = File::open(path)?;
    // The file may have grown since, or be a `/proc` file of size 0.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// What a non-regular file is, for the error message.
fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// The text of a file's bytes: UTF-8, without a leading byte-order mark. A
/// UTF-16 or UTF-32 file is named as such; other bytes that are not UTF-8
/// are placed at the line and column of the first one.
pub fn decode(bytes: Vec<u8>) -> Result<String, ConfigIssue> {
    if let Some(encoding) = other_encoding(&bytes) {
        return Err(ConfigIssue {
            field: String::new(),
            position: None,
            problem: format!(
                "the file is {encoding}: a configuration file must be UTF-8 (convert it, e.g. with iconv -f {encoding} -t UTF-8)"
            ),
        });
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with(UTF8_BOM) {
                text.drain(..UTF8_BOM.len());
            }
            Ok(text)
        }
        Err(error) => {
            let bytes = error.as_bytes();
            let valid = error.utf8_error().valid_up_to();
            // The prefix is valid UTF-8 by definition.
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            let prefix = prefix.strip_prefix(UTF8_BOM).unwrap_or(&prefix);
            Err(ConfigIssue {
                field: String::new(),
                position: Some(end_position(prefix)),
                problem: format!(
                    "byte 0x{:02X} is not UTF-8: a configuration file must be UTF-8",
                    bytes[valid]
                ),
            })
        }
    }
}

/// The encoding of a file that starts like UTF-16 or UTF-32 (a byte-order
/// mark, or the NUL bytes of ASCII text in those encodings, as YAML 1.2
/// §5.2 detects them).
fn other_encoding(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0, 0, 0xFE, 0xFF, ..] | [0, 0, 0, _, ..] => Some("UTF-32BE"),
        [0xFF, 0xFE, 0, 0, ..] | [_, 0, 0, 0, ..] => Some("UTF-32LE"),
        [0xFE, 0xFF, ..] | [0, _, ..] => Some("UTF-16BE"),
        [0xFF, 0xFE, ..] | [_, 0, ..] => Some("UTF-16LE"),
        _ => None,
    }
}

/// The position just after `prefix`: the line and column the next
/// character is on.
pub(super) fn end_position(prefix: &str) -> Position {
    let line = prefix.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = prefix.rfind('\n').map_or(0, |at| at + 1);
    Position {
        line,
        column: prefix[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let text = decode(b"\xEF\xBB\xBFinterval: 5m\n".to_vec()).unwrap();
        assert_eq!(text, "interval: 5m\n");
    }

    #[test]
    fn other_encodings_are_named() {
        let utf16le: Vec<u8> = "interval: 5m\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let utf16be: Vec<u8> = "interval: 5m\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        for (bytes, name) in [
            ([&[0xFF, 0xFE][..], &utf16le].concat(), "UTF-16LE"),
            ([&[0xFE, 0xFF][..], &utf16be].concat(), "UTF-16BE"),
            (utf16le, "UTF-16LE"),
            (utf16be, "UTF-16BE"),
            (b"\xFF\xFE\0\0i\0\0\0".to_vec(), "UTF-32LE"),
            (b"\0\0\0i".to_vec(), "UTF-32BE"),
        ] {
            let issue = decode(bytes).unwrap_err();
            assert!(issue.problem.contains(name), "{name}: {}", issue.problem);
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_placed() {
        let issue =
            decode(b"interval: 5m\ndomains:\n  - b\xE9cher.example\n".to_vec()).unwrap_err();
        assert_eq!(issue.position, Some(Position { line: 3, column: 6 }));
        assert!(issue.problem.contains("0xE9"), "{}", issue.problem);
        let issue = decode(b"\xEF\xBB\xBFa: \xC3\xA9\xFF".to_vec()).unwrap_err();
        assert_eq!(issue.position, Some(Position { line: 1, column: 5 }));
    }
}
