//! Host names, shared by validation and the runner so both agree on what a name means.
//!
//! - `ecs`: the ECS.
//! - A node: `n<k>` when groups have one node; `n<k>a`, `n<k>b`, ... (member id 0 is `a`)
//!   when they have three or five. `k` counts groups from 1 in join order.
//! - `c<i>`: workload client `i`, from 1.
//!
//! Numbers are written without leading zeros. This module only names hosts; whether a
//! host exists at some time is the caller's question.

/// The group sizes a cluster may have. A group needs a majority of its members to elect a
/// leader and to commit, so an even size buys nothing: 2 nodes tolerate no failure (like
/// 1) and 4 tolerate one (like 3), at the cost of one more copy of every write.
pub const GROUP_SIZES: [u32; 3] = [1, 3, 5];

/// The letters that name the members of a group of more than one node, by member id.
const MEMBER_LETTERS: &[u8; 5] = b"abcde";

/// A host name, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostName {
    /// `ecs`.
    Ecs,
    /// `n<group>` or `n<group><letter>`.
    Node {
        /// The group, from 1 (0 if written so: the caller decides it does not exist).
        group: u64,
        /// The member id the letter names (`a` is 0); `None` for `n<k>`.
        member: Option<u32>,
    },
    /// `c<i>`.
    Client(u64),
}

/// The name of member `member` (0-based) of group `group` (1-based) in groups of
/// `group_size` nodes.
pub fn member_name(group: u32, member: u32, group_size: u32) -> String {
    if group_size <= 1 {
        format!("n{group}")
    } else {
        let letter = MEMBER_LETTERS
            .get(member as usize)
            .map_or('?', |&b| char::from(b));
        format!("n{group}{letter}")
    }
}

/// Every member of group `group`, in member-id order. Sizes above 5 never pass
/// validation; for them the list stops at `e`.
pub fn group_members(group: u32, group_size: u32) -> Vec<String> {
    (0..group_size.clamp(1, MEMBER_LETTERS.len() as u32))
        .map(|m| member_name(group, m, group_size))
        .collect()
}

/// A decimal number without leading zeros.
fn number(digits: &str) -> Option<u64> {
    let canonical = digits == "0" || !digits.starts_with('0');
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (canonical && all_digits)
        .then(|| digits.parse::<u64>().ok())
        .flatten()
}

/// Reads `ecs`, `n<k>`, `n<k><letter>` (letters `a`..`e`) or `c<i>`; `None` for anything
/// else.
pub fn parse_host(name: &str) -> Option<HostName> {
    if name == "ecs" {
        return Some(HostName::Ecs);
    }
    if let Some(rest) = name.strip_prefix('n') {
        let (digits, member) = match rest.as_bytes().last() {
            Some(b) if b.is_ascii_lowercase() => {
                let id = MEMBER_LETTERS.iter().position(|l| l == b)?;
                (&rest[..rest.len() - 1], Some(id as u32))
            }
            _ => (rest, None),
        };
        return number(digits).map(|group| HostName::Node { group, member });
    }
    name.strip_prefix('c')
        .and_then(number)
        .map(HostName::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_group_size() {
        assert_eq!(group_members(2, 1), ["n2"]);
        assert_eq!(group_members(2, 3), ["n2a", "n2b", "n2c"]);
        assert_eq!(member_name(10, 4, 5), "n10e");
    }

    #[test]
    fn names_read_back() {
        let node = |group, member| Some(HostName::Node { group, member });
        assert_eq!(parse_host("n2"), node(2, None));
        assert_eq!(parse_host("n2c"), node(2, Some(2)));
        assert_eq!(parse_host("n12e"), node(12, Some(4)));
        assert_eq!(parse_host("ecs"), Some(HostName::Ecs));
        assert_eq!(parse_host("c3"), Some(HostName::Client(3)));
        for bad in ["n2f", "n02a", "na", "n", "n2ab", "N1", "n-1", "c1a", ""] {
            assert_eq!(parse_host(bad), None, "{bad}");
        }
    }
}
