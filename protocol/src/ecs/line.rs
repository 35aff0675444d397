//! Line framing and tokenisation: cutting a byte stream into lines ([`split_line`]) and a
//! line into words, with the argument readers every command parser shares.
//!
//! A line ends at `\n`; one `\r` before it is dropped, so `\r\n` from telnet works.
//! Words are separated by runs of ASCII whitespace (space, tab, `\r`, `\n`, vertical tab,
//! form feed), and whitespace around the line is ignored.

use std::str::FromStr;

use super::addr::{parse_decimal, HostPort};
use super::error::{snippet, AddrError, ParseError};

/// The default maximum length of a line, in bytes without its terminator: 1 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 1024 * 1024;

/// Finds the first line in `buf`, as UTF-8 text.
///
/// Returns `Ok(Some((line, used)))` for a complete line: `line` without its `\n` (and
/// without a `\r` just before it), `used` the bytes it took including the terminator.
/// Returns `Ok(None)` when `buf` holds no `\n` yet and could still become a line of at
/// most `max_line_len` bytes. A line longer than `max_line_len` (terminator not counted)
/// is [`ParseError::LineTooLong`], reported as soon as it is certain, before the newline
/// arrives; a line that is not UTF-8 is [`ParseError::BadUtf8`]. Neither error consumes
/// anything. To go on after `LineTooLong`, a caller discards bytes up to and including
/// the next `\n` itself (or closes the connection); to skip a line that is not UTF-8, it
/// uses [`split_line_bytes`], which tells how many bytes the line takes.
pub fn split_line(buf: &[u8], max_line_len: usize) -> Result<Option<(&str, usize)>, ParseError> {
    match split_line_bytes(buf, max_line_len)? {
        None => Ok(None),
        Some((line, used)) => match std::str::from_utf8(line) {
            Ok(text) => Ok(Some((text, used))),
            Err(e) => Err(ParseError::BadUtf8 {
                valid_up_to: e.valid_up_to(),
            }),
        },
    }
}

/// Like [`split_line`], but gives the line as bytes and does not check UTF-8.
pub fn split_line_bytes(
    buf: &[u8],
    max_line_len: usize,
) -> Result<Option<(&[u8], usize)>, ParseError> {
    // The whole buffer is searched so that `LineTooLong` reports the exact length; a
    // caller's buffer never holds much more than `max_line_len` bytes of one line,
    // because this function reports the line as too long as soon as it is.
    match buf.iter().position(|&b| b == b'\n') {
        Some(newline) => {
            let mut line = &buf[..newline];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.len() > max_line_len {
                return Err(ParseError::LineTooLong {
                    len: line.len(),
                    max: max_line_len,
                });
            }
            Ok(Some((line, newline + 1)))
        }
        None => {
            // A last `\r` may still be the first half of a `\r\n` terminator.
            let pending_cr = buf.last() == Some(&b'\r');
            let len = buf.len() - usize::from(pending_cr);
            if len > max_line_len {
                Err(ParseError::LineTooLong {
                    len,
                    max: max_line_len,
                })
            } else {
                Ok(None)
            }
        }
    }
}

/// True for the characters that separate words.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

/// The words of a line, read one at a time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    /// The words of `line`.
    pub(crate) fn new(line: &'a str) -> Self {
        Tokens { rest: line }
    }

    /// The text after the words read so far, without surrounding whitespace.
    pub(crate) fn rest(&self) -> &'a str {
        self.rest.trim_matches(is_separator)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest.trim_start_matches(is_separator);
        let end = s.find(is_separator).unwrap_or(s.len());
        let (word, rest) = s.split_at(end);
        self.rest = rest;
        (!word.is_empty()).then_some(word)
    }
}

/// The arguments of one command, with readers that report errors in its name.
pub(crate) struct Args<'a> {
    command: &'static str,
    tokens: Tokens<'a>,
}

impl<'a> Args<'a> {
    /// The words after `command`'s keyword.
    pub(crate) fn new(command: &'static str, tokens: Tokens<'a>) -> Self {
        Args { command, tokens }
    }

