//! A stand-in push service: a hyper HTTP/1.1 server on loopback that records every push it
//! receives and answers as told (a status, or never).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This status, at once.
    Status(u16),
    /// Never: the request hangs until the client gives up.
    Hang,
}

/// One push as the stand-in received it.
#[derive(Debug)]
pub struct Received {
    /// The request path (the subscription's part of the endpoint).
    pub path: String,
    /// Every header.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the body had arrived.
    pub at: Instant,
}

impl Received {
    /// A header as text; panics when absent.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("the push has no {name} header"))
            .to_str()
            .expect("a visible-ASCII header")
    }
}

/// The running stand-in.
pub struct PushService {
    addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
}

impl PushService {
    /// Starts a stand-in answering 201 Created, as push services do.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let answer = Arc::new(Mutex::new(Answer::Status(201)));
        let (sender, received) = mpsc::unbounded_channel();
        let shared = answer.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (answer, sender) = (shared.clone(), sender.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (answer, sender) = (answer.clone(), sender.clone());
                        async move { Ok::<_, Infallible>(serve(request, answer, sender).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            answer,
            received: tokio::sync::Mutex::new(received),
        }
    }

    /// The endpoint URL of a new subscription at this push service.
    pub fn endpoint(&self) -> String {
        format!(
            "http://{}/push/{}",
            self.addr,
            sealgate_crypto::random_token::<12>()
        )
    }

    /// The origin the VAPID `aud` must name.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every later push as `answer` says.
    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("answer lock") = answer;
    }

    /// The next push received, waiting up to 10 s for it.
    pub async fn next(&self) -> Received {
        let mut received = self.received.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), received.recv())
            .await
            .expect("a push within 10 s")
            .expect("the push service runs")
    }

    /// How many pushes arrived and were not taken with [`PushService::next`].
    pub async fn pending(&self) -> usize {
        self.received.lock().await.len()
    }
}

async fn serve(
    request: Request<Incoming>,
    answer: Arc<Mutex<Answer>>,
    sender: mpsc::UnboundedSender<Received>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let _ = sender.send(Received {
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        at: Instant::now(),
    });
    let answer = *answer.lock().expect("answer lock");
    match answer {
        Answer::Status(code) => {
            let mut response = Response::new(Full::default());
            *response.status_mut() = StatusCode::from_u16(code).expect("a status");
            response
        }
        Answer::Hang => std::future::pending().await,
    }
}
