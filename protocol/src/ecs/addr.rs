//! Network addresses as the ECS protocol writes them: [`HostPort`], its `host:port` text
//! form (used inside member and node tokens, and as the text a ring position is hashed
//! from) and its two-token form `<address> <port>` (used by the seed's messages).

use std::fmt;
use std::str::FromStr;

use super::error::{snippet, AddrError};

/// Longest host accepted, in bytes (a DNS name has at most 253 characters).
pub const MAX_HOST_LEN: usize = 255;

/// A host and a TCP port: where a node's ring, admin or client endpoint is.
///
/// The host is a DNS name or an IP address. Every `HostPort` holds a valid host (1 to
/// [`MAX_HOST_LEN`] printable ASCII characters other than `/`, `[` and `]`), which is
/// why the fields are private: any value can be written into a line and read back
/// unchanged.
///
/// `Display` gives `host:port`, with a host containing `:` (IPv6) in brackets:
/// `[::1]:80`. `FromStr` reads that form back; it also accepts brackets around a host
/// without `:`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// An address from a bare host (no brackets, even for IPv6) and a port.
    pub fn new(host: impl Into<String>, port: u16) -> Result<HostPort, AddrError> {
        let host = host.into();
        check_host(&host)?;
        Ok(HostPort { host, port })
    }

    /// The host, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The two-token form `<address> <port>` of the seed's messages: the bare host, a
    /// space, the port (`::1 80`).
    pub(crate) fn spaced(&self) -> Spaced<'_> {
        Spaced(self)
    }

    /// Reads the two-token form: `host` is the `<address>` token (bare, or in brackets)
    /// and `port` the `<port>` token. The error says which of the two is wrong.
    pub(crate) fn from_tokens(host: &str, port: &str) -> Result<HostPort, AddrError> {
        let host = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']').ok_or(AddrError::UnclosedBracket)?,
            None => host,
        };
        check_host(host)?;
        let port = parse_port(port)?;
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostPort {
    type Err = AddrError;

    /// Reads `host:port` or `[host]:port`.
    fn from_str(s: &str) -> Result<HostPort, AddrError> {
        let (host, port) = match s.strip_prefix('[') {
            Some(inner) => {
                let (host, after) = inner.split_once(']').ok_or(AddrError::UnclosedBracket)?;
                let port = after.strip_prefix(':').ok_or(AddrError::MissingPort)?;
                (host, port)
            }
            None => {
                if s.is_empty() {
                    return Err(AddrError::EmptyHost);
                }
                let (host, port) = s.rsplit_once(':').ok_or(AddrError::MissingPort)?;
                if host.contains(':') {
                    return Err(AddrError::UnbracketedColon);
                }
                (host, port)
            }
        };
        check_host(host)?;
        if port.is_empty() {
            return Err(AddrError::MissingPort);
        }
        let port = parse_port(port)?;
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

/// Display adaptor for the two-token form; see [`HostPort::spaced`].
pub(crate) struct Spaced<'a>(&'a HostPort);

impl fmt::Display for Spaced<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.host, self.0.port)
    }
}

/// Checks the rules every host obeys.
fn check_host(host: &str) -> Result<(), AddrError> {
    if host.is_empty() {
        return Err(AddrError::EmptyHost);
    }
    if host.len() > MAX_HOST_LEN {
        return Err(AddrError::HostTooLong {
            len: host.len(),
            max: MAX_HOST_LEN,
        });
    }
    match host.chars().find(|&c| !is_host_char(c)) {
        Some(ch) => Err(AddrError::BadHostChar { ch }),
        None => Ok(()),
    }
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '/' | '[' | ']')
}

/// Reads a port: decimal digits only (no sign), at most 65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, AddrError> {
    parse_decimal(text).ok_or_else(|| AddrError::BadPort {
        text: snippet(text),
    })
}

/// Reads an unsigned decimal number: one or more ASCII digits and nothing else (no sign,
/// no whitespace), within the range of `T`. Leading zeros are accepted.
pub(crate) fn parse_decimal<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn text_form_reads_names_v4_and_bracketed_v6() {
        assert_eq!("node-1.lan:7000".parse(), Ok(hp("node-1.lan", 7000)));
        assert_eq!("10.0.0.1:0".parse(), Ok(hp("10.0.0.1", 0)));
        assert_eq!("[::1]:80".parse(), Ok(hp("::1", 80)));
        assert_eq!("[localhost]:80".parse(), Ok(hp("localhost", 80)));
        assert_eq!(hp("::1", 80).to_string(), "[::1]:80");
        assert_eq!(hp("a.b", 65535).to_string(), "a.b:65535");
    }

    #[test]
    fn text_form_errors_are_typed() {
        let e = |s: &str| s.parse::<HostPort>().unwrap_err();
        assert_eq!(e(""), AddrError::EmptyHost);
        assert_eq!(e(":80"), AddrError::EmptyHost);
        assert_eq!(e("host"), AddrError::MissingPort);
        assert_eq!(e("host:"), AddrError::MissingPort);
        assert_eq!(e("[::1]"), AddrError::MissingPort);
        assert_eq!(e("[::1]80"), AddrError::MissingPort);
        assert_eq!(e("[::1:80"), AddrError::UnclosedBracket);
        assert_eq!(e("::1:80"), AddrError::UnbracketedColon);
        assert_eq!(
            e("h:70000"),
            AddrError::BadPort {
                text: "70000".into()
            }
        );
        assert_eq!(e("h:+80"), AddrError::BadPort { text: "+80".into() });
        assert_eq!(e("h/x:80"), AddrError::BadHostChar { ch: '/' });
        assert_eq!(e("h x:80"), AddrError::BadHostChar { ch: ' ' });
        assert_eq!(e("hé:80"), AddrError::BadHostChar { ch: 'é' });
        let long = format!("{}:80", "a".repeat(MAX_HOST_LEN + 1));
        assert!(matches!(e(&long), AddrError::HostTooLong { .. }));
    }

    #[test]
    fn new_checks_the_host() {
        assert_eq!(HostPort::new("::1", 1), Ok(hp("::1", 1)));
        assert_eq!(HostPort::new("", 1), Err(AddrError::EmptyHost));
        assert_eq!(
            HostPort::new("[::1]", 1),
            Err(AddrError::BadHostChar { ch: '[' })
        );
    }

    #[test]
    fn token_form_accepts_bare_or_bracketed_hosts() {
        assert_eq!(HostPort::from_tokens("::1", "80"), Ok(hp("::1", 80)));
        assert_eq!(HostPort::from_tokens("[::1]", "80"), Ok(hp("::1", 80)));
        assert_eq!(
            HostPort::from_tokens("[::1", "80"),
            Err(AddrError::UnclosedBracket)
        );
        assert_eq!(HostPort::from_tokens("[]", "80"), Err(AddrError::EmptyHost));
        assert_eq!(hp("::1", 80).spaced().to_string(), "::1 80");
    }
}
