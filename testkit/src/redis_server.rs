//! Private Redis processes for the tests: a `redis-server` on a free loopback port, and a
//! 3-master, 3-replica Redis Cluster, every process killed on drop (panics included).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate::clock::Clock;
use sealgate::store::SharedStore;

use crate::redis::{free_port, info_field, loopback_url, query, redis_store, require_redis_tools};

/// A private `redis-server` on a loopback port, killed when dropped.
pub struct RedisServer {
    /// The loopback port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a plain node (no persistence) on a free port, and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a node with extra arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        require_redis_tools();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self {
            port: free_port(),
            dir,
            args: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        loopback_url(self.port)
    }

    /// The node's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("a log file");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        self.wait_until_up();
    }

    fn wait_until_up(&mut self) {
        let start = Instant::now();
        loop {
            match query::<String>(self.port, &["PING"]) {
                // A node with a password answers NOAUTH: it is up all the same.
                Ok(_) => return,
                Err(error) if error.code() == Some("NOAUTH") => return,
                Err(_) => {}
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let log =
                    std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
                panic!(
                    "redis-server on port {} exited ({status}): {log}",
                    self.port
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL: no goodbye to clients) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A 3-master, 3-replica Redis Cluster on loopback ports, fast to fail over
/// (`cluster-node-timeout 1000`), every process killed on drop.
pub struct RedisCluster {
    /// The six nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster with `redis-cli --cluster create`, and waits for
    /// `cluster_state:ok` on every node.
    pub fn start() -> Self {
        require_redis_tools();
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                let bus = free_port().to_string();
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    "--cluster-port",
                    &bus,
                    // Replicas sync at once (not after the default 5 s wait for more
                    // replicas): a replica that never synced may not take over.
                    "--repl-diskless-sync-delay",
                    "0",
                ])
            })
            .collect();
        let cluster = Self { nodes };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_until_ok(Duration::from_secs(20));
        cluster
    }

    /// Waits until every running node says `cluster_state:ok` and agrees on three masters.
    pub fn wait_until_ok(&self, within: Duration) {
        self.wait_for_masters(within, None);
    }

    /// Waits until the replica of the killed master `victim` has taken over: every running
    /// node says `cluster_state:ok` and sees three masters serving slots, `victim` not among
    /// them.
    pub fn wait_for_failover(&self, victim: u16, within: Duration) {
        self.wait_for_masters(within, Some(victim));
    }

    fn wait_for_masters(&self, within: Duration, without: Option<u16>) {
        let start = Instant::now();
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|node| node.is_running())
                .all(|node| {
                    let state: Option<String> =
                        query::<String>(node.port, &["CLUSTER", "INFO"]).ok();
                    let masters = self.masters_seen_by(node.port);
                    state.is_some_and(|info| info.contains("cluster_state:ok"))
                        && masters.len() == 3
                        && info_field(node.port, "replication", "master_link_status")
                            .is_none_or(|status| status == "up")
                        && without.is_none_or(|victim| !masters.contains(&victim))
                });
            if ok {
                return;
            }
            assert!(
                start.elapsed() < within,
                "the cluster did not reach cluster_state:ok within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The ports of the masters that serve slots, as node `port` sees them.
    pub fn masters_seen_by(&self, port: u16) -> Vec<u16> {
        let Ok(nodes) = query::<String>(port, &["CLUSTER", "NODES"]) else {
            return Vec::new();
        };
        nodes
            .lines()
            .filter(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                fields.len() > 8 && fields[2].contains("master") && !fields[2].contains("fail")
            })
            .filter_map(|line| {
                let addr = line.split(' ').nth(1)?.split('@').next()?;
                addr.parse::<SocketAddr>().ok().map(|addr| addr.port())
            })
            .collect()
    }

    /// The node serving `key`'s slot as master.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self
            .nodes
            .iter()
            .find(|node| node.is_running())
            .expect("a running node")
            .port;
        let slot: i64 = query(port, &["CLUSTER", "KEYSLOT", key]).expect("CLUSTER KEYSLOT");
        let slots: redis::Value = query(port, &["CLUSTER", "SLOTS"]).expect("CLUSTER SLOTS");
        let redis::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS answered {slots:?}")
        };
        for range in ranges {
            let redis::Value::Array(fields) = range else {
                continue;
            };
            let (Some(redis::Value::Int(start)), Some(redis::Value::Int(end))) =
                (fields.first(), fields.get(1))
            else {
                continue;
            };
            if (*start..=*end).contains(&slot)
                && let Some(redis::Value::Array(master)) = fields.get(2)
                && let Some(redis::Value::Int(port)) = master.get(1)
            {
                return *port as u16;
            }
        }
        panic!("no master serves slot {slot}")
    }

    /// Waits until every write the master on `port` has taken so far has reached one of its
    /// replicas (`WAIT 1`), at most `within`; panics if none acknowledged it in time.
    /// Replication is asynchronous: a test that kills a master and expects its data on the
    /// promoted replica must wait for this first.
    pub fn wait_for_replication(&self, port: u16, within: Duration) {
        let timeout = within.as_millis().to_string();
        let acknowledged: i64 = query(port, &["WAIT", "1", &timeout]).expect("WAIT");
        assert!(
            acknowledged >= 1,
            "no replica of {port} acknowledged within {within:?}"
        );
    }

    /// The node listening on `port`.
    pub fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a node of this cluster")
    }

    /// `redis+cluster://127.0.0.1:P1,…` over every node.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// A store on this cluster under `prefix`.
    pub async fn store(&self, prefix: &str, clock: Arc<dyn Clock>) -> SharedStore {
        redis_store(&self.url(), prefix, clock).await
    }

    /// The directory of a node, for its logs.
    pub fn log_of(&self, port: u16) -> PathBuf {
        self.nodes
            .iter()
            .find(|node| node.port == port)
            .map(|node| node.dir().join("redis.log"))
            .expect("a node of this cluster")
    }
}
