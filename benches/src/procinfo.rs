//! What the load generator reads about the server under load, without touching it: a
//! process's resident memory and CPU time from /proc, a Redis server's client connections
//! (`INFO clients`), and the gateway's long-poll gauge from its metrics listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::http::{Client, Outgoing};

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`), in bytes.
pub(crate) fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// Resident memory, MiB.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    status_bytes(pid, "VmRSS").map(|bytes| bytes as f64 / (1024.0 * 1024.0))
}

/// Peak resident memory, MiB.
pub(crate) fn hwm_mib(pid: u32) -> Option<f64> {
    status_bytes(pid, "VmHWM").map(|bytes| bytes as f64 / (1024.0 * 1024.0))
}

/// User + system CPU seconds of a /proc `stat` file (a process's or a thread's).
fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the name.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SEC)
}

/// CPU seconds a process has used.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// CPU seconds used by this process's threads whose name starts with `prefix`.
pub(crate) fn own_threads_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .filter_map(|task| stat_cpu_seconds(&task.path().join("stat").to_string_lossy()))
        .sum()
}

/// This process's CPU seconds.
pub(crate) fn own_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat").unwrap_or(0.0)
}

/// The `INFO` fields of the Redis server at `addr` (this query's own connection counts in
/// `connected_clients`).
pub(crate) async fn redis_info(addr: SocketAddr) -> Option<HashMap<String, String>> {
    let query = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"INFO\r\n").await.ok()?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 16384];
        // A bulk string: `$LEN\r\n`, then LEN bytes.
        loop {
            let read = stream.read(&mut buffer).await.ok()?;
            if read == 0 {
                return None;
            }
            answer.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&answer);
            let (head, body) = text.split_once("\r\n")?;
            let len: usize = head.strip_prefix('$')?.parse().ok()?;
            if body.len() >= len {
                let fields = body.lines().filter_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    Some((key.to_owned(), value.trim().to_owned()))
                });
                return Some(fields.collect());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), query)
        .await
        .ok()
        .flatten()
}

/// One numeric `INFO` field of the Redis server at `addr`.
pub(crate) async fn redis_number(addr: SocketAddr, field: &str) -> Option<f64> {
    redis_info(addr).await?.get(field)?.parse().ok()
}

/// The gateway's `sealgate_longpoll_waiters` gauge, from its metrics listener.
pub(crate) async fn gateway_waiters(metrics: &mut Client) -> Option<u64> {
    let reply = metrics
        .send(
            Method::GET,
            "/metrics",
            Outgoing::default(),
            Duration::from_secs(5),
        )
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&reply.body);
    text.lines().find_map(|line| {
        line.strip_prefix("sealgate_longpoll_waiters ")?
            .trim()
            .parse::<f64>()
            .ok()
            .map(|value| value as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(rss_mib(pid).unwrap() > 0.0);
        assert!(hwm_mib(pid).unwrap() >= rss_mib(pid).unwrap() - 1.0);
        assert!(cpu_seconds(pid).is_some());
    }
}
