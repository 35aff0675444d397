//! Durations in scenario files: a number and a unit, as a string.
//!
//! Reading is `humantime`'s: `"250us"`, `"200ms"`, `"1.5s"`, `"2m"`, `"0s"`, also longer
//! forms such as `"1m 30s"` or `"2min"`. Rejected: bare numbers (`5`, `"5"`), signs, units
//! humantime does not know, and values finer than a nanosecond. The error quotes the text,
//! says what humantime found wrong and shows the usual forms; the TOML parser adds the file,
//! line and field.
//!
//! Writing is ours, not humantime's: one number and one unit, the largest of `s`, `ms`,
//! `us`, `ns` that holds the value as a whole number (`"3s"`, `"1500ms"`). That is the form
//! every shipped scenario file, regression file and snapshot trace uses (humantime writes
//! `"1s 500ms"`), and humantime reads it back exactly, so
//! `parse_duration(&format_duration(d)) == Ok(d)` for every `d`.
//!
//! Use with serde as `#[serde(with = "crate::scenario::duration")]`, or
//! `#[serde(default, with = "crate::scenario::duration::option")]` for an optional field.
//! This module owns the syntax only; whether a duration makes sense is `parse`'s job.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// The accepted forms, quoted in every error.
const FORMS: &str = "a non-negative number and a unit such as us, ms, s or m, as a string \
                     (e.g. \"250us\", \"200ms\", \"1.5s\", \"2m\")";

/// Parses `"1.5s"`, `"200ms"`, `"2m"`, `"250us"` (humantime's syntax); the error says what
/// is wrong and what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration {text:?}: {e}; expected {FORMS}"))
}

/// The canonical text of `d`: `"3s"`, `"1500ms"`, `"250us"`, `"1500ns"`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    // humantime reads each number as a u64: pick the largest unit whose count fits.
    for (unit, per) in [
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if nanos % per == 0 {
            if let Ok(count) = u64::try_from(nanos / per) {
                return format!("{count}{unit}");
            }
        }
    }
    // Only past u64::MAX nanoseconds (some 584 years) with a fraction of a second:
    // humantime's own several-unit form, which it reads back exactly.
    humantime::format_duration(d).to_string()
}

/// Serializes a duration as its canonical string.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*d))
}

/// Deserializes a duration from a string such as `"1.5s"`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_str(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(FORMS)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).map_err(E::custom)
    }
}

/// The same for `Option<Duration>`: an absent field (with `#[serde(default)]`) is `None`.
pub mod option {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;

    /// Serializes `Some` as the canonical string; `None` is left out by TOML.
    pub fn serialize<S: Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serializer.serialize_some(&super::format_duration(*d)),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes a present field as a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(super::FORMS)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let ok = [
            ("0s", Duration::ZERO),
            ("250us", Duration::from_micros(250)),
            ("200ms", Duration::from_millis(200)),
            ("1.5s", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("0.25m", Duration::from_secs(15)),
            ("1.5us", Duration::from_nanos(1500)),
            ("1.000000000s", Duration::from_secs(1)),
            // Forms the shipped scenario files use.
            ("12.5s", Duration::from_millis(12_500)),
            ("15180ms", Duration::from_millis(15_180)),
            // humantime's longer forms.
            ("1m 30s", Duration::from_secs(90)),
            ("2min", Duration::from_secs(120)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejected_forms() {
        let bad = [
            "",
            "5",
            "-1s",
            "+1s",
            "1.5",
            "s",
            ".5s",
            "1.s",
            "1..5s",
            "1.2.3s",
            "1S",
            "1fortnight",
            "1.0001us",
            "1e3ms",
            "99999999999999999999999999999999999m",
        ];
        for text in bad {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("\"200ms\""), "{err}");
        }
    }

    #[test]
    fn format_is_canonical_and_lossless() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(3), "3s"),
            (Duration::from_secs(120), "120s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_nanos(1500), "1500ns"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_secs(u64::MAX), "18446744073709551615s"),
            (
                Duration::MAX,
                "584542046090years 7months 15days 17h 5m 3s 999ms 999us 999ns",
            ),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
    }
}
