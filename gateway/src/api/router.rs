//! The API's one route table, and the router that reads it: path matching, dispatch, `405`
//! with `Allow`, `HEAD` for every `GET` route, and each request's metrics, log line and
//! `x-request-id`.

use std::net::SocketAddr;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use tracing::Instrument as _;

use super::{self as api, HttpResponse};
use crate::app::App;
use crate::http::body::read_limited;
use crate::http::error::{ApiError, REGISTRATION_ERROR_MEDIA_TYPE};
use crate::telemetry::spans;

/// What answers a request: one variant per route and method, run by one `dispatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handler {
    /// `POST /v1/clients`: registers a client.
    RegisterClient,
    /// `GET /v1/clients/{client_id}`: the client's record.
    GetClient,
    /// `DELETE /v1/clients/{client_id}`: removes the client.
    DeleteClient,
    /// `GET /v1/clients/{client_id}/jwks`: the public key set.
    GetJwks,
    /// `PUT /v1/clients/{client_id}/jwks`: rotates the keys.
    RotateJwks,
    /// `PUT /v1/clients/{client_id}/webhook`: sets the webhook URL.
    SetWebhook,
    /// `DELETE /v1/clients/{client_id}/webhook`: removes the webhook.
    RemoveWebhook,
    /// `POST /v1/clients/{client_id}/webhook/secret`: a new webhook signing secret.
    RotateWebhookSecret,
    /// `POST /v1/mailboxes`: opens a mailbox.
    OpenMailbox,
    /// `PUT /v1/mailboxes/{mailbox_id}`: the phone deposits the envelope.
    Deposit,
    /// `GET /v1/mailboxes/{mailbox_id}`: the owning client long-polls, consuming the envelope.
    Poll,
    /// `HEAD /v1/mailboxes/{mailbox_id}`: whether the mailbox is open, never consuming.
    MailboxStatus,
    /// `DELETE /v1/mailboxes/{mailbox_id}`: cancels the mailbox.
    Cancel,
    /// `POST /v1/clients/{client_id}/devices`: a phone registers its push subscription.
    RegisterDevice,
    /// `PUT /v1/clients/{client_id}/devices/{device_handle}`: replaces the subscription.
    UpdateDevice,
    /// `DELETE /v1/clients/{client_id}/devices/{device_handle}`: removes the registration.
    DeleteDevice,
    /// `GET /v1/push/key`: the VAPID public key phones subscribe with.
    VapidKey,
    /// `GET /healthz`: liveness.
    Healthz,
    /// `GET /readyz`: readiness.
    Readyz,
    /// `GET /openapi.json`: the API description.
    OpenApi,
}

/// One route of the API listener: its path, and the handler of each method it serves.
#[derive(Debug)]
pub(crate) struct RouteSpec {
    /// The path template: literal segments, and at most two `{name}` captures, each matching
    /// an id (1 to 128 bytes of `A-Z a-z 0-9 - _`). The template is also the route's metric
    /// label.
    pub template: &'static str,
    /// The methods served, each with its handler, in the order `Allow` lists them. `HEAD` is
    /// served wherever `GET` is: by the `GET` handler without the body, unless it has its own.
    pub methods: &'static [(Method, Handler)],
}

