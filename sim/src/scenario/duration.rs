//! Durations in scenario files: a non-negative decimal number and a unit, as a string.
//!
//! Accepted: `"250us"`, `"200ms"`, `"1.5s"`, `"2m"`, `"0s"`. Rejected: bare numbers (`5`,
//! `"5"`), signs, spaces, other units, and values finer than a nanosecond (they could not be
//! written back unchanged). Printing is canonical and lossless: the largest of `s`, `ms`,
//! `us` that holds the value as a whole number, else microseconds with a fraction
//! (`"1.5us"`), so `parse_duration(&format_duration(d)) == Ok(d)` for every `d`.
//!
//! Use with serde as `#[serde(with = "crate::scenario::duration")]`, or
//! `#[serde(default, with = "crate::scenario::duration::option")]` for an optional field.
//! This module owns the syntax only; whether a duration makes sense is `parse`'s job.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// The accepted forms, quoted in every error.
const FORMS: &str = "a non-negative number and a unit us, ms, s or m, as a string \
                     (e.g. \"250us\", \"200ms\", \"1.5s\", \"2m\")";

/// Nanoseconds per unit, longest suffix first so `ms` is not read as `m`.
const UNITS: [(&str, u128); 4] = [
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
];

/// Parses `"1.5s"`, `"200ms"`, `"2m"`, `"250us"`; the error says what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("invalid duration {text:?}: {why}; expected {FORMS}");
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| bad("no unit"))?;
    let (number, unit) = text.split_at(digits_end);
    let unit_ns = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, ns)| *ns)
        .ok_or_else(|| bad("unknown unit"))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let fraction_ok = !number.contains('.') || !fraction.is_empty();
    if whole.is_empty() || !fraction_ok || fraction.contains('.') {
        return Err(bad("not a decimal number"));
    }
    let too_large = || bad("too large");
    let mut nanos: u128 = 0;
    for digit in whole.bytes() {
        nanos = nanos
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(digit - b'0')))
            .ok_or_else(too_large)?;
    }
    nanos = nanos.checked_mul(unit_ns).ok_or_else(too_large)?;
    // The fraction, exactly: digit i is worth unit_ns / 10^(i+1).
    let mut scale = unit_ns;
    for digit in fraction.bytes() {
        let value = u128::from(digit - b'0');
        if scale % 10 != 0 {
            if value != 0 {
                return Err(bad("finer than a nanosecond"));
            }
            continue;
        }
        scale /= 10;
        nanos = nanos.checked_add(value * scale).ok_or_else(too_large)?;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    // The remainder is below 10^9, so it fits.
    let subsec = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

/// The canonical text of `d`: `"3s"`, `"1500ms"`, `"250us"`, or `"1.5us"` below a microsecond.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos % 1_000_000_000 == 0 {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        let fraction = format!("{:03}", nanos % 1_000);
        format!("{}.{}us", nanos / 1_000, fraction.trim_end_matches('0'))
    }
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
            "1 s",
            " 1s",
            "1h",
            "1sec",
            "1S",
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
            (Duration::from_nanos(1500), "1.5us"),
            (Duration::from_nanos(1), "0.001us"),
            (Duration::MAX, "18446744073709551615999999.999us"),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
    }
}
