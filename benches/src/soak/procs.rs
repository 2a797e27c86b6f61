//! The soak's child processes: one `redis-server` and the gateways, each killable with
//! SIGKILL and restartable on the same loopback port; every child is killed when dropped.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a (re)started process has to answer before the soak gives up.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// A free port on 127.0.0.1, as the OS hands it out.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A command with its output appended to `log`.
fn logged(program: &Path, log: &Path) -> anyhow::Result<Command> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut command = Command::new(program);
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    Ok(command)
}

/// One request on a fresh connection; the first line of the answer, or `None`.
fn exchange(addr: SocketAddr, request: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request).ok()?;
    let mut answer = [0u8; 256];
    let n = stream.read(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer[..n]);
    Some(text.lines().next().unwrap_or_default().to_owned())
}

/// Polls `ready` every 50 ms until it holds; fails after [`READY_WITHIN`] or if `child` exits.
fn wait_ready(child: &mut Child, what: &str, ready: impl Fn() -> bool) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < READY_WITHIN {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}) before it was ready");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} was not ready within {READY_WITHIN:?}")
}

/// A child process killed (SIGKILL) and reaped when dropped.
struct Killable(Child);

impl Drop for Killable {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private `redis-server` on a fixed loopback port, with AOF and `appendfsync always` in its
/// own directory, so that a restart after SIGKILL finds every acknowledged write.
pub(crate) struct Redis {
    program: PathBuf,
    dir: PathBuf,
    /// The port it listens on, kept across restarts.
    pub(crate) port: u16,
    child: Option<Killable>,
}

impl Redis {
    /// Starts `program` with its data and log in `dir`.
    pub(crate) fn start(program: PathBuf, dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir)?;
        let mut redis = Self {
            program,
            dir,
            port: free_port()?,
            child: None,
        };
        redis.restart()?;
        Ok(redis)
    }

    /// Starts it again (after [`Redis::kill`]) on the same port and data, and waits for PONG.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        let log = self.dir.join("redis.log");
        let mut command = logged(&self.program, &log)?;
        command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"]);
        command.args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]);
        command.arg("--dir").arg(&self.dir);
        let mut child = command.spawn().context("starting redis-server")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let ready = wait_ready(&mut child, "redis-server", || {
            exchange(addr, b"PING\r\n").is_some_and(|line| line == "+PONG")
        });
        self.child = Some(Killable(child));
        ready.with_context(|| format!("see {}", log.display()))
    }

    /// SIGKILL, and reap.
    pub(crate) fn kill(&mut self) {
        self.child = None;
    }

    /// The store URL for the gateways.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

/// One `sealgate serve` on a fixed loopback port, on the soak's Redis.
pub(crate) struct Gateway {
    program: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    /// Its API address, kept across restarts.
    pub(crate) addr: SocketAddr,
    child: Option<Killable>,
}

/// What every gateway of the soak shares.
pub(crate) struct GatewaySetup<'a> {
    /// The `sealgate` binary.
    pub(crate) program: &'a Path,
    /// `redis://…`.
    pub(crate) store: &'a str,
    /// The key prefix (one per soak run).
    pub(crate) prefix: &'a str,
    /// What sign-in requests point phones at: the soak's load balancer.
    pub(crate) public_url: &'a str,
    /// Where the logs go.
    pub(crate) dir: &'a Path,
}

impl Gateway {
    /// Starts gateway number `index` on `addr` and waits until `/readyz` answers 200.
    pub(crate) fn start(
        setup: &GatewaySetup<'_>,
        index: usize,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let args = [
            "serve",
            "--listen",
            &addr.to_string(),
            "--metrics-listen",
            "127.0.0.1:0",
            "--store",
            setup.store,
            "--redis-prefix",
            setup.prefix,
            "--public-url",
            setup.public_url,
            "--allow-insecure-webhooks",
            "--allow-private-webhooks",
            "--deposits-per-ip",
            "0",
            "--mailboxes-per-client",
            "0",
        ];
        let mut gateway = Self {
            program: setup.program.to_owned(),
            log: setup.dir.join(format!("gateway-{index}.log")),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            addr,
            child: None,
        };
        gateway.restart()?;
        Ok(gateway)
    }

    /// Starts it again on the same port (retrying while the port is still held) and waits for
    /// `/readyz`.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let mut command = logged(&self.program, &self.log)?;
            command
                .args(&self.args)
                .env("SEALGATE_LOG_FORMAT", "text")
                .env("SEALGATE_LOG", "info,sealgate::request=warn")
                .env("SEALGATE_REGISTRATIONS_PER_IP", "0")
                .env("SEALGATE_MAX_WAITERS", "0")
                .env("NO_COLOR", "1");
            let mut child = command.spawn().context("starting the gateway")?;
            let addr = self.addr;
            let request = b"GET /readyz HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n";
            let ready = wait_ready(&mut child, "the gateway", || {
                exchange(addr, request).is_some_and(|line| line.contains(" 200 "))
            });
            self.child = Some(Killable(child));
            match ready {
                Ok(()) => return Ok(()),
                // The port may linger for a moment after a kill: start again.
                Err(_) if started.elapsed() < READY_WITHIN => {
                    self.child = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => return Err(error.context(format!("see {}", self.log.display()))),
            }
        }
    }

    /// SIGKILL, and reap.
    pub(crate) fn kill(&mut self) {
        self.child = None;
    }
}

/// Creates a fresh directory for this run's logs and Redis data under `base`.
pub(crate) fn run_dir(base: &Path, seed: u64) -> anyhow::Result<PathBuf> {
    let dir = base.join(format!("soak-{seed}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    File::create(dir.join("README")).and_then(|mut file| {
        file.write_all(b"sealgate-soak: gateway and Redis logs, Redis AOF data\n")
    })?;
    Ok(dir)
}