/// Every route the API listener serves: what dispatch, `Allow`, the metrics and the OpenAPI
/// document all read. A new route is one more line here and its arm in `dispatch`. Templates
/// never overlap, so the order only sets how soon a path is found: the mailbox routes, which
/// every sign-in uses, come first.
pub(crate) static ROUTES: &[RouteSpec] = &[
    RouteSpec {
        template: "/v1/mailboxes/{mailbox_id}",
        methods: &[
            (Method::PUT, Handler::Deposit),
            (Method::GET, Handler::Poll),
            // GET consumes the envelope: HEAD must not run it.
            (Method::HEAD, Handler::MailboxStatus),
            (Method::DELETE, Handler::Cancel),
        ],
    },
    RouteSpec {
        template: "/v1/mailboxes",
        methods: &[(Method::POST, Handler::OpenMailbox)],
    },
    RouteSpec {
        template: "/v1/clients",
        methods: &[(Method::POST, Handler::RegisterClient)],
    },
    RouteSpec {
        template: "/v1/clients/{client_id}",
        methods: &[
            (Method::GET, Handler::GetClient),
            (Method::DELETE, Handler::DeleteClient),
        ],
    },
    RouteSpec {
        template: "/v1/clients/{client_id}/jwks",
        methods: &[
            (Method::GET, Handler::GetJwks),
            (Method::PUT, Handler::RotateJwks),
        ],
    },
    RouteSpec {
        template: "/v1/clients/{client_id}/webhook",
        methods: &[
            (Method::PUT, Handler::SetWebhook),
            (Method::DELETE, Handler::RemoveWebhook),
        ],
    },
    RouteSpec {
        template: "/v1/clients/{client_id}/webhook/secret",
        methods: &[(Method::POST, Handler::RotateWebhookSecret)],
    },
    RouteSpec {
        template: "/v1/clients/{client_id}/devices",
        methods: &[(Method::POST, Handler::RegisterDevice)],
    },
    RouteSpec {
        template: "/v1/clients/{client_id}/devices/{device_handle}",
        methods: &[
            (Method::PUT, Handler::UpdateDevice),
            (Method::DELETE, Handler::DeleteDevice),
        ],
    },
    RouteSpec {
        template: "/v1/push/key",
        methods: &[(Method::GET, Handler::VapidKey)],
    },
    RouteSpec {
        template: "/healthz",
        methods: &[(Method::GET, Handler::Healthz)],
    },
    RouteSpec {
        template: "/readyz",
        methods: &[(Method::GET, Handler::Readyz)],
    },
    RouteSpec {
        template: "/openapi.json",
        methods: &[(Method::GET, Handler::OpenApi)],
    },
];

/// The metric label of a path no route matches.
const UNKNOWN_ROUTE: &str = "unknown";

/// The ids a path carries, in the order of the template's captures; empty where there is none.
pub(crate) type Ids<'a> = [&'a str; 2];

/// Finds the route of `path` and the ids its path carries (empty for a route without them).
/// Allocation-free: the path is compared segment by segment with each template.
pub(crate) fn find_route(path: &str) -> Option<(&'static RouteSpec, Ids<'_>)> {
    ROUTES
        .iter()
        .find_map(|spec| spec.match_path(path).map(|id| (spec, id)))
}

/// The route template of `path` (its metric label), `unknown` when no route matches.
fn route_template(path: &str) -> &'static str {
    find_route(path).map_or(UNKNOWN_ROUTE, |(spec, _)| spec.template)
}

impl RouteSpec {
    /// The ids `path` carries when it matches this template (empty where the template has no
    /// capture), or `None`.
    fn match_path<'a>(&self, path: &'a str) -> Option<Ids<'a>> {
        let mut segments = path.strip_prefix('/')?.split('/');
        let mut ids = [""; 2];
        let mut captured = 0;
        for pattern in self.template[1..].split('/') {
            let segment = segments.next()?;
            if pattern.starts_with('{') {
                if !is_id(segment) || captured == ids.len() {
                    return None;
                }
                ids[captured] = segment;
                captured += 1;
            } else if pattern != segment {
                return None;
            }
        }
        segments.next().is_none().then_some(ids)
    }

    /// The handler for `method`: for `HEAD`, its own if listed, else the `GET` handler.
    fn handler(&self, method: &Method) -> Option<Handler> {
        let listed = |wanted: &Method| {
            self.methods
                .iter()
                .find(|(served, _)| served == wanted)
                .map(|&(_, handler)| handler)
        };
        if *method == Method::HEAD {
            return listed(&Method::HEAD).or_else(|| listed(&Method::GET));
        }
        listed(method)
    }

    /// The names of the methods served, `HEAD` included, in the order `Allow` lists them.
    pub(crate) fn allowed(&self) -> impl Iterator<Item = &'static str> + '_ {
        let implied_head = !self.methods.iter().any(|(m, _)| m == Method::HEAD);
        self.methods.iter().flat_map(move |(method, _)| {
            let head = (implied_head && method == Method::GET).then_some("HEAD");
            std::iter::once(method.as_str()).chain(head)
        })
    }

    /// The `Allow` header of a `405` (built on that error path only).
    fn allow_header(&self) -> HeaderValue {
        let allow = self.allowed().collect::<Vec<_>>().join(", ");
        HeaderValue::from_str(&allow).expect("method names are header-safe")
    }
}

