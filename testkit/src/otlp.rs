//! What an OTLP/HTTP collector received, decoded: the spans of every protobuf
//! `ExportTraceServiceRequest` a [`Recorder`](crate::recorder::Recorder) got on `/v1/traces`,
//! with ids as lowercase hex and attributes as text, for tests to walk as a tree.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

use crate::recorder::Recorded;

/// The path of OTLP/HTTP trace exports.
pub const TRACES_PATH: &str = "/v1/traces";

/// One exported span.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// The span's name.
    pub name: String,
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id, 16 hex digits.
    pub span_id: String,
    /// The parent's span id, or empty for a root.
    pub parent_span_id: String,
    /// The `service.name` of the resource that exported it.
    pub service_name: String,
    /// Each attribute's value as text (strings bare, numbers and booleans as written).
    pub attributes: BTreeMap<String, String>,
}

impl ExportedSpan {
    /// The attribute `key`, when set.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The spans of every trace export among `requests`, in the order received; panics when an
/// export does not decode.
pub fn exported_spans(requests: &[Recorded]) -> Vec<ExportedSpan> {
    let mut spans = Vec::new();
    for request in requests.iter().filter(|r| r.path == TRACES_PATH) {
        let export = ExportTraceServiceRequest::decode(request.body.clone())
            .expect("an OTLP protobuf trace export");
        for resource_spans in export.resource_spans {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref().and_then(|v| v.value.as_ref()))
                .map(text)
                .unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                spans.push(ExportedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    service_name: service_name.clone(),
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|kv| {
                            let value = kv.value.as_ref()?.value.as_ref()?;
                            Some((kv.key.clone(), text(value)))
                        })
                        .collect(),
                });
            }
        }
    }
    spans
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}
