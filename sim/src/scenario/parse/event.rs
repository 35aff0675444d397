//! Reading one `[[timeline]]` entry into a [`TimedEvent`].
//!
//! The entry is one flat table (`at`, `action`, then the action's own fields). It is first
//! read into [`RawEvent`], a plain struct with every possible field optional, straight
//! from the TOML deserializer: nothing is buffered, so a wrong type or an unknown action
//! is reported at its own position in the file. Then the action decides which fields it
//! needs and which it forbids. Those errors use serde's wording (``missing field `node` ``,
//! ``unknown field `count` ``) so `parse` can name the field and find its line.
//!
//! This module owns the entry's shape only; whether a host or time is valid is
//! `validate`'s job.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::scenario::model::{Event, GroupLinks, RogueAuth, RogueKind, TimedEvent, Trigger};

/// Every field a timeline entry may have, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent {
    #[serde(default, with = "crate::scenario::duration::option")]
    at: Option<Duration>,
    when: Option<Trigger>,
    action: Action,
    count: Option<u32>,
    node: Option<String>,
    group: Option<u32>,
    a: Option<Hosts>,
    b: Option<Hosts>,
    bytes: Option<usize>,
    links: Option<GroupLinks>,
    kind: Option<RogueKind>,
    to: Option<Hosts>,
    auth: Option<RogueAuth>,
    lines: Option<Vec<String>>,
    #[serde(rename = "for", default, with = "crate::scenario::duration::option")]
    length: Option<Duration>,
}

/// The `action` names, one per [`Event`] variant.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Join,
    Remove,
    Crash,
    Restart,
    Wipe,
    CrashLeader,
    IsolateLeader,
    CrashGroup,
    RestartGroup,
    HealAll,
    CrashEcs,
    RestartEcs,
    PauseEcs,
    ResumeEcs,
    Partition,
    Heal,
    Hold,
    Release,
    SetPartSize,
    CrashFollower,
    IsolateLeaderFromFollowers,
    PartitionOneway,
    HoldGroupLinks,
    FailDisk,
    Corrupt,
    Rogue,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Join => "join",
            Action::Remove => "remove",
            Action::Crash => "crash",
            Action::Restart => "restart",
            Action::Wipe => "wipe",
            Action::CrashLeader => "crash_leader",
            Action::IsolateLeader => "isolate_leader",
            Action::CrashGroup => "crash_group",
            Action::RestartGroup => "restart_group",
            Action::HealAll => "heal_all",
            Action::CrashEcs => "crash_ecs",
            Action::RestartEcs => "restart_ecs",
            Action::PauseEcs => "pause_ecs",
            Action::ResumeEcs => "resume_ecs",
            Action::Partition => "partition",
            Action::Heal => "heal",
            Action::Hold => "hold",
            Action::Release => "release",
            Action::SetPartSize => "set_part_size",
            Action::CrashFollower => "crash_follower",
            Action::PartitionOneway => "partition_oneway",
            Action::IsolateLeaderFromFollowers => "isolate_leader_from_followers",
            Action::HoldGroupLinks => "hold_group_links",
            Action::FailDisk => "fail_disk",
            Action::Corrupt => "corrupt",
            Action::Rogue => "rogue",
        }
    }

    /// The fields the action takes besides `at` and `action`.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Action::Join => &["count"],
            Action::Crash | Action::Restart | Action::Wipe | Action::FailDisk | Action::Corrupt => {
                &["node"]
            }
            Action::IsolateLeader => &["group", "for"],
            Action::CrashLeader
            | Action::CrashGroup
            | Action::RestartGroup
            | Action::CrashFollower
            | Action::Remove => &["group"],
            Action::IsolateLeaderFromFollowers => &["group", "for"],
            Action::HoldGroupLinks => &["group", "links", "for"],
            Action::CrashEcs
            | Action::RestartEcs
            | Action::PauseEcs
            | Action::ResumeEcs
            | Action::HealAll => &[],
            Action::Partition | Action::Heal | Action::Release => &["a", "b"],
            Action::Hold => &["a", "b", "for"],
            Action::PartitionOneway => &["a", "b", "for"],
            Action::SetPartSize => &["bytes"],
            Action::Rogue => &["kind", "to", "auth", "lines"],
        }
    }
}

/// `a`/`b`: one host (`hold`, `release`) or a list (`partition`, `heal`).
enum Hosts {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Hosts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HostsVisitor)
    }
}

struct HostsVisitor;