/// An id in a path: non-empty, at most 128 bytes, URL-safe.
fn is_id(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 128
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The header that carries a request's id, in the answer and, optionally, in the request.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The target of the one line each request is logged with, so that a filter can name it
/// (`sealgate::request=warn` turns the lines off).
const REQUEST_LOG_TARGET: &str = "sealgate::request";

/// The longest incoming `x-request-id` kept; a longer or malformed one is replaced.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The request's id: the caller's `x-request-id` when it is 1 to 64 URL-safe characters
/// (RFC 3986 unreserved), else a fresh random one (128 bits, base64url).
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let incoming = headers.get(&REQUEST_ID).filter(|value| {
        let bytes = value.as_bytes();
        (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len())
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    });
    match incoming {
        Some(value) => value.clone(),
        None => HeaderValue::try_from(sealgate_crypto::random_token::<16>())
            .expect("base64url is header-safe"),
    }
}

/// Serves one request of the API listener: the answer carries the request's id in
/// `x-request-id`, and the request is counted in the metrics and logged once (method, route
/// template, status, duration and request id; never a path, an id of the API or a secret).
///
/// Not an `async fn`: an async fn keeps its arguments for its whole life, and hyper keeps
/// this future for the request's whole life, a minute for a long-poll. So the request is taken
/// apart here, routing runs in a box freed once it is done, and a waiting long-poll holds only
/// its own state.
pub(crate) fn serve_api(
    app: &App,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> impl Future<Output = HttpResponse> + '_ {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let request_id = request_id(&parts.headers);
    let method = method_label(&parts.method);
    let is_head = parts.method == Method::HEAD;
    // What the handlers log carries the request id too. A long-poll waits outside the span:
    // 10,000 parked long-polls would otherwise keep 10,000 spans (and their formatted
    // fields) alive in the subscriber for up to a minute each.
    let span = tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default()
    );
    // The exported span (disabled unless traces are on) lasts the whole request, a
    // long-poll's wait included: that is what it measures.
    let trace = spans::request(method, || route_template(parts.uri.path()), &parts.headers);
    let recorded = trace.clone();
    let mut routing = Some(Box::pin(route(app, parts, body, peer).instrument(span)));
    async move {
        let routing = routing.take().expect("a request is routed once");
        let (template, routed) = routing.await;
        let response = match routed {
            Routed::Answered(response) => response,
            Routed::LongPoll(poll) => poll.run(app).await,
        };
        let mut response = response.unwrap_or_else(ApiError::into_response);
        if is_head {
            response = strip_body(response);
        }
        let status = response.status().as_u16();
        spans::record_status(&recorded, status);
        let elapsed = started.elapsed();
        app.metrics
            .observe_request(template, method, status, elapsed.as_secs_f64());
        tracing::info!(
            target: REQUEST_LOG_TARGET,
            method,
            route = template,
            status,
            duration_ms = elapsed.as_micros() as f64 / 1000.0,
            request_id = request_id.to_str().unwrap_or_default(),
            "request"
        );
        response.headers_mut().insert(REQUEST_ID, request_id);
        response
    }
    .instrument(trace)
}

/// What routing a request gave: an answer, or a checked long-poll still to wait.
enum Routed {
    /// The handler's result.
    Answered(Result<HttpResponse, ApiError>),
    /// An authenticated long-poll, holding nothing of the request.
    LongPoll(api::poll::LongPoll),
}

/// Finds the request's route and runs its handler: the route's template (its metric label)
/// and the handler's result, or the long-poll to run.
async fn route(
    app: &App,
    parts: http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
) -> (&'static str, Routed) {
    let found = find_route(parts.uri.path());
    let template = found.map_or(UNKNOWN_ROUTE, |(spec, _)| spec.template);
    let routed = match found {
        None => Routed::Answered(Err(ApiError::NotFound)),
        Some((spec, ids)) => match spec.handler(&parts.method) {
            None => Routed::Answered(Err(ApiError::MethodNotAllowed(spec.allow_header()))),
            // A long-poll keeps nothing of the request while it waits: the request head lives
            // in the connection's read buffer, which it would pin for up to a minute per waiter.
            Some(Handler::Poll) => match api::poll::prepare_poll(app, &parts, ids[0]).await {
                Ok(poll) => Routed::LongPoll(poll),
                Err(error) => Routed::Answered(Err(error)),
            },
            // Boxed, so that the long-poll's state alone sizes this future: hyper keeps it for
            // the request's whole life, a minute for a long-poll.
            Some(handler) => {
                Routed::Answered(Box::pin(dispatch(app, handler, ids, &parts, body, peer)).await)
            }
        },
    };
    (template, routed)
}

