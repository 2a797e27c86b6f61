//! `sealgate device listen`: a loopback stand-in for the push service, for demos and tests.
//!
//! It listens on the registered endpoint's address (or on `--listen ADDR`, registering
//! `http://ADDR/push/RANDOM` as the new endpoint first), answers the gateway's
//! `POST` with `201 Created` as a push service does, then decrypts and checks the message,
//! shows the website's name and binding message, and approves (`--yes` with `--token-file`),
//! declines (`--decline`), saves the body (`--save-to`), or asks y/N on a terminal.
//! The gateway sends to a loopback `http://` endpoint only with `webhooks.allow_insecure` and
//! `webhooks.allow_private` set.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sealgate_client::Phone;
use sealgate_client::sealgate_crypto::random_token;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{DeviceFileArgs, PushedSignIn, approve, decline, save, show};
use crate::exit::Expired;

/// The largest push message body taken: push services cap it at 4096 bytes (RFC 8030 §7.2).
const MAX_BODY_BYTES: usize = 4096;

/// Flags of `sealgate device listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Which device.
    #[command(flatten)]
    pub device: DeviceFileArgs,
    /// Listen on ADDR (`127.0.0.1:0` picks a free port) and register it as the endpoint,
    /// instead of listening on the registered endpoint's address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The ID token to approve with.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Approve without asking.
    #[arg(long, requires = "token_file", conflicts_with_all = ["decline", "save_to"])]
    pub yes: bool,
    /// Decline without asking.
    #[arg(long, conflicts_with = "save_to")]
    pub decline: bool,
    /// Save the message body to FILE (for `device open|approve|decline`) and answer nothing.
    #[arg(long, value_name = "FILE")]
    pub save_to: Option<PathBuf>,
    /// How many messages to take before exiting.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: u32,
    /// Give up after this many seconds without a message (exit status 3).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub timeout: u64,
}

/// What to do with each message.
enum Answer {
    Approve(PathBuf),
    Decline,
    Save(PathBuf),
    Ask(Option<PathBuf>),
}

/// Runs the stand-in until `count` messages were answered, or `timeout` passed.
pub(super) async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let answer = match (&args.save_to, args.decline, args.yes) {
        (Some(file), _, _) => Answer::Save(file.clone()),
        (None, true, _) => Answer::Decline,
        (None, false, true) => Answer::Approve(args.token_file.clone().expect("clap requires it")),
        (None, false, false) if std::io::stdin().is_terminal() => {
            Answer::Ask(args.token_file.clone())
        }
        (None, false, false) => bail!(
            "stdin is not a terminal to ask on: pass --yes (with --token-file), --decline or \
             --save-to"
        ),
    };
    let (mut device, path) = args.device.load()?;
    let registered = device
        .registration()
        .context("the device is not registered (run `sealgate device register`)")?
        .endpoint()
        .to_owned();
    let (listener, endpoint) = match args.listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            (
                listener,
                format!("http://{bound}/push/{}", random_token::<12>()),
            )
        }
        None => {
            let addr = loopback_address(&registered)?;
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}, the registered endpoint"))?;
            (listener, registered.clone())
        }
    };
    if endpoint != registered {
        device.update(&Phone::new()?, &endpoint).await?;
        save(&device, &path)?;
    }
    let push_path = endpoint
        .parse::<http::Uri>()
        .context("the endpoint is not a URL")?
        .path()
        .to_owned();
    let (messages, mut received) = mpsc::channel(4);
    tokio::spawn(serve(listener, push_path, messages));
    eprintln!("listening on {endpoint}");

    let deadline = Duration::from_secs(args.timeout);
    for _ in 0..args.count {
        let body = tokio::time::timeout(deadline, received.recv())
            .await
            .map_err(|_| Expired(format!("no push message within {} s", args.timeout)))?
            .context("the listener stopped")?;
        let pushed = device.open_notification(&body)?;
        show(&pushed);
        answer_one(&answer, &pushed, &body).await?;
    }
    Ok(())
}

async fn answer_one(answer: &Answer, pushed: &PushedSignIn, body: &[u8]) -> anyhow::Result<()> {
    match answer {
        Answer::Approve(token_file) => approve(pushed, token_file).await,
        Answer::Decline => decline(pushed).await,
        Answer::Save(file) => {
            std::fs::write(file, body)
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("message saved in {}", file.display());
            Ok(())
        }
        Answer::Ask(token_file) => {
            let question = format!("sign in to {:?}? [y/N] ", pushed.client_name);
            if !ask(question).await? {
                return decline(pushed).await;
            }
            match token_file {
                Some(token_file) => approve(pushed, token_file).await,
                None => bail!("no --token-file to approve with; nothing was sent"),
            }
        }
    }
}

/// Asks on stderr, reads one line of stdin: `y` or `yes` is a yes.
async fn ask(question: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        eprint!("{question}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(matches!(
            line.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    })
    .await?
}

/// The socket address of a loopback `http://` endpoint with an explicit port.
fn loopback_address(endpoint: &str) -> anyhow::Result<SocketAddr> {
    let uri: http::Uri = endpoint.parse().context("the endpoint is not a URL")?;
    let host = uri.host().unwrap_or_default();
    let ip: Option<IpAddr> = match host {
        "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
        other => other.trim_matches(['[', ']']).parse().ok(),
    };
    match (uri.scheme_str(), ip, uri.port_u16()) {
        (Some("http"), Some(ip), Some(port)) if ip.is_loopback() => Ok(SocketAddr::new(ip, port)),
        _ => bail!(
            "the registered endpoint {endpoint} is not http://LOOPBACK:PORT/…; pass --listen \
             127.0.0.1:0 to listen here and register the new endpoint"
        ),
    }
}

/// Accepts connections and answers each push at `push_path` with 201, handing its body on.
async fn serve(listener: TcpListener, push_path: String, messages: mpsc::Sender<Bytes>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (push_path, messages) = (push_path.clone(), messages.clone());
        let service =
            service_fn(move |request| receive(request, push_path.clone(), messages.clone()));
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request to the stand-in: a push is a `POST` to the endpoint's path with an
/// `aes128gcm` body of at most 4096 bytes.
async fn receive(
    request: Request<Incoming>,
    push_path: String,
    messages: mpsc::Sender<Bytes>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let status = |status: StatusCode| {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        Ok(response)
    };
    if request.uri().path() != push_path {
        return status(StatusCode::NOT_FOUND);
    }
    if request.method() != Method::POST {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let header_text = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    if header_text("content-encoding") != "aes128gcm" {
        return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let (ttl, urgency) = (header_text("ttl"), header_text("urgency"));
    let vapid = header_text("authorization").starts_with("vapid t=");
    let Ok(body) = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    else {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let body = body.to_bytes();
    eprintln!(
        "push received: {} bytes, TTL {ttl}, Urgency {urgency}, VAPID {}",
        body.len(),
        if vapid { "present" } else { "missing" }
    );
    if messages.send(body).await.is_err() {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    status(StatusCode::CREATED)
}
