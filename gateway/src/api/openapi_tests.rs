//! The OpenAPI document describes exactly the routes and methods the router serves: the
//! drift test between `openapi.json` and the route table.

use std::collections::BTreeSet;

use super::ops::{OPENAPI_JSON, configured_bounds, served_openapi};
use super::router::ROUTES;
use crate::config::{Config, Limits};
use serde_json::Value;

/// The operation keys of an OpenAPI path item.
const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The one operation whose errors are `application/json` rather than problem+json.
const REGISTRATION_OPERATION: (&str, &str) = ("/v1/clients", "post");

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

#[test]
fn is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
}

#[test]
fn the_checked_in_document_states_the_default_bounds() {
    let doc = document();
    for (pointer, value) in configured_bounds(&Limits::default()) {
        assert_eq!(doc.pointer(pointer), Some(&Value::from(value)), "{pointer}");
    }
}

#[test]
fn the_served_document_is_the_checked_in_one_with_the_configured_bounds() {
    let served = |config: &Config| -> Value {
        serde_json::from_slice(&served_openapi(config)).expect("the served document is JSON")
    };
    assert_eq!(served(&Config::default()), document());

    let mut config = Config::default();
    config.limits.max_ttl_secs = 300;
    config.public_url = Some("https://gw.example/".into());
    let mut expected = document();
    *expected
        .pointer_mut("/components/schemas/OpenMailbox/properties/ttl/maximum")
        .unwrap() = 300.into();
    expected["servers"][0]["url"] = "https://gw.example".into();
    assert_eq!(served(&config), expected);
}

#[test]
fn the_fixed_bounds_are_the_code_constants() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Jwks"]["properties"]["keys"]["maxItems"],
        sealgate_crypto::MAX_JWKS_KEYS
    );
    let deposit = &doc["paths"]["/v1/mailboxes/{mailbox_id}"]["put"]["requestBody"]["content"]["application/jose"]
        ["schema"];
    assert_eq!(deposit["maxLength"], sealgate_crypto::MAX_ENVELOPE_LEN);
}

#[test]
fn names_every_route_and_method_the_router_serves_and_no_other() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| HTTP_METHODS.contains(&key.as_str()))
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .flat_map(|route| {
            route
                .allowed()
                .map(move |method| (route.template.to_string(), method.to_string()))
        })
        .collect();
    let undescribed: Vec<_> = served.difference(&documented).collect();
    assert!(
        undescribed.is_empty(),
        "served, not in openapi.json: {undescribed:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "in openapi.json, not served: {unserved:?}"
    );
    assert_eq!(documented, served, "openapi.json and the router disagree");
}

#[test]
fn every_get_route_also_serves_head() {
    for route in ROUTES {
        let methods: Vec<_> = route.allowed().collect();
        if methods.contains(&"GET") {
            assert!(methods.contains(&"HEAD"), "{}: {methods:?}", route.template);
        }
    }
}

#[test]
fn every_error_response_is_a_problem_and_every_ref_resolves() {
    let doc = document();
    let text = OPENAPI_JSON;
    for reference in text.split("\"$ref\": \"#/").skip(1) {
        let pointer = format!("/{}", &reference[..reference.find('"').unwrap()]);
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            // RFC 7591 §3.2.2: registration errors are `application/json`, and only those.
            let media_type = if (path.as_str(), method.as_str()) == REGISTRATION_OPERATION {
                "application/json"
            } else {
                "application/problem+json"
            };
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().expect("error content");
                    let media_types: Vec<_> = content.keys().collect();
                    assert_eq!(
                        media_types,
                        [media_type],
                        "{method} {path} {status} is not {media_type}"
                    );
                    assert!(
                        content[media_type]["schema"]["$ref"] == "#/components/schemas/Problem",
                        "{method} {path} {status}: the body is a Problem"
                    );
                }
            }
        }
    }
}
