//! `/authorize` request validation: which errors show a page and which redirect (RFC 9207).

use crate::config::{BridgeConfig, ClientConfig};
use crate::pkce;

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The website's `client_id`.
    pub client_id: String,
    /// The exact registered `redirect_uri`.
    pub redirect_uri: String,
    /// Requested scopes (contains `openid`).
    pub scope: Vec<String>,
    /// Opaque `state`, echoed back.
    pub state: Option<String>,
    /// The website's OIDC `nonce`, copied into the ID token.
    pub nonce: Option<String>,
    /// PKCE `S256` challenge, when given.
    pub code_challenge: Option<String>,
}

/// A refused request: either an error page (the redirect target cannot be trusted) or a
/// redirect carrying an OAuth error code.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Unknown client or unregistered `redirect_uri`: never redirect.
    Page(&'static str),
    /// Redirect to `redirect_uri` with `error`, `error_description`, `state`, `iss`.
    Redirect {
        /// Where to send the browser.
        redirect_uri: String,
        /// The RFC 6749 §4.1.2.1 error code.
        error: &'static str,
        /// Human-readable reason.
        description: &'static str,
        /// The request's `state`, echoed.
        state: Option<String>,
    },
}

/// Validates the query parameters of `/authorize` (`get` returns a parameter's value).
pub fn validate<'a>(
    config: &BridgeConfig,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client: &ClientConfig = get("client_id")
        .and_then(|id| config.client(id))
        .ok_or(AuthorizeError::Page("unknown client_id"))?;
    let redirect_uri = get("redirect_uri")
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
        .ok_or(AuthorizeError::Page(
            "redirect_uri is not registered for this client",
        ))?;
    let state = get("state").map(str::to_owned);
    let refuse = |error, description| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        error,
        description,
        state: state.clone(),
    };
    if get("request").is_some() || get("request_uri").is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("response_type") != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let scope: Vec<String> = get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scope.iter().any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must contain openid"));
    }
    let code_challenge = match get("code_challenge") {
        Some(challenge) => {
            pkce::check_challenge(challenge, get("code_challenge_method"))
                .map_err(|_| refuse("invalid_request", "code_challenge must be S256"))?;
            Some(challenge.to_owned())
        }
        None if client.is_public() => {
            return Err(refuse(
                "invalid_request",
                "PKCE S256 is required for public clients",
            ));
        }
        None => None,
    };
    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state,
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn run(pairs: &[(&'static str, &'static str)]) -> Result<AuthorizeRequest, AuthorizeError> {
        let spa = "[[clients]]\nclient_id = \"spa\"\nredirect_uris = [\"http://127.0.0.1:5001/cb\"]\nname = \"SPA\"\n";
        let text = crate::config::TEST_CONFIG
            .replace("[[trusted_issuers]]", &format!("{spa}[[trusted_issuers]]"));
        let config = BridgeConfig::parse(&text).unwrap();
        validate(&config, |k| {
            pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        })
    }

    const SITE: [(&str, &str); 5] = [
        ("client_id", "flask-demo"),
        ("redirect_uri", "http://127.0.0.1:5000/callback"),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "st"),
    ];

    fn error_of(result: Result<AuthorizeRequest, AuthorizeError>) -> &'static str {
        match result {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("st"));
                error
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn confidential_client_without_pkce_passes() {
        let request = run(&SITE).unwrap();
        assert_eq!(request.scope, ["openid", "email"]);
        assert_eq!(request.code_challenge, None);
    }

    #[test]
    fn unknown_client_and_redirect_are_pages() {
        let mut pairs = SITE;
        pairs[0] = ("client_id", "nobody");
        assert_eq!(run(&pairs), Err(AuthorizeError::Page("unknown client_id")));
        let mut pairs = SITE;
        pairs[1] = ("redirect_uri", "http://127.0.0.1:5000/callback/");
        assert!(matches!(run(&pairs), Err(AuthorizeError::Page(_))));
    }

    #[test]
    fn missing_openid_and_wrong_response_type_redirect() {
        let mut pairs = SITE;
        pairs[3] = ("scope", "email");
        assert_eq!(error_of(run(&pairs)), "invalid_scope");
        let mut pairs = SITE;
        pairs[2] = ("response_type", "token");
        assert_eq!(error_of(run(&pairs)), "unsupported_response_type");
    }

    #[test]
    fn public_client_needs_s256() {
        let base = [
            ("client_id", "spa"),
            ("redirect_uri", "http://127.0.0.1:5001/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st"),
        ];
        assert_eq!(error_of(run(&base)), "invalid_request");
        let mut plain = base.to_vec();
        plain.extend([
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "plain"),
        ]);
        assert_eq!(error_of(run(&plain)), "invalid_request");
        let mut s256 = base.to_vec();
        s256.extend([
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        assert_eq!(
            run(&s256).unwrap().code_challenge.as_deref(),
            Some(CHALLENGE)
        );
    }
}

/// The redirect back to the website (RFC 6749 §4.1.2, RFC 9207 `iss`): `params` are appended
/// to the registered URI's own query, form-encoded, followed by `state` and `iss`.
pub fn redirect_url(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    query.append_pair("iss", issuer);
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.finish())
}

#[cfg(test)]
mod redirect_tests {
    use super::redirect_url;

    #[test]
    fn error_redirect_carries_state_and_iss() {
        let url = redirect_url(
            "https://site.example/cb",
            &[("error", "access_denied")],
            Some("a b&c"),
            "http://127.0.0.1:9000",
        );
        assert_eq!(
            url,
            "https://site.example/cb?error=access_denied&state=a+b%26c&iss=http%3A%2F%2F127.0.0.1%3A9000"
        );
    }

    #[test]
    fn existing_query_is_kept() {
        let url = redirect_url(
            "https://site.example/cb?x=1",
            &[("code", "c")],
            None,
            "https://b.example",
        );
        assert_eq!(
            url,
            "https://site.example/cb?x=1&code=c&iss=https%3A%2F%2Fb.example"
        );
    }
}
