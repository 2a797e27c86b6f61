//! A loopback HTTP/1.1 server that answers every request `200` and records it: the stand-in
//! for an OTLP collector or a webhook endpoint when a test only needs to see what arrived.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request the recorder got.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request's path.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its whole body.
    pub body: Bytes,
}

/// The server; it stops when dropped.
pub struct Recorder {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the recorder");
        let addr = listener.local_addr().expect("the recorder's address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let log = log.clone();
                        async move {
                            let (head, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes());
                            log.lock().expect("the recorder's log").push(Recorded {
                                path: head.uri.path().to_owned(),
                                headers: head.headers,
                                body: body.unwrap_or_default(),
                            });
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Recorded> {
        self.received.lock().expect("the recorder's log").clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
