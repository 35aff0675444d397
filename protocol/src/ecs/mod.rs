//! The ECS protocol (`ecs-protocol.md`): text lines between the ECS and the replica
//! groups, and between two groups during a transfer. No I/O here: this module turns
//! bytes into lines, lines into typed messages and back, and splits transfers into
//! lines of bounded size.
//!
//! - [`line`](mod@line): framing ([`split_line`], [`DEFAULT_MAX_LINE_LEN`]) and the tokeniser.
//! - [`addr`]: [`HostPort`], in its `host:port` and `<address> <port>` forms.
//! - [`request`]: [`Request`], every line that asks for something.
//! - [`reply`]: [`Reply`], the `ok` / `error` that answers each request.
//! - [`items`]: [`Item`] and [`PutPart`], the payload of `ecs_put`, and exact line lengths.
//! - [`split`]: [`split_into_parts`] and [`PartSplitter`], which cut a transfer into
//!   parts whose lines fit a maximum length.
//! - [`cluster`]: [`Register`], [`Member`], [`ClusterView`], [`NodeEntry`], the bodies of
//!   the `register` and `cluster_view` extensions.
//! - [`auth`]: [`AuthLine`], the two lines of the control-port handshake (extension).
//! - [`error`]: [`ParseError`] and the per-token errors, [`SplitError`].
//!
//! A line is a keyword and its arguments separated by whitespace, ended by `\n` (or
//! `\r\n`, so a person can speak the protocol through `nc` or telnet). Parsing accepts any
//! keyword case, extra whitespace and a trailing terminator, and rejects leftover
//! arguments; `Display` writes one canonical form (lowercase keyword, single spaces, no
//! terminator), so `parse(x.to_line()) == x` for every value. Nothing here panics on any
//! input: every fault is a typed error that quotes at most [`SNIPPET_CHARS`] characters
//! of what it found.
//!
//! What this module must not do: decide what a message means for the ring (who owns
//! which keys, when a lock is released); that is the node's and the ECS's job.
//! `docs/protocol.md` describes the format, and marks where it extends the seed.

pub mod addr;
pub mod auth;
pub mod cluster;
pub mod error;
pub mod items;
pub mod line;
pub mod reply;
pub mod request;
pub mod split;

pub use addr::{HostPort, MAX_HOST_LEN};
pub use auth::{AuthLine, AuthLineError};
pub use cluster::{ClusterView, Member, NodeEntry, Register};
pub use error::{AddrError, FieldError, ItemError, ParseError, SplitError, SNIPPET_CHARS};
pub use items::{base64_len, put_header_len, Item, PutPart, SessionEntry};
pub use line::{split_line, split_line_bytes, DEFAULT_MAX_LINE_LEN};
pub use reply::Reply;
pub use request::Request;
pub use split::{split_into_parts, PartSplitter};
