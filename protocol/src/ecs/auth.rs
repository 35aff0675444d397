//! **Extension:** the two lines of the control-port handshake, `auth_challenge <nonce>`
//! (server -> connecting side) and `auth <proof>` (connecting side -> server), answered
//! `ok` or `error unauthenticated ...` ([`Reply`](super::Reply)). Only their words live
//! here; computing and checking the proof (an HMAC over the nonce) is the node's job.
//!
//! Both are written in lowercase hex, so a line can never carry anything but its one
//! number. Parsing accepts any keyword and hex-digit case, like every other line; the
//! canonical line is lowercase.

use std::fmt;

use thiserror::Error;

/// Bytes of a challenge nonce: 128 bits, so two connections never share one.
pub const NONCE_LEN: usize = 16;
/// Bytes of a proof: one HMAC-SHA256 output.
pub const PROOF_LEN: usize = 32;

/// The keyword of the server's challenge line.
pub const CHALLENGE_KEYWORD: &str = "auth_challenge";
/// The keyword of the connecting side's answer.
pub const AUTH_KEYWORD: &str = "auth";

/// One handshake line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthLine {
    /// `auth_challenge <32 hex digits>`: the nonce the connecting side must prove it can
    /// sign; a fresh one on every connection.
    Challenge([u8; NONCE_LEN]),
    /// `auth <64 hex digits>`: the proof, HMAC-SHA256(secret, label || nonce).
    Proof([u8; PROOF_LEN]),
}

/// Why a line is not a handshake line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthLineError {
    /// The first word is neither `auth_challenge` nor `auth` (or the line is empty).
    #[error("not an auth line")]
    NotAuth,
    /// The keyword is right but its argument is missing, extra, or not `len` hex digits.
    #[error("{keyword} takes exactly one argument of {len} hex digits")]
    BadArgument {
        /// The line's keyword.
        keyword: &'static str,
        /// The hex digits it needs.
        len: usize,
    },
}

impl AuthLine {
    /// Parses one line (with or without its terminator).
    pub fn parse(line: &str) -> Result<AuthLine, AuthLineError> {
        let mut words = line.split_ascii_whitespace();
        let keyword = words.next().ok_or(AuthLineError::NotAuth)?;
        let arg = words.next();
        let extra = words.next().is_some();
        if keyword.eq_ignore_ascii_case(CHALLENGE_KEYWORD) {
            let bad = AuthLineError::BadArgument {
                keyword: CHALLENGE_KEYWORD,
                len: 2 * NONCE_LEN,
            };
            let nonce = arg.filter(|_| !extra).and_then(from_hex).ok_or(bad)?;
            Ok(AuthLine::Challenge(nonce))
        } else if keyword.eq_ignore_ascii_case(AUTH_KEYWORD) {
            let bad = AuthLineError::BadArgument {
                keyword: AUTH_KEYWORD,
                len: 2 * PROOF_LEN,
            };
            let proof = arg.filter(|_| !extra).and_then(from_hex).ok_or(bad)?;
            Ok(AuthLine::Proof(proof))
        } else {
            Err(AuthLineError::NotAuth)
        }
    }

    /// The canonical line, without terminator.
    pub fn to_line(&self) -> String {
        self.to_string()
    }

    /// The line's keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            AuthLine::Challenge(_) => CHALLENGE_KEYWORD,
            AuthLine::Proof(_) => AUTH_KEYWORD,
        }
    }
}

impl fmt::Display for AuthLine {
    /// Writes the canonical line: keyword, one space, lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: &[u8] = match self {
            AuthLine::Challenge(n) => n,
            AuthLine::Proof(p) => p,
        };
        write!(f, "{} {}", self.keyword(), to_hex(bytes))
    }
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Exactly `N` bytes from `2N` hex digits (either case); `None` for anything else.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *slot = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_lines_read_back() {
        let c = AuthLine::Challenge([0xab; NONCE_LEN]);
        assert_eq!(c.to_line(), format!("auth_challenge {}", "ab".repeat(16)));
        assert_eq!(AuthLine::parse(&c.to_line()), Ok(c));
        let p = AuthLine::Proof(std::array::from_fn(|i| i as u8));
        assert_eq!(AuthLine::parse(&p.to_line()), Ok(p));
        assert_eq!(
            AuthLine::parse(&format!("  AUTH   {}\r\n", "0F".repeat(32))),
            Ok(AuthLine::Proof([0x0f; PROOF_LEN]))
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(AuthLine::parse("write_lock"), Err(AuthLineError::NotAuth));
        assert_eq!(AuthLine::parse(""), Err(AuthLineError::NotAuth));
        assert_eq!(AuthLine::parse("authx 00"), Err(AuthLineError::NotAuth));
        for bad in [
            "auth".to_string(),
            format!("auth {}", "0".repeat(63)),
            format!("auth {}", "0".repeat(65)),
            format!("auth {}g", "0".repeat(63)),
            format!("auth {} x", "0".repeat(64)),
            format!("auth_challenge {}", "0".repeat(64)),
        ] {
            assert!(
                matches!(
                    AuthLine::parse(&bad),
                    Err(AuthLineError::BadArgument { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
