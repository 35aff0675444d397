//! Where each process of a local cluster listens and the command line that starts it.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The ports and groups of a local cluster.
#[derive(Debug)]
pub struct Layout {
    base_port: u16,
    group_size: u16,
    /// Groups started so far.
    pub groups: u16,
    /// The cluster secret file every process is given.
    secret: PathBuf,
}

impl Layout {
    /// Checks the sizes and that the ports fit below 65536.
    pub fn new(
        base_port: u16,
        group_size: u16,
        groups: u16,
        secret: PathBuf,
    ) -> anyhow::Result<Layout> {
        if groups == 0 {
            bail!("--groups must be at least 1");
        }
        if ![1, 3, 5].contains(&group_size) {
            bail!("--group-size must be 1, 3 or 5 (odd, so a majority survives a minority's loss)");
        }
        let layout = Layout {
            base_port,
            group_size,
            groups,
            secret,
        };
        layout.check_room(groups)?;
        Ok(layout)
    }

    fn check_room(&self, groups: u16) -> anyhow::Result<()> {
        let nodes = u32::from(groups) * u32::from(self.group_size);
        if u32::from(self.base_port) + 3 * nodes > u32::from(u16::MAX) {
            bail!(
                "--base-port {} leaves no room for {nodes} nodes",
                self.base_port
            );
        }
        Ok(())
    }

    /// One more group; returns its number.
    pub fn add_group(&mut self) -> anyhow::Result<u16> {
        let g = self.groups;
        self.check_room(g + 1)?;
        let busy = busy(self.group_ports(g));
        if !busy.is_empty() {
            bail!("the new group's ports are in use: {}", busy.join(", "));
        }
        self.groups += 1;
        Ok(g)
    }

    /// Refuses to start over processes that still hold the ports (a cluster not stopped,
    /// a leftover node): otherwise each child would die with "Address already in use"
    /// after `cluster up` was printed.
    pub fn check_ports_free(&self) -> anyhow::Result<()> {
        let mut ports = vec![self.base_port];
        for g in 0..self.groups {
            ports.extend(self.group_ports(g));
        }
        let busy = busy(ports);
        if !busy.is_empty() {
            bail!(
                "ports in use on 127.0.0.1: {} (another cluster, or processes left from one; \
                 `ss -ltnp` shows who holds them)",
                busy.join(", ")
            );
        }
        Ok(())
    }

    /// The ECS's address.
    pub fn ecs_addr(&self) -> String {
        format!("127.0.0.1:{}", self.base_port)
    }

    /// Node `i`'s client address.
    pub fn client(&self, i: u16) -> String {
        self.port(i, 1)
    }

    /// The client addresses of the nodes started, as `first..last`.
    pub fn client_range(&self) -> String {
        let nodes = self.groups * self.group_size;
        format!(
            "127.0.0.1:{}..{}",
            self.base_port + 1,
            self.base_port + 3 * nodes - 2
        )
    }

    /// The ECS's command line.
    pub fn ecs_args(&self, dir: &Path) -> Vec<String> {
        vec![
            "--bind".into(),
            self.ecs_addr(),
            "--data-dir".into(),
            dir.join("ecs").display().to_string(),
            "--secret-file".into(),
            self.secret.display().to_string(),
        ]
    }

    /// Group `g`'s nodes: each one's name and command line.
    pub fn group(&self, g: u16, dir: &Path) -> Vec<(String, Vec<String>)> {
        let members: Vec<u16> = (g * self.group_size..(g + 1) * self.group_size).collect();
        members
            .iter()
            .map(|&i| {
                let name = format!("node{i}");
                let mut args = vec![
                    "--admin".into(),
                    self.port(i, 2),
                    "--client".into(),
                    self.port(i, 1),
                    "--ecs".into(),
                    self.ecs_addr(),
                    "--data-dir".into(),
                    dir.join(&name).display().to_string(),
                    "--secret-file".into(),
                    self.secret.display().to_string(),
                ];
                if self.group_size > 1 {
                    for &m in &members {
                        args.push("--member".into());
                        args.push(format!(
                            "{}/{}/{}",
                            self.port(m, 2),
                            self.port(m, 1),
                            self.port(m, 3)
                        ));
                    }
                }
                (name, args)
            })
            .collect()
    }

    /// Group `g`'s ring address (its first node's admin address, as the node binary
    /// takes it), if the cluster has that group.
    pub fn ring_of(&self, g: u16) -> Option<String> {
        (g < self.groups).then(|| self.port(g * self.group_size, 2))
    }

    /// The cluster secret file.
    pub fn secret(&self) -> &Path {
        &self.secret
    }

    fn port(&self, i: u16, k: u16) -> String {
        format!("127.0.0.1:{}", self.base_port + k + 3 * i)
    }

    fn group_ports(&self, g: u16) -> Vec<u16> {
        (g * self.group_size..(g + 1) * self.group_size)
            .flat_map(|i| (1..=3).map(move |k| self.base_port + k + 3 * i))
            .collect()
    }
}

/// The ports of `ports` something on 127.0.0.1 already listens on.
fn busy(ports: Vec<u16>) -> Vec<String> {
    ports
        .into_iter()
        .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
        .map(|p| p.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_take_consecutive_nodes_and_ports() {
        let layout = Layout::new(7000, 3, 2, "/d/secret".into()).unwrap();
        let g1 = layout.group(1, Path::new("/d"));
        let names: Vec<&str> = g1.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["node3", "node4", "node5"]);
        let args = &g1[0].1;
        assert_eq!(args[1], "127.0.0.1:7011", "node3's admin port");
        assert_eq!(args[3], "127.0.0.1:7010", "node3's client port");
        assert!(args.contains(&"127.0.0.1:7017/127.0.0.1:7016/127.0.0.1:7018".to_string()));
        assert_eq!(layout.client_range(), "127.0.0.1:7001..7016");
        assert!(
            args.ends_with(&["--secret-file".to_string(), "/d/secret".to_string()][..])
                || args.contains(&"/d/secret".to_string())
        );
        assert!(Layout::new(65000, 5, 200, PathBuf::new()).is_err());
        assert!(Layout::new(7000, 2, 1, PathBuf::new()).is_err());
    }

    #[test]
    fn a_held_port_is_reported() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert_eq!(busy(vec![port]), vec![port.to_string()]);
    }
}