async fn dispatch(
    app: &App,
    handler: Handler,
    ids: Ids<'_>,
    parts: &http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
) -> Result<HttpResponse, ApiError> {
    let [id, second_id] = ids;
    let read = |body| {
        read_limited(
            &parts.headers,
            body,
            app.config.limits.max_body_bytes,
            app.config.limits.body_read_timeout(),
        )
    };
    match handler {
        // RFC 7591 §3.2.2: every error of registration, its rate limit and caps included, is
        // `application/json`.
        Handler::RegisterClient => Ok(async {
            api::clients::check_registration_rate(app, peer.ip())?;
            api::clients::register(app, parts, read(body).await?).await
        }
        .await
        .unwrap_or_else(|error| error.into_response_as(REGISTRATION_ERROR_MEDIA_TYPE))),
        Handler::GetClient => api::clients::get_client(app, parts, id).await,
        Handler::DeleteClient => api::clients::delete(app, parts, id).await,
        Handler::GetJwks => api::clients::jwks(app, parts, id).await,
        Handler::RotateJwks => api::clients::rotate_jwks(app, parts, id, read(body).await?).await,
        Handler::SetWebhook => api::webhooks::set(app, parts, id, read(body).await?).await,
        Handler::RemoveWebhook => api::webhooks::remove(app, parts, id).await,
        Handler::RotateWebhookSecret => api::webhooks::rotate_secret(app, parts, id).await,
        Handler::OpenMailbox => api::mailboxes::open(app, parts, read(body).await?).await,
        Handler::Deposit => {
            api::mailboxes::deposit(app, parts, id, peer.ip(), read(body).await?).await
        }
        Handler::Poll => api::poll::poll(app, parts, id).await,
        Handler::MailboxStatus => api::poll::status(app, parts, id).await,
        Handler::Cancel => api::mailboxes::cancel(app, parts, id).await,
        Handler::RegisterDevice => {
            api::devices::register(app, parts, id, peer.ip(), read(body).await?).await
        }
        Handler::UpdateDevice => {
            api::devices::update(app, parts, (id, second_id), read(body).await?).await
        }
        Handler::DeleteDevice => api::devices::delete(app, parts, (id, second_id)).await,
        Handler::VapidKey => api::devices::vapid_key(app),
        Handler::Healthz => Ok(api::ops::healthz()),
        Handler::Readyz => api::ops::readyz(app).await,
        Handler::OpenApi => Ok(api::ops::openapi(app)),
    }
}