    /// The next word, if any.
    pub(crate) fn optional(&mut self) -> Option<&'a str> {
        self.tokens.next()
    }

    /// True when no words are left.
    pub(crate) fn at_end(&self) -> bool {
        let mut rest = self.tokens;
        rest.next().is_none()
    }

    /// The next word, which must be there.
    pub(crate) fn required(&mut self, arg: &'static str) -> Result<&'a str, ParseError> {
        self.tokens.next().ok_or(ParseError::MissingArgument {
            command: self.command,
            arg,
        })
    }

    /// A decimal number of type `T`, `bits` wide (for the error message).
    pub(crate) fn number<T: FromStr>(
        &mut self,
        arg: &'static str,
        bits: u32,
    ) -> Result<T, ParseError> {
        let token = self.required(arg)?;
        parse_decimal(token).ok_or_else(|| ParseError::BadNumber {
            command: self.command,
            arg,
            bits,
            token: snippet(token),
        })
    }

    /// An address in the two-token form `<address> <port>`.
    pub(crate) fn host_port(&mut self) -> Result<HostPort, ParseError> {
        let host = self.required("address")?;
        self.host_port_after(host)
    }

    /// The `<port>` that follows an `<address>` already read, and the address they make.
    pub(crate) fn host_port_after(&mut self, host: &str) -> Result<HostPort, ParseError> {
        let port = self.required("port")?;
        HostPort::from_tokens(host, port).map_err(|reason| match reason {
            AddrError::BadPort { .. } => ParseError::BadPort {
                command: self.command,
                token: snippet(port),
            },
            reason => ParseError::BadAddress {
                command: self.command,
                token: snippet(host),
                reason,
            },
        })
    }

    /// Every word left, numbered from 0, each turned into a value by `read`.
    pub(crate) fn rest_each<T>(
        &mut self,
        mut read: impl FnMut(usize, &'a str) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        self.tokens
            .by_ref()
            .enumerate()
            .map(|(index, token)| read(index, token))
            .collect()
    }

    /// Checks that no words are left.
    pub(crate) fn finish(mut self) -> Result<(), ParseError> {
        match self.tokens.next() {
            None => Ok(()),
            Some(first) => Err(ParseError::ExtraArguments {
                command: self.command,
                token: snippet(first),
                count: 1 + self.tokens.count(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_newline_with_optional_cr() {
        assert_eq!(split_line(b"ok\nrest", 10), Ok(Some(("ok", 3))));
        assert_eq!(split_line(b"ok\r\nrest", 10), Ok(Some(("ok", 4))));
        assert_eq!(split_line(b"\n", 10), Ok(Some(("", 1))));
        assert_eq!(split_line(b"ok\r\r\n", 10), Ok(Some(("ok\r", 5))));
        assert_eq!(split_line(b"", 10), Ok(None));
        assert_eq!(split_line(b"partial", 10), Ok(None));
    }

    #[test]
    fn the_limit_excludes_the_terminator() {
        assert_eq!(split_line(b"abcd\r\n", 4), Ok(Some(("abcd", 6))));
        assert_eq!(split_line(b"abcd\r", 4), Ok(None));
        assert_eq!(split_line(b"abcd", 4), Ok(None));
        let too_long = Err(ParseError::LineTooLong { len: 5, max: 4 });
        assert_eq!(split_line(b"abcde", 4), too_long);
        assert_eq!(split_line(b"abcde\n", 4), too_long);
        assert_eq!(split_line(b"abcde\r\n", 4), too_long);
        assert_eq!(split_line(b"abcd\r\r", 4), too_long);
        assert!(matches!(
            split_line(&[b'x'; 100], 4),
            Err(ParseError::LineTooLong { len: 100, max: 4 })
        ));
        assert_eq!(split_line(b"\n", 0), Ok(Some(("", 1))));
        assert_eq!(split_line(b"abc\n", usize::MAX), Ok(Some(("abc", 4))));
    }

    #[test]
    fn bad_utf8_is_typed_and_bytes_variant_can_skip_it() {
        assert_eq!(
            split_line(b"ab\xff\n", 10),
            Err(ParseError::BadUtf8 { valid_up_to: 2 })
        );
        assert_eq!(
            split_line_bytes(b"ab\xff\nok\n", 10),
            Ok(Some((&b"ab\xff"[..], 4)))
        );
    }

    #[test]
    fn tokens_skip_runs_of_whitespace() {
        let t: Vec<&str> = Tokens::new(" \tA  b\t\tc \r\n").collect();
        assert_eq!(t, ["A", "b", "c"]);
        assert_eq!(Tokens::new("   ").next(), None);
        let mut t = Tokens::new("error  some  reason \r\n");
        assert_eq!(t.next(), Some("error"));
        assert_eq!(t.rest(), "some  reason");
    }

    #[test]
    fn finish_counts_extra_words() {
        let mut args = Args::new("done", Tokens::new("a 1 x y"));
        assert!(args.host_port().is_ok());
        assert_eq!(
            args.finish(),
            Err(ParseError::ExtraArguments {
                command: "done",
                token: "x".into(),
                count: 2
            })
        );
    }
}
