//! One HTTP client connection per worker: HTTP/1.1 keep-alive, or HTTP/2 with prior
//! knowledge, over hyper's connection API, reconnecting after a failure.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::stats::Failure;
use crate::target::Target;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A response: its status and whole body.
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: StatusCode,
    /// The body, read to the end.
    pub(crate) body: Bytes,
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A client that keeps one connection to the target open, and opens a new one when the last
/// failed.
pub(crate) struct Client {
    target: Arc<Target>,
    http2: bool,
    sender: Option<Sender>,
    host: HeaderValue,
    absolute_prefix: String,
}

/// What a request sends besides its method and path.
#[derive(Default)]
pub(crate) struct Outgoing<'a> {
    /// `Authorization`, when the route needs it.
    pub(crate) authorization: Option<&'a HeaderValue>,
    /// `Content-Type` of the body.
    pub(crate) content_type: Option<&'static str>,
    /// The body; empty for none.
    pub(crate) body: Bytes,
}

impl Client {
    /// A client for `target`; it connects on its first request.
    pub(crate) fn new(target: Arc<Target>, http2: bool) -> Self {
        let host = HeaderValue::from_str(&target.authority).expect("a checked authority");
        let absolute_prefix = target.base_url();
        Self {
            target,
            http2,
            sender: None,
            host,
            absolute_prefix,
        }
    }

    /// Opens the connection now, so that connecting is not inside a measured request.
    pub(crate) async fn connect(&mut self) -> Result<(), Failure> {
        if self.sender.is_none() {
            self.sender = Some(self.handshake().await?);
        }
        Ok(())
    }

    async fn handshake(&self) -> Result<Sender, Failure> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.target.addr))
            .await
            .map_err(|_| Failure::Connect)?
            .map_err(|_| Failure::Connect)?;
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if self.http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|_| Failure::Connect)?;
            tokio::spawn(connection);
            Ok(Sender::H2(sender))
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(|_| Failure::Connect)?;
            tokio::spawn(connection);
            Ok(Sender::H1(sender))
        }
    }

    /// Sends one request and reads the whole response within `timeout`. Any failure drops
    /// the connection: the next request opens a new one.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        outgoing: Outgoing<'_>,
        timeout: Duration,
    ) -> Result<Reply, Failure> {
        let result = tokio::time::timeout(timeout, self.exchange(method, path, outgoing)).await;
        match result {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_) => {
                self.sender = None;
                Err(Failure::Timeout)
            }
        }
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        outgoing: Outgoing<'_>,
    ) -> Result<Reply, Failure> {
        self.connect().await?;
        let uri = if self.http2 {
            format!("{}{path}", self.absolute_prefix)
        } else {
            path.to_owned()
        };
        let mut builder = Request::builder().method(method).uri(uri);
        if !self.http2 {
            builder = builder.header(header::HOST, self.host.clone());
        }
        if let Some(authorization) = outgoing.authorization {
            builder = builder.header(header::AUTHORIZATION, authorization.clone());
        }
        if let Some(content_type) = outgoing.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(Full::new(outgoing.body))
            .map_err(|_| Failure::Protocol)?;
        let response = match self.sender.as_mut().expect("connected") {
            Sender::H1(sender) => {
                sender.ready().await.map_err(|_| Failure::Transport)?;
                sender.send_request(request).await
            }
            Sender::H2(sender) => {
                sender.ready().await.map_err(|_| Failure::Transport)?;
                sender.send_request(request).await
            }
        }
        .map_err(|_| Failure::Transport)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Transport)?
            .to_bytes();
        Ok(Reply { status, body })
    }
}
