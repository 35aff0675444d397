//! **Extension:** the three lines of the control-port handshake (v2, mutual):
//! `auth_challenge <nonce>` (port -> connecting side), `auth <proof> <nonce> <target>`
//! (connecting side -> port) and `auth_ok <proof>` (port -> connecting side), or
//! `error unauthenticated ...` ([`Reply`](super::Reply)) instead of the last. Only their
//! words live here; computing and checking the proofs (HMACs over both nonces and the
//! target) is the node's job.
//!
//! Nonces and proofs are written in lowercase hex; the target is one word (`ecs`, or the
//! admin address `host:port` the connecting side dialled). Parsing accepts any keyword and
//! hex-digit case, like every other line; the canonical line is lowercase.

use std::fmt;

use thiserror::Error;

/// Bytes of a nonce: 128 bits, so two connections never share one.
pub const NONCE_LEN: usize = 16;
/// Bytes of a proof: one HMAC-SHA256 output.
pub const PROOF_LEN: usize = 32;
/// Longest target: a DNS name (253) with a port, bracketed IPv6 addresses included.
pub const MAX_TARGET_LEN: usize = 300;

/// The keyword of the port's challenge line.
pub const CHALLENGE_KEYWORD: &str = "auth_challenge";
/// The keyword of the connecting side's answer.
pub const AUTH_KEYWORD: &str = "auth";
/// The keyword of the port's acceptance, carrying its own proof.
pub const ACCEPTED_KEYWORD: &str = "auth_ok";

/// One handshake line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthLine {
    /// `auth_challenge <32 hex digits>`: the port's nonce, fresh on every connection.
    Challenge([u8; NONCE_LEN]),
    /// `auth <64 hex digits> <32 hex digits> <target>`: the connecting side's proof, its
    /// own nonce, and whom it means to reach.
    Proof {
        /// HMAC-SHA256(secret, dial label || port nonce || this nonce || target).
        proof: [u8; PROOF_LEN],
        /// The connecting side's nonce, which the port's answer must sign.
        nonce: [u8; NONCE_LEN],
        /// `ecs`, or the admin address (`host:port`) that was dialled.
        target: String,
    },
    /// `auth_ok <64 hex digits>`: the port admits the connection and proves it holds the
    /// secret too, HMAC-SHA256(secret, accept label || port nonce || dialler nonce ||
    /// target).
    Accepted([u8; PROOF_LEN]),
}

/// Why a line is not a handshake line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthLineError {
    /// The first word is none of the handshake's keywords (or the line is empty).
    #[error("not an auth line")]
    NotAuth,
    /// The keyword is right but its arguments are missing, extra, or malformed.
    #[error("{keyword} takes {expected}")]
    BadArgument {
        /// The line's keyword.
        keyword: &'static str,
        /// What it takes, in words.
        expected: &'static str,
    },
}

const CHALLENGE_ARGS: &str = "exactly one argument of 32 hex digits";
const AUTH_ARGS: &str =
    "exactly three arguments: a proof of 64 hex digits, a nonce of 32 hex digits, and the target";
const ACCEPTED_ARGS: &str = "exactly one argument of 64 hex digits";

impl AuthLine {
    /// Parses one line (with or without its terminator).
    pub fn parse(line: &str) -> Result<AuthLine, AuthLineError> {
        let mut words = line.split_ascii_whitespace();
        let keyword = words.next().ok_or(AuthLineError::NotAuth)?;
        let args: Vec<&str> = words.take(4).collect();
        let bad = |keyword, expected| AuthLineError::BadArgument { keyword, expected };
        if keyword.eq_ignore_ascii_case(CHALLENGE_KEYWORD) {
            let [nonce] = args[..] else {
                return Err(bad(CHALLENGE_KEYWORD, CHALLENGE_ARGS));
            };
            from_hex(nonce)
                .map(AuthLine::Challenge)
                .ok_or(bad(CHALLENGE_KEYWORD, CHALLENGE_ARGS))
        } else if keyword.eq_ignore_ascii_case(AUTH_KEYWORD) {
            let [proof, nonce, target] = args[..] else {
                return Err(bad(AUTH_KEYWORD, AUTH_ARGS));
            };
            let (Some(proof), Some(nonce)) = (from_hex(proof), from_hex(nonce)) else {
                return Err(bad(AUTH_KEYWORD, AUTH_ARGS));
            };
            if target.len() > MAX_TARGET_LEN || !target.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(AUTH_KEYWORD, AUTH_ARGS));
            }
            Ok(AuthLine::Proof {
                proof,
                nonce,
                target: target.to_owned(),
            })
        } else if keyword.eq_ignore_ascii_case(ACCEPTED_KEYWORD) {
            let [proof] = args[..] else {
                return Err(bad(ACCEPTED_KEYWORD, ACCEPTED_ARGS));
            };
            from_hex(proof)
                .map(AuthLine::Accepted)
                .ok_or(bad(ACCEPTED_KEYWORD, ACCEPTED_ARGS))
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
            AuthLine::Proof { .. } => AUTH_KEYWORD,
            AuthLine::Accepted(_) => ACCEPTED_KEYWORD,
        }
    }
}

