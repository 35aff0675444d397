//! Which seeds a case list covers: the scenario's own list, one seed, or a range written
//! `A..B` (half-open) or `A..=B` (inclusive).

use std::fmt;
use std::str::FromStr;

use crate::scenario::Scenario;

/// The most seeds one range may name: each becomes a case held in memory, and a longer
/// exploration is better split into several runs.
pub const MAX_RANGE_LEN: u64 = 1_000_000;

/// An inclusive range of seeds, parsed from `A..B` or `A..=B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub first: u64,
    /// The last seed (inclusive).
    pub last: u64,
}

/// Why a seed range did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedRangeError {
    /// Neither `..` nor `..=` between two numbers.
    #[error("expected a range of seeds such as 0..100 (half-open) or 0..=99 (inclusive)")]
    Syntax,
    /// One end is not a number.
    #[error("{0:?} is not a seed (a whole number from 0 to 18446744073709551615)")]
    NotANumber(String),
    /// `A..B` with `B <= A`.
    #[error("the range {0} names no seeds")]
    Empty(String),
    /// More than [`MAX_RANGE_LEN`] seeds.
    #[error("the range {0} names more than {MAX_RANGE_LEN} seeds; split it into several runs")]
    TooLong(String),
}

impl FromStr for SeedRange {
    type Err = SeedRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (a, b, inclusive) = match text.split_once("..") {
            Some((a, rest)) => match rest.strip_prefix('=') {
                Some(b) => (a, b, true),
                None => (a, rest, false),
            },
            None => return Err(SeedRangeError::Syntax),
        };
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| SeedRangeError::NotANumber(s.to_string()))
        };
        let (first, end) = (number(a)?, number(b)?);
        let last = if inclusive {
            end
        } else {
            end.checked_sub(1)
                .ok_or_else(|| SeedRangeError::Empty(text.to_string()))?
        };
        if last < first {
            return Err(SeedRangeError::Empty(text.to_string()));
        }
        if last - first >= MAX_RANGE_LEN {
            return Err(SeedRangeError::TooLong(text.to_string()));
        }
        Ok(SeedRange { first, last })
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.first, self.last)
    }
}

impl SeedRange {
    /// The seeds in order.
    pub fn seeds(&self) -> impl Iterator<Item = u64> {
        self.first..=self.last
    }
}

/// Where a run takes its seeds from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedChoice {
    /// Each scenario's own `seeds` list.
    Listed,
    /// This one seed for every scenario.
    One(u64),
    /// These seeds for every scenario.
    Range(SeedRange),
}

impl SeedChoice {
    /// The seeds to run `scenario` with, in order.
    pub fn seeds_for(&self, scenario: &Scenario) -> Vec<u64> {
        match self {
            SeedChoice::Listed => scenario.seeds.clone(),
            SeedChoice::One(seed) => vec![*seed],
            SeedChoice::Range(range) => range.seeds().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_open_and_inclusive() {
        assert_eq!("1..3".parse(), Ok(SeedRange { first: 1, last: 2 }));
        assert_eq!("1..=3".parse(), Ok(SeedRange { first: 1, last: 3 }));
        assert_eq!("5..=5".parse(), Ok(SeedRange { first: 5, last: 5 }));
        let max = u64::MAX;
        assert_eq!(
            format!("{max}..={max}").parse(),
            Ok(SeedRange {
                first: max,
                last: max
            })
        );
    }

    #[test]
    fn rejects_bad_ranges() {
        assert_eq!("7".parse::<SeedRange>(), Err(SeedRangeError::Syntax));
        assert_eq!(
            "3..3".parse::<SeedRange>(),
            Err(SeedRangeError::Empty("3..3".into()))
        );
        assert_eq!(
            "0..0".parse::<SeedRange>(),
            Err(SeedRangeError::Empty("0..0".into()))
        );
        assert_eq!(
            "4..=3".parse::<SeedRange>(),
            Err(SeedRangeError::Empty("4..=3".into()))
        );
        assert_eq!(
            "a..3".parse::<SeedRange>(),
            Err(SeedRangeError::NotANumber("a".into()))
        );
        assert_eq!(
            "1..".parse::<SeedRange>(),
            Err(SeedRangeError::NotANumber("".into()))
        );
        assert!(matches!(
            "0..2000000".parse::<SeedRange>(),
            Err(SeedRangeError::TooLong(_))
        ));
        assert!("0..1000000".parse::<SeedRange>().is_ok());
    }
}