/// The answer to a `HEAD`: the same status and headers, `Content-Length` included (RFC 9110
/// §9.3.2 allows it), and no body.
fn strip_body(response: HttpResponse) -> HttpResponse {
    let (mut head, body) = response.into_parts();
    let length = body.size_hint().exact().unwrap_or(0);
    let has_length = !matches!(
        head.status,
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
    );
    if has_length && !head.headers.contains_key(header::CONTENT_LENGTH) {
        head.headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    HttpResponse::from_parts(head, Full::default())
}

/// Serves one request of the metrics listener.
pub(crate) async fn serve_metrics(app: &App, request: Request<Incoming>) -> HttpResponse {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => api::ops::metrics(app).await,
        (&Method::HEAD, "/metrics") => strip_body(api::ops::metrics(app).await),
        (_, "/metrics") => {
            ApiError::MethodNotAllowed(HeaderValue::from_static("GET, HEAD")).into_response()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn template_of(path: &str) -> Option<(&'static str, &str)> {
        find_route(path).map(|(spec, ids)| (spec.template, ids[0]))
    }

    #[test]
    fn every_template_matches_itself_with_an_id_and_no_other_route() {
        for spec in ROUTES {
            let path = spec
                .template
                .replace("{client_id}", "c")
                .replace("{mailbox_id}", "m")
                .replace("{device_handle}", "d");
            let matching: Vec<_> = ROUTES
                .iter()
                .filter(|s| s.match_path(&path).is_some())
                .collect();
            assert_eq!(matching.len(), 1, "{path}");
            assert_eq!(template_of(&path).unwrap().0, spec.template);
        }
    }

    #[test]
    fn templates_are_unique_rooted_and_capture_two_ids_at_most() {
        for (i, spec) in ROUTES.iter().enumerate() {
            assert!(spec.template.starts_with('/'), "{}", spec.template);
            assert!(spec.template.matches('{').count() <= 2, "{}", spec.template);
            assert!(!spec.methods.is_empty(), "{}", spec.template);
            assert!(ROUTES[..i].iter().all(|s| s.template != spec.template));
        }
    }

    #[test]
    fn ids_are_captured_within_their_bounds() {
        let longest = "a".repeat(128);
        assert_eq!(
            template_of(&format!("/v1/mailboxes/{longest}")),
            Some(("/v1/mailboxes/{mailbox_id}", longest.as_str()))
        );
        assert_eq!(template_of(&format!("/v1/mailboxes/{longest}a")), None);
        assert_eq!(
            template_of("/v1/clients/A-z_9/jwks"),
            Some(("/v1/clients/{client_id}/jwks", "A-z_9"))
        );
        assert_eq!(
            template_of("/v1/clients/x"),
            Some(("/v1/clients/{client_id}", "x"))
        );
        let (spec, ids) = find_route("/v1/clients/c1/devices/dh_2").unwrap();
        assert_eq!(
            spec.template,
            "/v1/clients/{client_id}/devices/{device_handle}"
        );
        assert_eq!(ids, ["c1", "dh_2"]);
        assert!(find_route("/v1/clients/c1/devices/dh.2").is_none());
        for bad in [
            "/v1/clients//jwks",
            "/v1/mailboxes/a.b",
            "/v1/mailboxes/a%20b",
            "/v1/mailboxes/é",
        ] {
            assert_eq!(template_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn extra_missing_and_trailing_segments_match_nothing() {
        for path in [
            "",
            "/",
            "*",
            "v1/clients",
            "/v1",
            "/v1/clients/",
            "/v1/mailboxes/abc/",
            "/healthz/",
            "//healthz",
            "/v1/mailboxes/a/b",
            "/v1/clients/c/webhook/secret/more",
            "/v1/clients/c/webhook/secret/more/and/more",
        ] {
            assert_eq!(template_of(path), None, "{path:?}");
        }
        assert_eq!(template_of("/v1/clients"), Some(("/v1/clients", "")));
        assert_eq!(template_of("/healthz"), Some(("/healthz", "")));
    }

    #[test]
    fn allow_lists_head_beside_get_and_head_never_polls() {
        let allow = |template: &str| {
            let spec = ROUTES.iter().find(|s| s.template == template).unwrap();
            spec.allow_header().to_str().unwrap().to_owned()
        };
        assert_eq!(allow("/v1/clients"), "POST");
        assert_eq!(allow("/v1/clients/{client_id}"), "GET, HEAD, DELETE");
        assert_eq!(allow("/v1/clients/{client_id}/jwks"), "GET, HEAD, PUT");
        assert_eq!(
            allow("/v1/mailboxes/{mailbox_id}"),
            "PUT, GET, HEAD, DELETE"
        );
        assert_eq!(allow("/healthz"), "GET, HEAD");
        let (mailbox, _) = find_route("/v1/mailboxes/m").unwrap();
        assert_eq!(mailbox.handler(&Method::HEAD), Some(Handler::MailboxStatus));
        assert_eq!(mailbox.handler(&Method::GET), Some(Handler::Poll));
        let (client, _) = find_route("/v1/clients/c").unwrap();
        assert_eq!(client.handler(&Method::HEAD), Some(Handler::GetClient));
        assert_eq!(client.handler(&Method::PATCH), None);
    }
}

/// hyper keeps a request's future for the request's whole life: a waiting long-poll's, for up
/// to a minute, in every one of thousands of waiters.
#[cfg(test)]
mod future_size {
    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn a_requests_future_is_small() {
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let store: crate::store::SharedStore = Arc::new(crate::store::MemoryStore::new(
            crate::store::WakeHub::default(),
            clock.clone(),
        ));
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let config = crate::config::Config::default();
        let app = Arc::new(App::new(config, store, clock, stopping).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A real request (an `Incoming` body exists only inside hyper) whose answer is the size
        // of the future `serve_api` makes for it.
        tokio::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let app = app.clone();
                async move {
                    let size = std::mem::size_of_val(&serve_api(&app, request, peer));
                    let body = http_body_util::Full::new(bytes::Bytes::from(size.to_string()));
                    Ok::<_, std::convert::Infallible>(http::Response::new(body))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        stream.write_all(request).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let size: usize = answer.rsplit("\r\n").next().unwrap().parse().unwrap();
        assert!(size <= 1024, "serve_api's future is {size} bytes");
    }
}