impl fmt::Display for AuthLine {
    /// Writes the canonical line: keyword, then its arguments separated by one space,
    /// bytes in lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthLine::Challenge(n) => write!(f, "{} {}", self.keyword(), to_hex(n)),
            AuthLine::Proof {
                proof,
                nonce,
                target,
            } => write!(
                f,
                "{} {} {} {}",
                self.keyword(),
                to_hex(proof),
                to_hex(nonce),
                target
            ),
            AuthLine::Accepted(p) => write!(f, "{} {}", self.keyword(), to_hex(p)),
        }
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

    fn proof_line(target: &str) -> AuthLine {
        AuthLine::Proof {
            proof: std::array::from_fn(|i| i as u8),
            nonce: [0xcd; NONCE_LEN],
            target: target.to_owned(),
        }
    }

    #[test]
    fn canonical_lines_read_back() {
        let c = AuthLine::Challenge([0xab; NONCE_LEN]);
        assert_eq!(c.to_line(), format!("auth_challenge {}", "ab".repeat(16)));
        assert_eq!(AuthLine::parse(&c.to_line()), Ok(c));
        for target in ["ecs", "127.0.0.1:7001", "[::1]:7001", "n1a:7001"] {
            let p = proof_line(target);
            assert_eq!(AuthLine::parse(&p.to_line()), Ok(p));
        }
        let a = AuthLine::Accepted([0x5a; PROOF_LEN]);
        assert_eq!(a.to_line(), format!("auth_ok {}", "5a".repeat(32)));
        assert_eq!(AuthLine::parse(&a.to_line()), Ok(a));
        assert_eq!(
            AuthLine::parse(&format!(
                "  AUTH   {}  {}\tecs\r\n",
                "0F".repeat(32),
                "Cd".repeat(16)
            )),
            Ok(AuthLine::Proof {
                proof: [0x0f; PROOF_LEN],
                nonce: [0xcd; NONCE_LEN],
                target: "ecs".into()
            })
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(AuthLine::parse("write_lock"), Err(AuthLineError::NotAuth));
        assert_eq!(AuthLine::parse(""), Err(AuthLineError::NotAuth));
        assert_eq!(AuthLine::parse("authx 00"), Err(AuthLineError::NotAuth));
        let (p, n) = ("0".repeat(64), "0".repeat(32));
        for bad in [
            "auth".to_string(),
            format!("auth {p}"),
            format!("auth {p} {n}"),
            format!("auth {p} {n} ecs extra"),
            format!("auth {} {n} ecs", "0".repeat(63)),
            format!("auth {p} {}g ecs", "0".repeat(31)),
            format!("auth {p} {n} {}", "x".repeat(MAX_TARGET_LEN + 1)),
            format!("auth {p} {n} caf\u{e9}"),
            format!("auth_challenge {p}"),
            format!("auth_challenge {n} {n}"),
            format!("auth_ok {n}"),
            "auth_ok".to_string(),
        ] {
            assert!(
                matches!(
                    AuthLine::parse(&bad),
                    Err(AuthLineError::BadArgument { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(AuthLine::parse(&format!("auth {p} {n} {}", "x".repeat(MAX_TARGET_LEN))).is_ok());
    }
}
