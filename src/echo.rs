//! Values echoed back to people (errors, logs, HTTP answers) are capped: a
//! 10 MB config value or `/probe` target must not become a 10 MB log line.

use std::borrow::Cow;

/// Characters of an echoed value kept before it is cut.
pub const MAX_ECHO_CHARS: usize = 100;

/// `value` as it may be echoed: whole when at most [`MAX_ECHO_CHARS`]
/// characters, otherwise its first [`MAX_ECHO_CHARS`] characters and
/// `… (N bytes)`, N being the whole value's length.
pub fn capped(value: &str) -> Cow<'_, str> {
    capped_at(value, MAX_ECHO_CHARS)
}

/// `value` whole when at most `max_chars` characters, otherwise its first
/// `max_chars` characters and `… (N bytes)`: [`capped`] for texts that hold
/// values rather than being one (a whole error message).
pub fn capped_at(value: &str, max_chars: usize) -> Cow<'_, str> {
    match value.char_indices().nth(max_chars) {
        None => Cow::Borrowed(value),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes)", &value[..cut], value.len())),
    }
}

/// `message` with every echo of `value`, quoted (as `{value:?}` writes it)
/// or bare, replaced by the [`capped`] value: for messages built elsewhere
/// that repeat a value in full.
pub fn capped_within<'a>(message: &'a str, value: &str) -> Cow<'a, str> {
    let short = capped(value);
    if matches!(short, Cow::Borrowed(_)) {
        return Cow::Borrowed(message);
    }
    let quoted = format!("{value:?}");
    if !message.contains(value) && !message.contains(&quoted) {
        return Cow::Borrowed(message);
    }
    // Quoted first (with the escapes `{:?}` adds), then any bare repeat.
    let message = message.replace(&quoted, &format!("{short:?}"));
    Cow::Owned(message.replace(value, &short))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_kept_whole() {
        assert_eq!(capped("example.com"), "example.com");
        let exactly = "é".repeat(MAX_ECHO_CHARS);
        assert!(matches!(capped(&exactly), Cow::Borrowed(_)));
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "a".repeat(10_000_000);
        let echoed = capped(&long);
        assert_eq!(echoed, format!("{}… (10000000 bytes)", "a".repeat(100)));
        // Cut on a character boundary.
        let wide = "é".repeat(200);
        assert_eq!(capped(&wide), format!("{}… (400 bytes)", "é".repeat(100)));
    }

    #[test]
    fn quoted_echoes_inside_a_message_are_cut() {
        let long = "b".repeat(5_000);
        let message = format!("{long:?} is not a valid host name");
        let echoed = capped_within(&message, &long);
        assert_eq!(
            echoed,
            format!(
                "\"{}… (5000 bytes)\" is not a valid host name",
                "b".repeat(100)
            )
        );
        assert!(matches!(capped_within("short", "x"), Cow::Borrowed(_)));
        assert!(matches!(capped_within("no echo", &long), Cow::Borrowed(_)));
        let bare = format!("target {long}: refused");
        assert_eq!(
            capped_within(&bare, &long),
            format!("target {}… (5000 bytes): refused", "b".repeat(100))
        );
    }
}
