//! The JSON shapes of an RFC 8460 §4.4 report as senders write them, read
//! leniently and in bounded memory: every field accepts any JSON value (a
//! value of the wrong type reads as absent, never as an error), lists keep
//! at most a fixed number of entries and skip the rest as they stream by,
//! and strings are cut as they are copied. [`super::report`] turns these
//! shapes into the report model.

use serde::de::{
    self, value::MapAccessDeserializer, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use std::fmt;

/// The most characters of a string kept; a longer one is cut and marked
/// `… (N bytes)`, N its whole length.
pub const MAX_TEXT_CHARS: usize = 256;

/// `value` whole when at most `max_chars` characters, else cut there and
/// marked with its length; and whether it was cut.
pub fn cap_text(value: &str, max_chars: usize) -> (String, bool) {
    match value.char_indices().nth(max_chars) {
        None => (value.to_string(), false),
        Some((cut, _)) => (format!("{}… ({} bytes)", &value[..cut], value.len()), true),
    }
}

/// Drains a sequence the visitor does not want, so the parser can go on.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Drains a map the visitor does not want.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A scalar read as text: a string (cut at [`MAX_TEXT_CHARS`]), or a number
/// or boolean written out; `None` for null, a list or an object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text {
    /// The text, cut when long.
    pub value: Option<String>,
    /// It was cut.
    pub capped: bool,
}

