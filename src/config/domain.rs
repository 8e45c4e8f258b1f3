//! Domain names as written in the configuration: Unicode (IDN) or punycode,
//! any case, optional trailing dot, turned into the one ASCII form used in
//! DNS queries and metric labels.

use crate::echo::capped;
use crate::rfc::domain::is_ascii_domain;

/// Normalizes a domain as written in the config: Unicode (IDN) or punycode,
/// any case, optional trailing dot. Returns the ASCII form or why it is not a
/// usable mail domain.
pub fn normalize_domain(input: &str) -> Result<String, String> {
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err("empty domain name".into());
    }
    let input = capped(input);
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| format!("{input:?} is not a valid (internationalized) domain name"))?;
    if !is_ascii_domain(&ascii) {
        return Err(format!("{input:?} is not a valid host name"));
    }
    if !ascii.contains('.') {
        return Err(format!("{input:?} is not a fully qualified domain name"));
    }
    Ok(ascii)
}
