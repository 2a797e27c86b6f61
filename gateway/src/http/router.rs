//! Maps a request to its handler, and records every request in the metrics by route template.

use std::net::SocketAddr;
use std::time::Instant;

use http::{Method, Request};
use hyper::body::Incoming;

use super::body::read_limited;
use super::error::ApiError;
use crate::api::{self, HttpResponse};
use crate::app::App;

/// A route of the API listener, with the id its path carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v1/clients`
    Clients,
    /// `/v1/clients/{client_id}`
    Client(&'a str),
    /// `/v1/clients/{client_id}/jwks`
    ClientJwks(&'a str),
    /// `/v1/clients/{client_id}/webhook`
    ClientWebhook(&'a str),
    /// `/v1/clients/{client_id}/webhook/secret`
    ClientWebhookSecret(&'a str),
    /// `/v1/mailboxes`
    Mailboxes,
    /// `/v1/mailboxes/{mailbox_id}`
    Mailbox(&'a str),
    /// `/healthz`
    Healthz,
    /// `/readyz`
    Readyz,
    /// `/openapi.json`
    OpenApi,
    /// Anything else.
    Unknown,
}

/// Every route template the API listener serves, with its methods: what the OpenAPI document
/// must describe.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/clients", &["POST"]),
    ("/v1/clients/{client_id}", &["GET", "DELETE"]),
    ("/v1/clients/{client_id}/jwks", &["GET", "PUT"]),
    ("/v1/clients/{client_id}/webhook", &["PUT", "DELETE"]),
    ("/v1/clients/{client_id}/webhook/secret", &["POST"]),
    ("/v1/mailboxes", &["POST"]),
    ("/v1/mailboxes/{mailbox_id}", &["PUT", "GET", "DELETE"]),
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/openapi.json", &["GET"]),
];

impl<'a> Route<'a> {
    /// Matches a path. Ids must be non-empty and URL-safe.
    pub fn from_path(path: &'a str) -> Self {
        // No route has more than five segments; no allocation per request.
        let mut segments = [""; 6];
        let mut count = 0;
        for segment in path.strip_prefix('/').unwrap_or(path).split('/') {
            if count == segments.len() {
                return Route::Unknown;
            }
            segments[count] = segment;
            count += 1;
        }
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        match segments[..count] {
            ["v1", "clients"] => Route::Clients,
            ["v1", "clients", id] if id_ok(id) => Route::Client(id),
            ["v1", "clients", id, "jwks"] if id_ok(id) => Route::ClientJwks(id),
            ["v1", "clients", id, "webhook"] if id_ok(id) => Route::ClientWebhook(id),
            ["v1", "clients", id, "webhook", "secret"] if id_ok(id) => {
                Route::ClientWebhookSecret(id)
            }
            ["v1", "mailboxes"] => Route::Mailboxes,
            ["v1", "mailboxes", id] if id_ok(id) => Route::Mailbox(id),
            ["healthz"] => Route::Healthz,
            ["readyz"] => Route::Readyz,
            ["openapi.json"] => Route::OpenApi,
            _ => Route::Unknown,
        }
    }

    /// The route template: the only form of a path that reaches a metric label.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Clients => ROUTES[0].0,
            Route::Client(_) => ROUTES[1].0,
            Route::ClientJwks(_) => ROUTES[2].0,
            Route::ClientWebhook(_) => ROUTES[3].0,
            Route::ClientWebhookSecret(_) => ROUTES[4].0,
            Route::Mailboxes => ROUTES[5].0,
            Route::Mailbox(_) => ROUTES[6].0,
            Route::Healthz => ROUTES[7].0,
            Route::Readyz => ROUTES[8].0,
            Route::OpenApi => ROUTES[9].0,
            Route::Unknown => "unknown",
        }
    }

    fn allow(&self) -> &'static str {
        match self {
            Route::Clients | Route::Mailboxes | Route::ClientWebhookSecret(_) => "POST",
            Route::Client(_) => "GET, DELETE",
            Route::ClientWebhook(_) => "PUT, DELETE",
            Route::ClientJwks(_) => "GET, PUT",
            Route::Mailbox(_) => "PUT, GET, DELETE",
            Route::Healthz | Route::Readyz | Route::OpenApi | Route::Unknown => "GET",
        }
    }
}

