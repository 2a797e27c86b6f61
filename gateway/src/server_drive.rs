//! Driving one connection: its open streams counted, closed when idle (HTTP/2) or when the
//! gateway stops; and the accept loop's error handling.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::{Service, service_fn};
use hyper_util::server::graceful::GracefulConnection;
use prometheus::IntCounter;
use tokio::sync::watch;

use crate::app::App;
use crate::connections::StreamTracker;

/// What a connection's future ends with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long an idle connection being closed may take to finish the close handshake.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// `service`, with each request counted as an open stream of `streams` until answered.
pub(crate) fn counted<S, B>(
    service: S,
    streams: &Arc<StreamTracker>,
) -> impl Service<
    http::Request<Incoming>,
    Response = http::Response<B>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<B>, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + 'static,
{
    let streams = streams.clone();
    service_fn(move |request| {
        let open = streams.stream();
        let answer = service.call(request);
        async move {
            let response = answer.await;
            drop(open);
            response
        }
    })
}

/// Serves `connection` to its end; starts a graceful close (GOAWAY for HTTP/2) once no stream
/// has been open for `idle` (counted in `idle_closed`), or when the gateway stops.
pub(crate) async fn drive<C>(
    connection: C,
    streams: &StreamTracker,
    idle: Duration,
    mut stopping: watch::Receiver<bool>,
    idle_closed: &IntCounter,
) -> Result<(), BoxError>
where
    C: GracefulConnection,
    C::Error: Into<BoxError>,
{
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    let mut idle_closing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => return served.map_err(Into::into),
            () = streams.idle_for(idle), if !closing => {
                idle_closed.inc();
                connection.as_mut().graceful_shutdown();
                closing = true;
                idle_closing = true;
            }
            // A peer that does not answer the GOAWAY's PING would keep the connection: no
            // stream is open, so dropping it loses nothing.
            () = tokio::time::sleep(IDLE_CLOSE_GRACE), if idle_closing => return Ok(()),
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// How long accepting pauses after running out of file descriptors (EMFILE, ENFILE): open
/// connections get a moment to close instead of the loop spinning on the error.
const OUT_OF_FILES_BACKOFF: Duration = Duration::from_millis(100);
/// How long accepting pauses after another error.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// At most one accept-error log line this often; the ones in between are counted in it.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Accept errors are transient: pause, count, and log at most once per interval.
#[derive(Default)]
pub(crate) struct AcceptErrors {
    logged: Option<std::time::Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// Counts and maybe logs `error`, then pauses accepting.
    pub(crate) async fn handle(&mut self, error: std::io::Error, app: &App) {
        // EMFILE (24), ENFILE (23), ENOBUFS (105), ENOMEM (12): out of descriptors or memory.
        let out_of_files = matches!(error.raw_os_error(), Some(23 | 24 | 105 | 12));
        let kind = if out_of_files {
            "out_of_files"
        } else {
            "other"
        };
        app.connections
            .metrics()
            .accept_errors
            .with_label_values(&[kind])
            .inc();
        let now = std::time::Instant::now();
        if self
            .logged
            .is_none_or(|logged| now.duration_since(logged) >= ACCEPT_ERROR_LOG_INTERVAL)
        {
            tracing::warn!(%error, suppressed = self.unlogged, "accept failed");
            self.logged = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        let pause = if out_of_files {
            OUT_OF_FILES_BACKOFF
        } else {
            ACCEPT_ERROR_BACKOFF
        };
        tokio::time::sleep(pause).await;
    }
}
