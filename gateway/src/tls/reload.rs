//! The API listener's certificate, reloadable while it serves: a certificate resolver whose
//! chain and key are swapped in place, and the task that swaps them when the PEM files change
//! (polled) or on SIGHUP. Handshakes after a swap present the new certificate; connections
//! already established keep theirs. A reload that fails keeps the current certificate.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use crate::metrics::Metrics;

/// The certificate chain and key every new handshake is given; swapped by [`CertReloader`].
pub(crate) struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    fn new(first: CertifiedKey) -> Self {
        Self {
            current: RwLock::new(Arc::new(first)),
        }
    }

    fn replace(&self, next: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }
}

/// Shows nothing of the key, only the chain's length.
impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ReloadingCert")
            .field("chain_len", &current.cert.len())
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// What tells a changed file from an unchanged one without reading it: modification time,
/// length and inode (a file renamed over the old one, or a Kubernetes secret's symlink swap,
/// changes the inode even when time and length match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The file's stamp, following symlinks; `None` when it cannot be read.
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode: metadata.ino(),
        })
    }
}

/// Watches the certificate and key files and swaps what [`ReloadingCert`] hands out.
pub(crate) struct CertReloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    resolver: Arc<ReloadingCert>,
    stamps: [Option<FileStamp>; 2],
    poll_interval: Option<Duration>,
}

impl CertReloader {
    /// Loads the certificate and key (failing if they are unusable, as at start), and returns
    /// the resolver to build the listener's TLS configuration with, and the reloader that
    /// keeps it current. A `poll_interval` of `None` reloads on SIGHUP only.
    pub(crate) fn load(
        cert_path: &Path,
        key_path: &Path,
        poll_interval: Option<Duration>,
    ) -> anyhow::Result<(Arc<ReloadingCert>, Self)> {
        let stamps = [FileStamp::of(cert_path), FileStamp::of(key_path)];
        let resolver = Arc::new(ReloadingCert::new(certified_key(cert_path, key_path)?));
        let reloader = Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            resolver: resolver.clone(),
            stamps,
            poll_interval,
        };
        Ok((resolver, reloader))
    }

    /// Reloads whenever the files change or SIGHUP arrives, until `stopping` turns true.
    pub(crate) async fn run(mut self, metrics: Metrics, mut stopping: watch::Receiver<bool>) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => Some(hangup),
            Err(error) => {
                tracing::warn!(%error, "no SIGHUP handler: the TLS certificate reloads only when its files change");
                None
            }
        };
        let mut ticks = self.poll_interval.map(|period| {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        loop {
            tokio::select! {
                () = next_tick(&mut ticks) => {
                    if self.files_changed() {
                        self.reload(&metrics, "the files changed");
                    }
                }
                () = next_hangup(&mut hangup) => self.reload(&metrics, "SIGHUP"),
                _ = stopping.wait_for(|stop| *stop) => break,
            }
        }
    }

    fn files_changed(&self) -> bool {
        [
            FileStamp::of(&self.cert_path),
            FileStamp::of(&self.key_path),
        ] != self.stamps
    }

    /// Loads the files and swaps them in, or keeps the current certificate and warns. The
    /// stamps are taken first, so a broken file is tried once, not on every poll, and a file
    /// written again is tried again.
    fn reload(&mut self, metrics: &Metrics, reason: &str) {
        self.stamps = [
            FileStamp::of(&self.cert_path),
            FileStamp::of(&self.key_path),
        ];
        match certified_key(&self.cert_path, &self.key_path) {
            Ok(next) => {
                self.resolver.replace(next);
                metrics.tls_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(
                    cert = %self.cert_path.display(),
                    reason,
                    "TLS certificate reloaded"
                );
            }
            Err(error) => {
                metrics.tls_reloads.with_label_values(&["error"]).inc();
                tracing::warn!(
                    error = format!("{error:#}"),
                    reason,
                    "TLS certificate reload failed; keeping the current certificate"
                );
            }
        }
    }
}

async fn next_tick(ticks: &mut Option<Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn next_hangup(hangup: &mut Option<Signal>) {
    let received = match hangup {
        Some(signal) => signal.recv().await.is_some(),
        None => false,
    };
    if !received {
        std::future::pending::<()>().await;
    }
}

/// Reads a PEM certificate chain and a PEM private key and checks that they belong together.
/// Errors name the files, never the key's content.
pub(crate) fn certified_key(cert_path: &Path, key_path: &Path) -> anyhow::Result<CertifiedKey> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("cannot read TLS certificate {}", cert_path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid PEM in {}", cert_path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "no certificate in {}",
        cert_path.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|error| match error {
        pem::Error::Io(error) => {
            anyhow::anyhow!(
                "cannot read TLS private key {}: {error}",
                key_path.display()
            )
        }
        _ => anyhow::anyhow!("no PEM private key in {}", key_path.display()),
    })?;
    CertifiedKey::from_der(certs, key, &super::provider())
        .context("the TLS certificate and key do not fit together")
}
