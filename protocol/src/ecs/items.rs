//! The payload of `ecs_put`: data items ([`Item`]), their token encoding
//! `<base64 key>:<base64 value>`, one part of a transfer ([`PutPart`]), and exact line
//! lengths computed without formatting, which the splitter relies on.
//!
//! Base64 is the standard alphabet with `=` padding (RFC 4648 §4), decoded strictly: the
//! padding must be there and the unused bits must be zero, so every byte string has
//! exactly one encoding. The alphabet has no `:`, which makes the separator unambiguous.

use std::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

use super::error::ItemError;

/// The keyword of an `ecs_put` line.
pub(crate) const ECS_PUT: &str = "ecs_put";

/// One key–value pair moved between groups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Item {
    /// The key's bytes (any bytes, possibly empty).
    pub key: Bytes,
    /// The value's bytes (any bytes, possibly empty).
    pub value: Bytes,
}

impl Item {
    /// An item from anything that converts into `Bytes` (`&'static [u8]`, `Vec<u8>`,
    /// `&'static str`, `String`, ...).
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Item {
        Item {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The item's token, `<base64 key>:<base64 value>`.
    pub fn to_token(&self) -> String {
        self.token().to_string()
    }

    /// A `Display` adaptor writing the token without building a `String` first.
    pub fn token(&self) -> impl fmt::Display + '_ {
        ItemToken(self)
    }

    /// Reads a token `<base64 key>:<base64 value>`; either side may be empty.
    pub fn from_token(token: &str) -> Result<Item, ItemError> {
        let (key, value) = token.split_once(':').ok_or(ItemError::MissingSeparator)?;
        Ok(Item {
            key: decode_base64("key", key)?,
            value: decode_base64("value", value)?,
        })
    }

    /// Length of the item's token in bytes, computed without encoding.
    pub fn token_len(&self) -> usize {
        base64_len(self.key.len())
            .saturating_add(1)
            .saturating_add(base64_len(self.value.len()))
    }
}

struct ItemToken<'a>(&'a Item);

impl fmt::Display for ItemToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            Base64Display::new(&self.0.key, &STANDARD),
            Base64Display::new(&self.0.value, &STANDARD)
        )
    }
}

fn decode_base64(field: &'static str, text: &str) -> Result<Bytes, ItemError> {
    STANDARD
        .decode(text)
        .map(Bytes::from)
        .map_err(|e| ItemError::BadBase64 {
            field,
            detail: e.to_string(),
        })
}

/// Length of the padded base64 encoding of `n` bytes: `4 * ceil(n / 3)`.
pub fn base64_len(n: usize) -> usize {
    (n / 3 + usize::from(n % 3 != 0)).saturating_mul(4)
}

/// Number of decimal digits of `n` (1 for 0).
fn decimal_len(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// A client session's last command, moved with the range that holds its key (a marked
/// extension: token `!<client id, 16 hex digits>.<sequence>.<base64 key>.<base64 answer>`).
///
/// The receiver merges it by highest sequence, so a command whose answer was lost at
/// the old owner and is resent to the new one is answered from the session table instead
/// of being applied a second time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SessionEntry {
    /// The session's client id.
    pub client_id: u64,
    /// The sequence number of the session's last applied command.
    pub sequence: u64,
    /// The key that command touched.
    pub key: Bytes,
    /// The command's answer, as the body of a client 'c' packet.
    pub answer: Bytes,
}

/// The first byte of a session token: not in the base64 alphabet, so an item token can
/// never start with it.
const SESSION_MARK: char = '!';

impl SessionEntry {
    /// The entry's token.
    pub fn to_token(&self) -> String {
        self.token().to_string()
    }

    /// A `Display` adaptor writing the token.
    pub fn token(&self) -> impl fmt::Display + '_ {
        SessionToken(self)
    }

    /// Whether `token` is a session token rather than an item.
    pub fn is_token(token: &str) -> bool {
        token.starts_with(SESSION_MARK)
    }

    /// Reads a session token.
    pub fn from_token(token: &str) -> Result<SessionEntry, ItemError> {
        let body = token
            .strip_prefix(SESSION_MARK)
            .ok_or(ItemError::BadSession("a session token starts with '!'"))?;
        let mut fields = body.split('.');
        let (Some(client), Some(seq), Some(key), Some(answer), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(ItemError::BadSession(
                "expected !<client id>.<sequence>.<base64 key>.<base64 answer>",
            ));
        };
        let hex = client.len() == 16 && client.bytes().all(|b| b.is_ascii_hexdigit());
        let client_id = u64::from_str_radix(client, 16)
            .ok()
            .filter(|_| hex && client == client.to_ascii_lowercase())
            .ok_or(ItemError::BadSession(
                "the client id is 16 lower-case hex digits",
            ))?;
        let canonical = !seq.is_empty() && (seq == "0" || !seq.starts_with('0'));
        let sequence = seq
            .parse::<u64>()
            .ok()
            .filter(|_| canonical && seq.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(ItemError::BadSession(
                "the sequence is a decimal number without leading zeros",
            ))?;
        Ok(SessionEntry {
            client_id,
            sequence,
            key: decode_base64("key", key)?,
            answer: decode_base64("value", answer)?,
        })
    }

    /// Length of the entry's token in bytes, computed without encoding.
    pub fn token_len(&self) -> usize {
        (SESSION_MARK.len_utf8() + 16 + 1 + decimal_len(self.sequence) + 1)
            .saturating_add(base64_len(self.key.len()))
            .saturating_add(1)
            .saturating_add(base64_len(self.answer.len()))
    }
}

