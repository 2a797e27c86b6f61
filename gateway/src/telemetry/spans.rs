//! The spans the gateway exports, each with its bounded attributes, and W3C Trace Context on
//! the way in (a request's `traceparent` becomes its span's parent) and out (a webhook POST
//! carries its attempt's). Every constructor gives a disabled span when no trace layer is
//! installed; the functions that record or propagate then return at once.

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::SPAN_TARGET;

/// The span of one API request, named by its method and route template (`GET
/// /v1/mailboxes/{mailbox_id}`; `route` is asked only when traces are on), a child of the
/// caller's `traceparent` when it sent a valid one.
pub(crate) fn request(
    method: &'static str,
    route: impl FnOnce() -> &'static str,
    headers: &HeaderMap,
) -> Span {
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "request",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = Empty,
        http.response.status_code = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    // The OpenTelemetry span starts when first entered: its name and parent are set before.
    let route = route();
    span.record("otel.name", format!("{method} {route}"));
    span.record("http.route", route);
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only for a span already started, which this one is not.
    let _ = span.set_parent(parent);
    span
}

/// Records the answer's status; a 5xx marks the span as failed.
pub(crate) fn record_status(span: &Span, status: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The span of one store call, named by the operation (`take`, `deposit`, …).
pub(crate) fn store(operation: &'static str) -> Span {
    tracing::info_span!(
        target: SPAN_TARGET,
        "store",
        otel.name = operation,
        otel.kind = "client",
        otel.status_code = Empty,
        db.operation.name = operation,
    )
}

/// Marks a store call's span as failed.
pub(crate) fn record_failure(span: &Span) {
    span.record("otel.status_code", "error");
}

/// The span of one webhook attempt (`attempt` counts from 1): its store calls are its
/// children, and its POST carries it as `traceparent`.
pub(crate) fn webhook_attempt(attempt: u32) -> Span {
    tracing::info_span!(
        target: SPAN_TARGET,
        "webhook attempt",
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = "POST",
        http.response.status_code = Empty,
        sealgate.webhook.attempt = attempt,
        sealgate.webhook.result = Empty,
    )
}

/// Records how the attempt's POST ended: its metric label, and the status when answered.
pub(crate) fn record_webhook_result(span: &Span, result: &'static str, status: Option<u16>) {
    if span.is_disabled() {
        return;
    }
    span.record("sealgate.webhook.result", result);
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
    if result != "2xx" {
        span.record("otel.status_code", "error");
    }
}

/// Adds `traceparent` (and `tracestate`) naming `span` to an outgoing request's headers;
/// nothing when the span is disabled.
pub(crate) fn inject(span: &Span, headers: &mut HeaderMap) {
    if span.is_disabled() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}
