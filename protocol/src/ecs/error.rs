//! The errors of the ECS text protocol: why a line could not be framed or parsed
//! ([`ParseError`], with [`AddrError`], [`ItemError`] and [`FieldError`] naming what was
//! wrong inside one token), and why a transfer could not be split ([`SplitError`]).
//!
//! Every error that quotes input quotes at most [`SNIPPET_CHARS`] characters of it, so a
//! megabyte of garbage produces a short message a person can read.

use thiserror::Error;

/// How many characters of an offending token an error quotes; longer tokens are cut and
/// end in `...`.
pub const SNIPPET_CHARS: usize = 40;

/// The first [`SNIPPET_CHARS`] characters of `s`, with `...` appended when it was cut.
/// Cuts on a character boundary, so it never panics on multi-byte text.
pub(crate) fn snippet(s: &str) -> String {
    match s.char_indices().nth(SNIPPET_CHARS) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}...", &s[..cut]),
    }
}

/// Why a line of the ECS protocol could not be framed or parsed.
///
/// `command` fields hold the canonical keyword (`"next_addr"`, `"not_leader"`, ...), `arg`
/// fields the argument's name as the documentation writes it (`"port"`, `"transfer_id"`),
/// and `token` fields the offending text cut to [`SNIPPET_CHARS`] characters. Indexes of
/// items, members and nodes count from 0.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The line holds nothing but whitespace.
    #[error("empty line")]
    Empty,
    /// The line is longer than the configured maximum. When no newline has arrived yet,
    /// `len` is the number of bytes seen so far: the line is at least that long.
    #[error("line of {len} bytes exceeds the maximum of {max}")]
    LineTooLong {
        /// Length of the line, without its terminator.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    BadUtf8 {
        /// Offset of the first byte that is not part of valid UTF-8.
        valid_up_to: usize,
    },
    /// The first word of the line is no command (or reply) of the protocol.
    #[error("unknown command {token:?}")]
    UnknownCommand {
        /// The word found.
        token: String,
    },
    /// The line ends before a required argument.
    #[error("{command}: missing argument <{arg}>")]
    MissingArgument {
        /// The command being parsed.
        command: &'static str,
        /// The argument that is missing.
        arg: &'static str,
    },
    /// The line has words left over after the command's last argument.
    #[error("{command}: {count} unexpected extra argument(s), starting with {token:?}")]
    ExtraArguments {
        /// The command being parsed.
        command: &'static str,
        /// The first extra word.
        token: String,
        /// How many extra words there are.
        count: usize,
    },
    /// A numeric argument is not plain decimal digits or does not fit its type.
    #[error("{command}: <{arg}> must be a decimal number of at most {bits} bits, got {token:?}")]
    BadNumber {
        /// The command being parsed.
        command: &'static str,
        /// The argument.
        arg: &'static str,
        /// Width of the argument's type: 32 or 64.
        bits: u32,
        /// The text found.
        token: String,
    },
    /// A `<port>` argument is not a decimal number from 0 to 65535.
    #[error("{command}: <port> must be a decimal number from 0 to 65535, got {token:?}")]
    BadPort {
        /// The command being parsed.
        command: &'static str,
        /// The text found.
        token: String,
    },
    /// An `<address>` argument is not a valid host.
    #[error("{command}: bad <address> {token:?}: {reason}")]
    BadAddress {
        /// The command being parsed.
        command: &'static str,
        /// The text found.
        token: String,
        /// What is wrong with it.
        reason: AddrError,
    },
    /// An `ecs_put` item token is malformed.
    #[error("ecs_put: bad item {index} {token:?}: {reason}")]
    BadItem {
        /// Position of the item on the line, from 0.
        index: usize,
        /// The token found.
        token: String,
        /// What is wrong with it.
        reason: ItemError,
    },
    /// A `register` member token is malformed.
    #[error("register: bad member {index} {token:?}: {reason}")]
    BadMember {
        /// Position of the member on the line, from 0.
        index: usize,
        /// The token found.
        token: String,
        /// What is wrong with it.
        reason: FieldError,
    },
    /// A `cluster_view` node token is malformed.
    #[error("cluster_view: bad node {index} {token:?}: {reason}")]
    BadNode {
        /// Position of the node on the line, from 0.
        index: usize,
        /// The token found.
        token: String,
        /// What is wrong with it.
        reason: FieldError,
    },
}

