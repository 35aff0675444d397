//! [`Reply`]: the answer to every [`Request`](super::Request), `ok` or `error`.

use std::fmt;

use bytes::BytesMut;

use super::addr::HostPort;
use super::error::{snippet, ParseError};
use super::line::{Args, Tokens};
use super::request::MAX_KEYWORD_LEN;

/// The word after `error` that marks a [`Reply::NotLeader`].
const NOT_LEADER: &str = "not_leader";

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply {
    /// `ok`: the request was carried out (for `ecs_put`: the part is durable).
    Ok,
    /// `error <reason>`: the request was refused; the reason is free text for people.
    ///
    /// The reason is written with control characters (tab, CR, LF, ...) replaced by
    /// spaces and surrounding whitespace removed, so it can never break the line. It must
    /// not begin with the word `not_leader`, which marks [`Reply::NotLeader`]; such a
    /// reason does not read back as `Error`.
    Error(String),
    /// `error not_leader <address> <port>` or `error not_leader unknown` (extension): a
    /// follower of a replica group refuses, naming its leader's admin address, or
    /// `unknown` when it knows no leader (the sender should retry later).
    NotLeader(Option<HostPort>),
    /// `status <json>` (extension): the ECS's answer to `status`, one JSON object on the
    /// rest of the line (no line breaks: control characters are replaced by spaces when
    /// written, as in an `error` reason).
    Status(String),
}

impl Reply {
    /// Parses one line (with or without its `\n` / `\r\n`), as tolerantly as
    /// [`Request::parse`](super::Request::parse).
    ///
    /// `error` followed by the word `not_leader` (any case) is a [`Reply::NotLeader`] and
    /// must have its arguments; any other `error` line is a [`Reply::Error`] whose reason
    /// is the rest of the line, trimmed, with control characters (tabs) made spaces as
    /// when it is written, so that a parsed reply writes a line that parses to itself.
    /// (After `error`, every control character therefore separates words.)
    pub fn parse(line: &str) -> Result<Reply, ParseError> {
        let mut tokens = Tokens::new(line);
        let keyword = tokens.next().ok_or(ParseError::Empty)?;
        let lower = if keyword.len() <= MAX_KEYWORD_LEN {
            keyword.to_ascii_lowercase()
        } else {
            String::new()
        };
        match lower.as_str() {
            "ok" => {
                Args::new("ok", tokens).finish()?;
                Ok(Reply::Ok)
            }
            "error" => {
                // The reason is cleaned before its first word is looked at, so a line
                // reads the same as the canonical line written from what it gave.
                let reason = clean_reason(tokens.rest());
                let mut words = Tokens::new(&reason);
                match words.next() {
                    Some(word) if word.eq_ignore_ascii_case(NOT_LEADER) => {
                        parse_not_leader(words).map(Reply::NotLeader)
                    }
                    _ => Ok(Reply::Error(reason)),
                }
            }
            "status" => Ok(Reply::Status(clean_reason(tokens.rest()))),
            _ => Err(ParseError::UnknownCommand {
                token: snippet(keyword),
            }),
        }
    }

    /// The canonical line, without terminator.
    pub fn to_line(&self) -> String {
        self.to_string()
    }

    /// Appends the canonical line and its `\n` terminator to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        use std::fmt::Write as _;
        // Writing into a BytesMut cannot fail: it grows as needed.
        let _ = writeln!(out, "{self}");
    }
}

impl std::str::FromStr for Reply {
    type Err = ParseError;

    /// Same as [`Reply::parse`].
    fn from_str(line: &str) -> Result<Reply, ParseError> {
        Reply::parse(line)
    }
}

impl fmt::Display for Reply {
    /// Writes the canonical line, without terminator.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok => f.write_str("ok"),
            Reply::Error(reason) => {
                let clean = clean_reason(reason);
                if clean.is_empty() {
                    f.write_str("error")
                } else {
                    write!(f, "error {clean}")
                }
            }
            Reply::NotLeader(Some(leader)) => write!(f, "error {NOT_LEADER} {}", leader.spaced()),
            Reply::NotLeader(None) => write!(f, "error {NOT_LEADER} unknown"),
            Reply::Status(json) => {
                let clean = clean_reason(json);
                if clean.is_empty() {
                    f.write_str("status")
                } else {
                    write!(f, "status {clean}")
                }
            }
        }
    }
}

/// A reason as it is written and read: control characters (tab, CR, LF, ...) become
/// spaces, and whitespace around it (Unicode's, as `str::trim`) is removed.
fn clean_reason(reason: &str) -> String {
    let spaced: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.trim().to_owned()
}

fn parse_not_leader(tokens: Tokens<'_>) -> Result<Option<HostPort>, ParseError> {
    let mut args = Args::new(NOT_LEADER, tokens);
    let host = args.required("address")?;
    let leader = if host.eq_ignore_ascii_case("unknown") && args.at_end() {
        None
    } else {
        Some(args.host_port_after(host)?)
    };
    args.finish()?;
    Ok(leader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reasons_cannot_break_the_line() {
        let r = Reply::Error(" a\r\nb\tc \u{7f}".into());
        assert_eq!(r.to_line(), "error a  b c");
        assert_eq!(Reply::Error("\n".into()).to_line(), "error");
    }

    #[test]
    fn not_leader_needs_an_address_or_unknown() {
        assert_eq!(
            Reply::parse("error not_leader"),
            Err(ParseError::MissingArgument {
                command: NOT_LEADER,
                arg: "address"
            })
        );
        assert_eq!(
            Reply::parse("error not_leader h"),
            Err(ParseError::MissingArgument {
                command: NOT_LEADER,
                arg: "port"
            })
        );
        assert_eq!(
            Reply::parse("error NOT_LEADER Unknown"),
            Ok(Reply::NotLeader(None))
        );
        assert_eq!(
            Reply::parse("error not_leader unknown 80"),
            Ok(Reply::NotLeader(Some(
                HostPort::new("unknown", 80).unwrap()
            )))
        );
    }
}
