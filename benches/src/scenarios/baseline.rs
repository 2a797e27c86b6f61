//! `baseline`: a bare hyper server in this process that reads each request and answers one
//! fixed small JSON body, driven by the `deposit-poll` flows (same client code, same three
//! requests, same bodies), so that its throughput is this machine's HTTP ceiling for them.
//!
//! The server runs on its own Tokio runtime with as many worker threads as the gateway's
//! (one per core by default), named `baseline-srv` so that its CPU time is told apart.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::deposit_poll::{self, Expect, Party, now_secs};
use super::{Outcome, Settings};
use crate::api::Credentials;
use crate::envelope::{Template, id_token};
use crate::target::Target;
use sealgate_crypto::{Algorithm, PrivateKey};

/// The name prefix of the server's threads.
pub(crate) const THREAD_PREFIX: &str = "baseline-";

/// The one body the server answers: shaped like an open mailbox's answer, so that the
/// client's parsing is the same.
const BODY: &str = r#"{"mailbox_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"ok"}"#;

/// Every request gets `200` and [`BODY`].
const EXPECT: Expect = Expect {
    open: StatusCode::OK,
    deposit: StatusCode::OK,
    poll: StatusCode::OK,
    echo: false,
};

/// The running server; dropping it stops it.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start(threads: usize) -> anyhow::Result<Server> {
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("{THREAD_PREFIX}main"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .thread_name(format!("{THREAD_PREFIX}srv"))
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = bound_tx.send(Err(error));
                    return;
                }
            };
            runtime.block_on(serve(bound_tx, stop_rx));
        })?;
    let addr = bound_rx
        .recv()
        .context("the baseline server thread ended")?
        .context("starting the baseline server")?;
    Ok(Server {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

async fn serve(
    bound: std::sync::mpsc::Sender<std::io::Result<SocketAddr>>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(error) => {
            let _ = bound.send(Err(error));
            return;
        }
    };
    let _ = bound.send(listener.local_addr());
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let builder = builder.clone();
                tokio::spawn(async move {
                    let service = service_fn(answer);
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                });
            }
            _ = &mut stop => return,
        }
    }
}

async fn answer(request: http::Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body as a real handler would.
    let _ = request.into_body().collect().await;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("a valid response"))
}

/// Starts the bare server and drives it like the gateway in `deposit-poll`.
pub(crate) async fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    let server = start(settings.baseline_threads)?;
    let target = Arc::new(Target::local(server.addr));
    let key = PrivateKey::generate(Algorithm::Hpke4);
    let credentials = Credentials::fake("baseline-client");
    let token = id_token("load-nonce", settings.token_bytes);
    let template = Template::seal(
        key.public_key(),
        &credentials.client_id,
        now_secs() + 3600,
        &token,
    );
    let parties = Arc::new(vec![Party {
        credentials,
        template,
    }]);
    let mut outcome = deposit_poll::drive(settings, target, parties, EXPECT, "baseline").await;
    outcome.extra.insert(
        "baseline_server_threads".into(),
        settings.baseline_threads.into(),
    );
    drop(server);
    Ok(outcome)
}
