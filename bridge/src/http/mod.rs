//! The bridge's HTTP server: one route table, request bodies bounded, graceful shutdown.

mod oidc;
mod respond;
mod signin;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::Bridge;
use crate::page;
pub use respond::CONTENT_SECURITY_POLICY;
use respond::{Reply, asset, text};

/// The largest request body read (a `/token` or `/authorize` form).
const MAX_BODY: usize = 16 * 1024;
/// How long open requests may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often expired sign-ins, codes and tokens are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Serves `bridge` on `listener` until `shutdown` completes, then lets open requests finish.
pub(crate) async fn serve(
    bridge: Arc<Bridge>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let sweeper = tokio::spawn({
        let bridge = bridge.clone();
        async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                bridge.state.sweep(crate::flow::now_secs());
            }
        }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written whole: send them at once.
        let _ = stream.set_nodelay(true);
        let bridge = bridge.clone();
        let service = service_fn(move |request| {
            let bridge = bridge.clone();
            async move { Ok::<_, Infallible>(route(&bridge, request).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    sweeper.abort();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open requests did not finish within the shutdown grace period");
    }
    Ok(())
}

/// The route table.
async fn route(bridge: &Arc<Bridge>, request: Request<Incoming>) -> Reply {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").as_bytes().to_vec();
    let method = parts.method.clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let reply = match (&method, segments.as_slice()) {
        (&Method::GET, [".well-known", "openid-configuration"]) => oidc::discovery(bridge),
        (&Method::GET, ["jwks"]) => oidc::jwks(bridge),
        (&Method::GET, ["authorize"]) => signin::authorize(bridge, &query, &parts.headers).await,
        (&Method::POST, ["authorize"]) => match read_form(body, &parts.headers).await {
            Ok(form) => signin::authorize(bridge, &form, &parts.headers).await,
            Err(reply) => reply,
        },
        (&Method::POST, ["token"]) => match read_form(body, &parts.headers).await {
            Ok(form) => oidc::token(bridge, &parts.headers, &form),
            Err(reply) => reply,
        },
        (&Method::GET | &Method::POST, ["userinfo"]) => oidc::userinfo(bridge, &parts.headers),
        (&Method::GET, ["healthz"]) => text(StatusCode::OK, "ok\n"),
        (&Method::GET, ["signin", id]) => signin::show(bridge, id, &parts.headers),
        (&Method::GET, ["signin", id, "status"]) => {
            signin::status(bridge, id, &query, &parts.headers).await
        }
        (&Method::POST, ["signin", id, "cancel"]) => signin::cancel(bridge, id, &parts.headers),
        (&Method::POST, ["signin", id, "retry"]) => signin::retry(bridge, id, &parts.headers).await,
        (&Method::GET, ["assets", "signin.js"]) => {
            asset("text/javascript; charset=utf-8", page::SIGNIN_JS)
        }
        (&Method::GET, ["assets", "signin.css"]) => {
            asset("text/css; charset=utf-8", page::SIGNIN_CSS)
        }
        (_, [".well-known", "openid-configuration"] | ["jwks"] | ["healthz"] | ["token"]) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    tracing::debug!(%method, route = route_name(&segments), status = reply.status().as_u16(), "request");
    reply
}

/// The route template of a path, for the log (never the ids in it).
fn route_name(segments: &[&str]) -> &'static str {
    match segments {
        [".well-known", "openid-configuration"] => "/.well-known/openid-configuration",
        ["jwks"] => "/jwks",
        ["authorize"] => "/authorize",
        ["token"] => "/token",
        ["userinfo"] => "/userinfo",
        ["healthz"] => "/healthz",
        ["signin", _] => "/signin/{id}",
        ["signin", _, "status"] => "/signin/{id}/status",
        ["signin", _, "cancel"] => "/signin/{id}/cancel",
        ["signin", _, "retry"] => "/signin/{id}/retry",
        ["assets", _] => "/assets/{file}",
        _ => "other",
    }
}

/// A `application/x-www-form-urlencoded` body of at most [`MAX_BODY`] bytes.
async fn read_form(body: Incoming, headers: &http::HeaderMap) -> Result<Vec<u8>, Reply> {
    let is_form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(respond::oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(_) => Err(respond::oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the body is too large or broken",
        )),
    }
}