/// Serves one request of the API listener.
pub async fn serve_api(app: &App, request: Request<Incoming>, peer: SocketAddr) -> HttpResponse {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let route = Route::from_path(parts.uri.path());
    let method = method_label(&parts.method);
    let template = route.template();
    let response = match (&route, &parts.method) {
        // A long-poll keeps nothing of the request while it waits: the request head lives in
        // the connection's read buffer, which it would pin for up to a minute per waiter.
        (Route::Mailbox(id), &Method::GET) => {
            let prepared = api::poll::prepare_poll(app, &parts, id).await;
            drop((parts, body));
            match prepared {
                Ok(poll) => poll.run(app).await,
                Err(error) => Err(error),
            }
        }
        // Boxed, so that the long-poll's state alone sizes this future: hyper keeps it for
        // the request's whole life, a minute for a long-poll.
        _ => Box::pin(dispatch(app, &route, &parts, body, peer)).await,
    }
    .unwrap_or_else(ApiError::into_response);
    app.metrics.observe_request(
        template,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn dispatch(
    app: &App,
    route: &Route<'_>,
    parts: &http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
) -> Result<HttpResponse, ApiError> {
    let read = |body| {
        read_limited(
            &parts.headers,
            body,
            app.config.limits.max_body_bytes,
            app.config.limits.body_read_timeout(),
        )
    };
    match (route, &parts.method) {
        (Route::Clients, &Method::POST) => {
            api::clients::register(app, parts, read(body).await?).await
        }
        (Route::ClientJwks(id), &Method::GET) => api::clients::jwks(app, parts, id).await,
        (Route::ClientJwks(id), &Method::PUT) => {
            api::clients::rotate_jwks(app, parts, id, read(body).await?).await
        }
        (Route::Client(id), &Method::GET) => api::clients::get_client(app, parts, id).await,
        (Route::Client(id), &Method::DELETE) => api::clients::delete(app, parts, id).await,
        (Route::ClientWebhook(id), &Method::PUT) => {
            api::webhooks::set(app, parts, id, read(body).await?).await
        }
        (Route::ClientWebhook(id), &Method::DELETE) => api::webhooks::remove(app, parts, id).await,
        (Route::ClientWebhookSecret(id), &Method::POST) => {
            api::webhooks::rotate_secret(app, parts, id).await
        }
        (Route::Mailboxes, &Method::POST) => {
            api::mailboxes::open(app, parts, read(body).await?).await
        }
        (Route::Mailbox(id), &Method::PUT) => {
            api::mailboxes::deposit(app, parts, id, peer.ip(), read(body).await?).await
        }
        (Route::Mailbox(id), &Method::GET) => api::poll::poll(app, parts, id).await,
        (Route::Mailbox(id), &Method::DELETE) => api::mailboxes::cancel(app, parts, id).await,
        (Route::Healthz, &Method::GET) => Ok(api::ops::healthz()),
        (Route::Readyz, &Method::GET) => api::ops::readyz(app).await,
        (Route::OpenApi, &Method::GET) => Ok(api::ops::openapi()),
        (Route::Unknown, _) => Err(ApiError::NotFound),
        (route, _) => Err(ApiError::MethodNotAllowed(route.allow())),
    }
}

/// Serves one request of the metrics listener.
pub async fn serve_metrics(app: &App, request: Request<Incoming>) -> HttpResponse {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => api::ops::metrics(app).await,
        (_, "/metrics") => ApiError::MethodNotAllowed("GET").into_response(),
        _ => ApiError::NotFound.into_response(),
    }
}

/// The method as a bounded label.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
