//! The standard endpoints a website's OpenID Connect library calls: discovery, `/jwks`,
//! `/token` (authorization code grant) and `/userinfo`.

use http::{HeaderMap, StatusCode, header};
use sealgate_client::sealgate_crypto::random_token;
use serde_json::{Value, json};

use super::respond::{Reply, invalid_token, json_no_store, json_public, oauth_error};
use crate::app::Bridge;
use crate::claims::{SCOPES, id_token_claims, supported_claims};
use crate::client_auth::{authenticate, presented};
use crate::flow::now_secs;
use crate::pkce;
use crate::state::{AccessGrant, Redeemed, TOKEN_TTL};

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3).
pub(crate) fn discovery(bridge: &Bridge) -> Reply {
    let base = bridge.base();
    let scopes: Vec<&str> = SCOPES.iter().map(|(name, _)| *name).collect();
    json_public(&json!({
        "issuer": bridge.config.issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": supported_claims(),
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// `GET /jwks`: the public signing keys.
pub(crate) fn jwks(bridge: &Bridge) -> Reply {
    json_public(&bridge.signing.jwks())
}

/// `POST /token`: redeems a code once for an ID token and an access token.
pub(crate) fn token(bridge: &Bridge, headers: &HeaderMap, body: &[u8]) -> Reply {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    if form.iter().any(|(name, _)| !seen.insert(name.as_str())) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a parameter is repeated",
        );
    }
    let get = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let client_failed = |reason: &str| {
        let status = if authorization.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        oauth_error(status, "invalid_client", reason)
    };
    let client = match presented(authorization, get("client_id"), get("client_secret")) {
        Ok(client) => client,
        Err(error) => return client_failed(&error.to_string()),
    };
    let Some(config) = bridge.config.client(&client.client_id) else {
        return client_failed("unknown client");
    };
    if authenticate(config, &client).is_err() {
        return client_failed("client authentication failed");
    }
    if get("grant_type") != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    let Some(code) = get("code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is missing",
        );
    };
    let access_token = random_token::<32>();
    let grant = match bridge.state.redeem(code, &access_token) {
        Redeemed::Fresh(grant) => grant,
        Redeemed::Replayed => {
            tracing::warn!(client_id = %client.client_id, "a code was presented twice; its tokens are revoked");
            return invalid_grant("the code was used already; what it issued is revoked");
        }
        Redeemed::Unknown => return invalid_grant("the code is unknown or expired"),
    };
    if grant.client_id != client.client_id {
        return invalid_grant("the code was issued to another client");
    }
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri differs from the authorization request's");
    }
    match (&grant.code_challenge, get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if pkce::verify(verifier, challenge).is_err() {
                return invalid_grant("the PKCE code_verifier does not match");
            }
        }
        (Some(_), None) => return invalid_grant("code_verifier is missing"),
        (None, Some(_)) => {
            return invalid_grant("code_verifier sent, but the request had no code_challenge");
        }
        (None, None) => {}
    }
    let lifetime = TOKEN_TTL.as_secs();
    let claims = id_token_claims(
        &grant.claims,
        &bridge.config.issuer,
        &grant.client_id,
        grant.nonce.as_deref(),
        grant.auth_time,
        now_secs(),
        lifetime,
    );
    let id_token = bridge
        .signing
        .sign(config.id_token_signed_response_alg, &claims);
    let scope = grant.scope.join(" ");
    bridge.state.add_access_token(
        access_token.clone(),
        AccessGrant {
            client_id: grant.client_id,
            scope: grant.scope,
            claims: grant.claims,
        },
    );
    json_no_store(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "id_token": id_token,
            "scope": scope,
        }),
    )
}

fn invalid_grant(description: &str) -> Reply {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// `GET` or `POST /userinfo` with `Authorization: Bearer`: the user's claims.
pub(crate) fn userinfo(bridge: &Bridge, headers: &HeaderMap) -> Reply {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(grant) = token.and_then(|t| bridge.state.access(t)) else {
        return invalid_token();
    };
    json_no_store(StatusCode::OK, &Value::Object(grant.claims))
}
