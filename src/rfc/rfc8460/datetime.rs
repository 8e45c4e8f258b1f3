//! The date-times of a TLSRPT report's `date-range` (RFC 8460 §4.4:
//! `start-datetime` and `end-datetime` in RFC 3339 §5.6 `date-time`
//! format), read leniently: reports in the wild also write them without a
//! time zone (read as UTC, as the report's time frame is UTC by RFC 8460
//! §4.1), with a space for the `T`, or as a bare date.

/// A date-time read from a report: seconds since the Unix epoch, and
/// whether the text named no time zone (then UTC was assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportTime {
    /// Seconds since 1970-01-01T00:00:00Z (fractions dropped).
    pub unix_seconds: i64,
    /// The text had no `Z` nor offset: read as UTC (RFC 8460 §4.1).
    pub zone_assumed: bool,
}

/// Reads an RFC 3339 `date-time` (RFC 8460 §4.4), leniently: `T`, `t` or a
/// space between date and time; seconds and fractions optional; zone `Z`,
/// `z`, ` UTC`, `±HH:MM`, `±HHMM`, `±HH` or none (UTC assumed); a bare date
/// is its midnight UTC. `None` for anything else, or an impossible date.
pub fn parse_report_time(text: &str) -> Option<ReportTime> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let (year, month, day) = date(bytes.get(..10)?)?;
    let days = days_from_civil(year, month, day)?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(ReportTime {
            unix_seconds: days * 86_400,
            zone_assumed: true,
        });
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?.trim_start();
    let (seconds_of_day, zone) = time_of_day(rest)?;
    let (offset, zone_assumed) = zone_offset(zone)?;
    Some(ReportTime {
        unix_seconds: days * 86_400 + seconds_of_day - offset,
        zone_assumed,
    })
}

/// `YYYY-MM-DD`.
fn date(bytes: &[u8]) -> Option<(i64, u32, u32)> {
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    Some((i64::from(year), month, day))
}

/// `HH:MM[:SS[.fraction]]` and what follows it (the zone).
fn time_of_day(text: &str) -> Option<(i64, &str)> {
    let bytes = text.as_bytes();
    if bytes.len() < 5 || bytes[2] != b':' {
        return None;
    }
    let hour = digits(&bytes[0..2])?;
    let minute = digits(&bytes[3..5])?;
    let mut end = 5;
    let mut second = 0;
    if bytes.get(5) == Some(&b':') {
        second = digits(bytes.get(6..8)?)?;
        end = 8;
        if bytes.get(8) == Some(&b'.') || bytes.get(8) == Some(&b',') {
            end = 9;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == 9 {
                return None;
            }
        }
    }
    // RFC 3339 allows second 60 (a leap second): the same second as 59 here.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second.min(59));
    Some((seconds, &text[end..]))
}

/// The zone after the time: its offset east of UTC in seconds, and whether
/// none was written.
fn zone_offset(zone: &str) -> Option<(i64, bool)> {
    let zone = zone.trim();
    match zone {
        "" => return Some((0, true)),
        "Z" | "z" | "UTC" | "GMT" => return Some((0, false)),
        _ => {}
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let bytes = &zone.as_bytes()[1..];
    let (hours, minutes) = match bytes.len() {
        2 => (digits(bytes)?, 0),
        4 => (digits(&bytes[0..2])?, digits(&bytes[2..4])?),
        5 if bytes[2] == b':' => (digits(&bytes[0..2])?, digits(&bytes[3..5])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((
        sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60),
        false,
    ))
}

/// The number written by ASCII digits only (at most 4 here).
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date, `None` when the
/// date does not exist (month 13, February 30).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<(i64, bool)> {
        parse_report_time(text).map(|t| (t.unix_seconds, t.zone_assumed))
    }

    #[test]
    fn rfc3339_date_times_are_read() {
        // 2016-04-01T00:00:00Z, the RFC 8460 §4.4 example.
        assert_eq!(at("2016-04-01T00:00:00Z"), Some((1_459_468_800, false)));
        assert_eq!(at("2016-04-01T23:59:59Z"), Some((1_459_555_199, false)));
        assert_eq!(at("2016-04-01T23:59:59.999Z"), Some((1_459_555_199, false)));
        assert_eq!(
            at("2016-04-01T02:00:00+02:00"),
            Some((1_459_468_800, false))
        );
        assert_eq!(at("2016-03-31T22:00:00-0200"), Some((1_459_468_800, false)));
        assert_eq!(at("1970-01-01T00:00:00Z"), Some((0, false)));
        assert_eq!(at("2000-02-29T00:00:00Z"), Some((951_782_400, false)));
        assert_eq!(at("2016-12-31T23:59:60Z"), Some((1_483_228_799, false)));
    }

    #[test]
    fn date_times_without_a_zone_are_utc() {
        assert_eq!(at("2016-04-01T00:00:00"), Some((1_459_468_800, true)));
        assert_eq!(at("2016-04-01 00:00"), Some((1_459_468_800, true)));
        assert_eq!(at("2016-04-01"), Some((1_459_468_800, true)));
        assert_eq!(
            at(" 2016-04-01 00:00:00 UTC "),
            Some((1_459_468_800, false))
        );
    }

    #[test]
    fn impossible_or_garbled_date_times_are_refused() {
        for text in [
            "",
            "yesterday",
            "2016-13-01T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2016-04-00T00:00:00Z",
            "2016-04-01T24:00:00Z",
            "2016-04-01T00:60:00Z",
            "2016-04-01T00:00:00.Z",
            "2016-04-01T00:00:00+2400",
            "2016-04-01X00:00:00Z",
            "2016-04-01T00:00:00 Mars",
            "+016-04-01T00:00:00Z",
            "2016-04-01T0",
            "é016-04-01T00:00:00Z",
        ] {
            assert_eq!(parse_report_time(text), None, "{text:?}");
        }
    }
}