struct SessionToken<'a>(&'a SessionEntry);

impl fmt::Display for SessionToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SESSION_MARK}{:016x}.{}.{}.{}",
            self.0.client_id,
            self.0.sequence,
            Base64Display::new(&self.0.key, &STANDARD),
            Base64Display::new(&self.0.answer, &STANDARD)
        )
    }
}

/// One `ecs_put` message: part `part` of transfer `transfer_id`, carrying `items`.
///
/// A transfer is the set of items one group sends another for one `transfer_range`; the
/// sender numbers its parts 0, 1, 2, ... so the receiver can recognise a part it has
/// already stored (a resend after a lost `ok` or a leader change) and acknowledge it
/// again without applying it twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PutPart {
    /// Identifies the transfer; chosen by the sender, the same in all its parts.
    pub transfer_id: u64,
    /// Sequence number of this part within the transfer, from 0.
    pub part: u32,
    /// The items, in the order they were handed to the splitter.
    pub items: Vec<Item>,
    /// Session entries of the moved range (an extension; written after the items).
    pub sessions: Vec<SessionEntry>,
}

impl PutPart {
    /// Length in bytes of this part's canonical `ecs_put` line (without terminator),
    /// computed without formatting it.
    pub fn line_len(&self) -> usize {
        let header = put_header_len(self.transfer_id, self.part);
        let items = self.items.iter().map(Item::token_len);
        let sessions = self.sessions.iter().map(SessionEntry::token_len);
        items.chain(sessions).fold(header, |len, token| {
            len.saturating_add(1).saturating_add(token)
        })
    }

    /// Total bytes of the keys and values carried (before encoding).
    pub fn payload_len(&self) -> usize {
        self.items.iter().fold(0usize, |n, i| {
            n.saturating_add(i.key.len()).saturating_add(i.value.len())
        })
    }
}

/// Length of `ecs_put <transfer_id> <part>`, the start of every `ecs_put` line. Each
/// item then adds one space and its [`Item::token_len`].
pub fn put_header_len(transfer_id: u64, part: u32) -> usize {
    ECS_PUT.len() + 1 + decimal_len(transfer_id) + 1 + decimal_len(u64::from(part))
}

/// Writes the canonical line of a part.
pub(crate) fn fmt_put(part: &PutPart, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{ECS_PUT} {} {}", part.transfer_id, part.part)?;
    for item in &part.items {
        write!(f, " {}", item.token())?;
    }
    for session in &part.sessions {
        write!(f, " {}", session.token())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_len_matches_the_encoder() {
        for n in 0..50 {
            assert_eq!(base64_len(n), STANDARD.encode(vec![0u8; n]).len(), "n={n}");
        }
    }

    #[test]
    fn decimal_len_counts_digits() {
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(u64::MAX), 20);
    }

    #[test]
    fn item_tokens_round_trip_and_reject_garbage() {
        let item = Item::new(&b"k"[..], &b"v"[..]);
        assert_eq!(item.to_token(), "aw==:dg==");
        assert_eq!(Item::from_token("aw==:dg=="), Ok(item));
        assert_eq!(Item::from_token(":"), Ok(Item::default()));
        assert_eq!(Item::from_token("aw=="), Err(ItemError::MissingSeparator));
        assert!(matches!(
            Item::from_token("aw:dg=="),
            Err(ItemError::BadBase64 { field: "key", .. })
        ));
        // Non-zero trailing bits: not the canonical encoding of any byte string.
        assert!(matches!(
            Item::from_token("aw==:dh=="),
            Err(ItemError::BadBase64 { field: "value", .. })
        ));
        assert!(matches!(
            Item::from_token("aw==:dg==:"),
            Err(ItemError::BadBase64 { field: "value", .. })
        ));
    }
}