impl Text {
    fn of(value: &str) -> Self {
        let (value, capped) = cap_text(value, MAX_TEXT_CHARS);
        Text {
            value: Some(value),
            capped,
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::of(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text::of(&v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text::of(&v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text::of(&v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text::of(if v { "true" } else { "false" }))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
                drain_seq(seq)?;
                Ok(Text::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
                drain_map(map)?;
                Ok(Text::default())
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A count of sessions: a non-negative integer, also written as a float
/// with no fraction or as a string of digits (`from_text`); `None` for
/// anything else (negative, fractional, text, null).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The count.
    pub value: Option<u64>,
    /// It was written as a string.
    pub from_text: bool,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count {
                    value: Some(v),
                    from_text: false,
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count {
                    value: u64::try_from(v).ok(),
                    from_text: false,
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                // Within u64 and whole: 1.0e3 is 1000 sessions.
                let whole = v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1.8e19;
                Ok(Count {
                    value: whole.then_some(v as u64),
                    from_text: false,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                Ok(Count {
                    value: v.trim().parse().ok(),
                    from_text: true,
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Count, A::Error> {
                drain_seq(seq)?;
                Ok(Count::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Count, A::Error> {
                drain_map(map)?;
                Ok(Count::default())
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A list of strings that senders also write as one string (`mx-host`,
/// `policy-string`): at most `max` entries kept (non-string entries
/// skipped), and whether it came as a single string. A string entry that
/// is itself a JSON list (seen in TLSA `policy-string`s) stands for that
/// list's entries: it is unpacked whole, before any string is cut.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Strings {
    /// The entries kept, each cut at [`MAX_TEXT_CHARS`].
    pub values: Vec<String>,
    /// It was one string, not a list.
    pub single: bool,
    /// An entry was a string holding a JSON list, unpacked.
    pub nested_json: bool,
    /// Entries beyond the cap, skipped.
    pub dropped: u64,
    /// An entry was cut.
    pub capped: bool,
}

/// The most entries of a string list ([`Strings`]) kept.
pub const MAX_STRINGS: usize = 64;

impl Strings {
    fn push(&mut self, text: Text) {
        if let Some(value) = text.value {
            if self.values.len() < MAX_STRINGS {
                self.values.push(value);
                self.capped |= text.capped;
            } else {
                self.dropped += 1;
            }
        }
    }

    /// A string entry: unpacked when it is a JSON list (one level only),
    /// else kept as text.
    fn push_str(&mut self, value: &str) {
        if value.trim_start().starts_with('[') {
            if let Ok(inner) = serde_json::from_str::<Vec<Text>>(value) {
                if inner.iter().any(|text| text.value.is_some()) {
                    self.nested_json = true;
                    inner.into_iter().for_each(|text| self.push(text));
                    return;
                }
            }
        }
        self.push(Text::of(value));
    }
}

/// Reads one entry of a [`Strings`] list straight into it.
struct StringsEntry<'a>(&'a mut Strings);

impl<'de> de::DeserializeSeed<'de> for StringsEntry<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        struct V<'a>(&'a mut Strings);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
                self.0.push_str(v);
                Ok(())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
                self.0.push(Text::of(&v.to_string()));
                Ok(())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
                self.0.push(Text::of(&v.to_string()));
                Ok(())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
                self.0.push(Text::of(&v.to_string()));
                Ok(())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
                Ok(())
            }
            fn visit_unit<E: de::Error>(self) -> Result<(), E> {
                Ok(())
            }
            fn visit_none<E: de::Error>(self) -> Result<(), E> {
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
                drain_seq(seq)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
                drain_map(map)
            }
        }
        deserializer.deserialize_any(V(self.0))
    }
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strings;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Strings, E> {
                let mut strings = Strings {
                    single: true,
                    ..Strings::default()
                };
                strings.push_str(v);
                Ok(strings)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut strings = Strings::default();
                while seq.next_element_seed(StringsEntry(&mut strings))?.is_some() {}
                Ok(strings)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Strings, A::Error> {
                drain_map(map)?;
                Ok(Strings::default())
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// An object whose fields are read by `T`'s `Deserialize`; `None`
/// when the value is not an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<T>(pub Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Object(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Object(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Object<T>, A::Error> {
                drain_seq(seq)?;
                Ok(Object(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Object<T>, E> {
                Ok(Object(None))
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

/// What a list of objects keeps: its first entries whole, and a summary
/// of the rest.
pub trait ListEntry: Sized {
    /// The most entries kept.
    const MAX: usize;
    /// What is kept of the entries beyond [`ListEntry::MAX`].
    type Overflow: Default;
    /// Adds an entry beyond the cap to the overflow.
    fn overflow(overflow: &mut Self::Overflow, entry: Self);
}

/// A list of objects (`policies`, `failure-details`): the first
/// [`ListEntry::MAX`] objects kept, later ones folded into the overflow as
/// they stream by, entries that are not objects counted in `skipped`; a
/// single object instead of a list is read as a list of one.
#[derive(Debug)]
pub struct List<T: ListEntry> {
    /// The entries kept, in order.
    pub entries: Vec<T>,
    /// Entries beyond the cap.
    pub dropped: u64,
    /// What the entries beyond the cap add up to.
    pub overflow: T::Overflow,
    /// Entries that were not objects.
    pub skipped: u64,
    /// It was one object, not a list.
    pub single: bool,
}

impl<T: ListEntry> Default for List<T> {
    fn default() -> Self {
        List {
            entries: Vec::new(),
            dropped: 0,
            overflow: T::Overflow::default(),
            skipped: 0,
            single: false,
        }
    }
}

impl<T: ListEntry> List<T> {
    fn push(&mut self, entry: Object<T>) {
        match entry.0 {
            None => self.skipped += 1,
            Some(entry) if self.entries.len() < T::MAX => self.entries.push(entry),
            Some(entry) => {
                self.dropped += 1;
                T::overflow(&mut self.overflow, entry);
            }
        }
    }
}

impl<'de, T: ListEntry + Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: ListEntry + Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut list = List::default();
                while let Some(entry) = seq.next_element::<Object<T>>()? {
                    list.push(entry);
                }
                Ok(list)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
                let mut list = List {
                    single: true,
                    ..List::default()
                };
                let entry = T::deserialize(MapAccessDeserializer::new(map))?;
                list.push(Object(Some(entry)));
                Ok(list)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<List<T>, E> {
                Ok(List::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
                Ok(List::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
                Ok(List::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
                Ok(List::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
                Ok(List::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List::default())
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object type whose fields are read leniently: each field is read by
/// its own lenient type, unknown fields are skipped, and a field written
/// twice keeps its first value (a derived `Deserialize` would refuse the
/// whole report over a repeated key).
macro_rules! lenient_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $key:literal => pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut object = $name::default();
                        struct Seen { $( $field: bool, )* }
                        let mut seen = Seen { $( $field: false, )* };
                        while let Some(key) = map.next_key::<String>()? {
                            match key.as_str() {
                                $( $key if !seen.$field => {
                                    seen.$field = true;
                                    object.$field = map.next_value()?;
                                } )*
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(object)
                    }
                }
                deserializer.deserialize_map(V)
            }
        }
    };
}

lenient_object! {
    /// The top-level report object (RFC 8460 §4.4).
    pub struct RawReport {
        /// `organization-name`.
        "organization-name" => pub organization_name: Text,
        /// `date-range`.
        "date-range" => pub date_range: Object<RawDateRange>,
        /// `contact-info`.
        "contact-info" => pub contact_info: Text,
        /// `report-id`.
        "report-id" => pub report_id: Text,
        /// `policies`.
        "policies" => pub policies: List<RawPolicyResult>,
    }
}

lenient_object! {
    /// `date-range`.
    pub struct RawDateRange {
        /// `start-datetime`.
        "start-datetime" => pub start: Text,
        /// `end-datetime`.
        "end-datetime" => pub end: Text,
    }
}

lenient_object! {
    /// One entry of `policies`: the policy, its summary and failure details.
    pub struct RawPolicyResult {
        /// `policy`.
        "policy" => pub policy: Object<RawPolicy>,
        /// `summary`.
        "summary" => pub summary: Object<RawSummary>,
        /// `failure-details`.
        "failure-details" => pub failure_details: List<RawFailureDetail>,
    }
}

/// The most policies kept of one report.
pub const MAX_POLICIES: usize = 50;

impl ListEntry for RawPolicyResult {
    const MAX: usize = MAX_POLICIES;
    type Overflow = ();
    fn overflow(_: &mut (), _: Self) {}
}

lenient_object! {
    /// `policy`.
    pub struct RawPolicy {
        /// `policy-type`.
        "policy-type" => pub policy_type: Text,
        /// `policy-string`.
        "policy-string" => pub policy_string: Strings,
        /// `policy-domain`.
        "policy-domain" => pub policy_domain: Text,
        /// `mx-host`.
        "mx-host" => pub mx_host: Strings,
    }
}

lenient_object! {
    /// `summary`.
    pub struct RawSummary {
        /// `total-successful-session-count`.
        "total-successful-session-count" => pub successful: Count,
        /// `total-failure-session-count`.
        "total-failure-session-count" => pub failed: Count,
    }
}

lenient_object! {
    /// One entry of `failure-details`.
    pub struct RawFailureDetail {
        /// `result-type`.
        "result-type" => pub result_type: Text,
        /// `sending-mta-ip`.
        "sending-mta-ip" => pub sending_mta_ip: Text,
        /// `receiving-mx-hostname`.
        "receiving-mx-hostname" => pub receiving_mx_hostname: Text,
        /// `receiving-mx-helo`.
        "receiving-mx-helo" => pub receiving_mx_helo: Text,
        /// `receiving-ip`.
        "receiving-ip" => pub receiving_ip: Text,
        /// `failed-session-count`.
        "failed-session-count" => pub failed_session_count: Count,
        /// `additional-information`.
        "additional-information" => pub additional_information: Text,
        /// `failure-reason-code`.
        "failure-reason-code" => pub failure_reason_code: Text,
    }
}

/// The most failure details kept of one policy.
pub const MAX_FAILURE_DETAILS: usize = 200;

impl ListEntry for RawFailureDetail {
    const MAX: usize = MAX_FAILURE_DETAILS;
    /// The failed sessions of the details beyond the cap.
    type Overflow = u64;
    fn overflow(sessions: &mut u64, entry: Self) {
        *sessions = sessions.saturating_add(entry.failed_session_count.value.unwrap_or(0));
    }
}