/// Why a host or a `host:port` text is not a valid address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddrError {
    /// The host is empty.
    #[error("empty host")]
    EmptyHost,
    /// The host is longer than [`MAX_HOST_LEN`](super::MAX_HOST_LEN) bytes.
    #[error("host of {len} bytes exceeds the maximum of {max}")]
    HostTooLong {
        /// Length of the host.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The host contains a character hosts may not contain (whitespace, a control
    /// character, a non-ASCII character, `/`, `[` or `]`).
    #[error("host contains {ch:?}, which a host may not contain")]
    BadHostChar {
        /// The first such character.
        ch: char,
    },
    /// A `host:port` text has no `:port`.
    #[error("missing :<port> after the host")]
    MissingPort,
    /// The port is not a decimal number from 0 to 65535.
    #[error("port must be a decimal number from 0 to 65535, got {text:?}")]
    BadPort {
        /// The text found, cut to [`SNIPPET_CHARS`] characters.
        text: String,
    },
    /// A host containing `:` (an IPv6 address) is not in brackets, so its port cannot be
    /// told apart: write `[::1]:80`.
    #[error("a host containing ':' must be written in brackets, as [host]:port")]
    UnbracketedColon,
    /// A `[` opens a host that no `]` closes.
    #[error("missing ']' after a bracketed host")]
    UnclosedBracket,
}

/// Why an `ecs_put` item token (`<base64 key>:<base64 value>`) is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ItemError {
    /// The token has no `:` between key and value.
    #[error("expected <base64 key>:<base64 value>, found no ':'")]
    MissingSeparator,
    /// The key or the value is not canonical padded base64 (standard alphabet).
    #[error("{field} is not valid padded base64: {detail}")]
    BadBase64 {
        /// `"key"` or `"value"`.
        field: &'static str,
        /// The decoder's explanation.
        detail: String,
    },
    /// A session token (`!...`) is malformed; says what was expected.
    #[error("bad session token: {0}")]
    BadSession(&'static str),
}

/// Why a `/`-separated token (a `register` member or a `cluster_view` node) is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    /// The token does not have the number of `/`-separated fields its kind needs.
    #[error("expected {expected} '/'-separated fields, found {found}")]
    FieldCount {
        /// Fields a token of this kind has.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A node id is not a decimal number that fits in 32 bits.
    #[error("<id> must be a decimal number of at most 32 bits, got {text:?}")]
    BadId {
        /// The text found, cut to [`SNIPPET_CHARS`] characters.
        text: String,
    },
    /// One of the `host:port` fields is malformed.
    #[error("bad <{field}> address: {reason}")]
    BadAddress {
        /// Which field: `"ring"`, `"admin"` or `"client"`.
        field: &'static str,
        /// What is wrong with it.
        reason: AddrError,
    },
}

/// Why a transfer could not be split into `ecs_put` parts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    /// One item does not fit in a line of the maximum length even alone. `needed` is the
    /// length of the `ecs_put` line holding only this item, with the part number it would
    /// have had.
    #[error(
        "an item with a {key_len}-byte key and a {value_len}-byte value needs an ecs_put \
         line of {needed} bytes, more than the maximum of {max}"
    )]
    ItemTooLarge {
        /// Length of the item's key, in bytes (before encoding).
        key_len: usize,
        /// Length of the item's value, in bytes (before encoding).
        value_len: usize,
        /// Length of the smallest line that could carry it.
        needed: usize,
        /// The configured maximum line length.
        max: usize,
    },
    /// The transfer would need more parts than a 32-bit part number can count.
    #[error("the transfer needs more than 2^32 ecs_put parts")]
    TooManyParts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_on_char_boundaries() {
        assert_eq!(snippet("short"), "short");
        let long: String = "é".repeat(50);
        let cut = snippet(&long);
        assert_eq!(cut, format!("{}...", "é".repeat(SNIPPET_CHARS)));
        assert_eq!(
            snippet(&"x".repeat(SNIPPET_CHARS)),
            "x".repeat(SNIPPET_CHARS)
        );
    }
}