impl<'de> Visitor<'de> for HostsVisitor {
    type Value = Hosts;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a host name (\"n1\") or a list of host names ([\"n1\", \"c2\"])")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Hosts, E> {
        Ok(Hosts::One(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Hosts, A::Error> {
        let mut hosts = Vec::new();
        while let Some(host) = seq.next_element::<String>()? {
            hosts.push(host);
        }
        Ok(Hosts::Many(hosts))
    }
}

impl TryFrom<RawEvent> for TimedEvent {
    type Error = String;

    fn try_from(raw: RawEvent) -> Result<Self, String> {
        let action = raw.action;
        let given = [
            ("count", raw.count.is_some()),
            ("node", raw.node.is_some()),
            ("group", raw.group.is_some()),
            ("a", raw.a.is_some()),
            ("b", raw.b.is_some()),
            ("bytes", raw.bytes.is_some()),
            ("links", raw.links.is_some()),
            ("for", raw.length.is_some()),
            ("kind", raw.kind.is_some()),
            ("to", raw.to.is_some()),
            ("auth", raw.auth.is_some()),
            ("lines", raw.lines.is_some()),
        ];
        let allowed = action.fields();
        if let Some((field, _)) = given
            .iter()
            .find(|(field, present)| *present && !allowed.contains(field))
        {
            let takes = match allowed {
                [] => "no other fields".to_owned(),
                fields => fields
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
            };
            return Err(format!(
                "unknown field `{field}`: action `{}` takes {takes}",
                action.name()
            ));
        }
        let missing = |field: &str| {
            format!(
                "missing field `{field}` (action `{}` needs it)",
                action.name()
            )
        };
        let list = |hosts: Option<Hosts>, field: &str| match hosts {
            Some(Hosts::Many(hosts)) => Ok(hosts),
            Some(Hosts::One(host)) => Err(format!(
                "invalid type for field `{field}`: action `{}` takes a list of hosts, \
                 such as {field} = [{host:?}]",
                action.name()
            )),
            None => Err(missing(field)),
        };
        let one = |hosts: Option<Hosts>, field: &str| match hosts {
            Some(Hosts::One(host)) => Ok(host),
            Some(Hosts::Many(_)) => Err(format!(
                "invalid type for field `{field}`: action `{}` takes one host, \
                 such as {field} = \"n1\"",
                action.name()
            )),
            None => Err(missing(field)),
        };
        let event = match action {
            Action::Join => Event::Join {
                count: raw.count.unwrap_or(1),
            },
            Action::Remove => Event::Remove {
                group: raw.group.ok_or_else(|| missing("group"))?,
            },
            Action::Crash => Event::Crash {
                node: raw.node.ok_or_else(|| missing("node"))?,
            },
            Action::Restart => Event::Restart {
                node: raw.node.ok_or_else(|| missing("node"))?,
            },
            Action::Wipe => Event::Wipe {
                node: raw.node.ok_or_else(|| missing("node"))?,
            },
            Action::CrashLeader => Event::CrashLeader {
                group: raw.group.ok_or_else(|| missing("group"))?,
            },
            Action::IsolateLeader => Event::IsolateLeader {
                group: raw.group.ok_or_else(|| missing("group"))?,
                length: raw.length,
            },
            Action::CrashGroup => Event::CrashGroup {
                group: raw.group.ok_or_else(|| missing("group"))?,
            },
            Action::RestartGroup => Event::RestartGroup {
                group: raw.group.ok_or_else(|| missing("group"))?,
            },
            Action::HealAll => Event::HealAll,
            Action::CrashEcs => Event::CrashEcs,
            Action::RestartEcs => Event::RestartEcs,
            Action::PauseEcs => Event::PauseEcs,
            Action::ResumeEcs => Event::ResumeEcs,
            Action::Partition => Event::Partition {
                a: list(raw.a, "a")?,
                b: list(raw.b, "b")?,
            },
            Action::Heal => Event::Heal {
                a: list(raw.a, "a")?,
                b: list(raw.b, "b")?,
            },
            Action::Hold => Event::Hold {
                a: one(raw.a, "a")?,
                b: one(raw.b, "b")?,
                length: raw.length,
            },
            Action::Release => Event::Release {
                a: one(raw.a, "a")?,
                b: one(raw.b, "b")?,
            },
            Action::SetPartSize => Event::SetPartSize {
                bytes: raw.bytes.ok_or_else(|| missing("bytes"))?,
            },
            Action::PartitionOneway => Event::PartitionOneway {
                a: list(raw.a, "a")?,
                b: list(raw.b, "b")?,
                length: raw.length,
            },
            Action::CrashFollower => Event::CrashFollower {
                group: raw.group.ok_or_else(|| missing("group"))?,
            },
            Action::IsolateLeaderFromFollowers => Event::IsolateLeaderFromFollowers {
                group: raw.group.ok_or_else(|| missing("group"))?,
                length: raw.length,
            },
            Action::HoldGroupLinks => Event::HoldGroupLinks {
                group: raw.group.ok_or_else(|| missing("group"))?,
                links: raw.links.ok_or_else(|| missing("links"))?,
                length: raw.length.ok_or_else(|| missing("for"))?,
            },
            Action::FailDisk => Event::FailDisk {
                node: raw.node.ok_or_else(|| missing("node"))?,
            },
            Action::Corrupt => Event::Corrupt {
                node: raw.node.ok_or_else(|| missing("node"))?,
            },
            Action::Rogue => Event::Rogue {
                kind: raw.kind.ok_or_else(|| missing("kind"))?,
                to: match raw.to {
                    None => Vec::new(),
                    to => list(to, "to")?,
                },
                auth: raw.auth.unwrap_or_default(),
                lines: raw.lines.unwrap_or_default(),
            },
        };
        // A triggered event's `at` is optional: it only says from when matches count.
        let at = match (raw.at, &raw.when) {
            (Some(at), _) => at,
            (None, Some(_)) => Duration::ZERO,
            (None, None) => {
                return Err("missing field `at` (or a `when` trigger)".to_owned());
            }
        };
        Ok(TimedEvent {
            at,
            when: raw.when,
            event,
        })
    }
}
