//! The bridge end to end, in process: a website's code flow through the bridge, a gateway and
//! a phone; the ID token it issues checked with the bridge's published keys; the page's
//! security headers and cookie; every way a sign-in must fail.

mod support;

use http::header;
use sealgate_client::sealgate_crypto::{SignInRequest, base64url};
use sealgate_client::testing::TestIssuer;
use sealgate_client::{Expected, IssuerKeys, verify_id_token};
use sealgate_testkit::basic;
use support::{ISSUER, REDIRECT, SECRET, Stack, authorize_query, now, param};

/// PKCE pair from RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn a_code_flow_signs_the_user_in_with_the_bridges_own_id_token() {
    let stack = Stack::start(120).await;
    let browser = stack
        .open_signin(&authorize_query(
            "st-1",
            "site-nonce",
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert!(browser.set_cookie.contains("HttpOnly"));
    assert!(browser.set_cookie.contains("SameSite=Lax"));
    assert!(browser.html.contains("Test Shop"));
    assert!(browser.html.contains("id=\"signin-request\""));

    stack.phone_sends(&stack.issuer, &browser.uri, None).await;
    let status = stack.outcome(&browser).await;
    assert_eq!(status["status"], "approved", "{status}");
    let redirect = status["redirect"].as_str().unwrap();
    assert!(redirect.starts_with(REDIRECT));
    assert_eq!(param(redirect, "state").as_deref(), Some("st-1"));
    assert_eq!(
        param(redirect, "iss").as_deref(),
        Some(stack.bridge.as_str())
    );
    let code = param(redirect, "code").unwrap();

    let token = stack.redeem(&code, &[("code_verifier", VERIFIER)]).await;
    token.assert_status(200);
    assert_eq!(token.header(header::CACHE_CONTROL), Some("no-store"));
    let token = token.json();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "openid profile email");

    let jwks = stack.get("/jwks", None).await.text();
    let claims = verify_id_token(
        token["id_token"].as_str().unwrap(),
        &IssuerKeys::from_json(&jwks).unwrap(),
        &Expected {
            issuer: Some(stack.bridge.clone()),
            audience: "site".into(),
            nonce: "site-nonce".into(),
            leeway: std::time::Duration::ZERO,
        },
    )
    .unwrap();
    assert_eq!(
        claims.sub,
        sealgate_bridge::subject::namespaced_subject(ISSUER, "alice")
    );
    assert_eq!(claims.other["name"], "Alice Example");
    assert_eq!(claims.other["email"], "alice@example.com");
    assert!(claims.other["auth_time"].as_u64().unwrap() <= now());

    let userinfo = stack
        .get_bearer("/userinfo", token["access_token"].as_str().unwrap())
        .await;
    userinfo.assert_status(200);
    assert_eq!(userinfo.json()["sub"], claims.sub.as_str());
    assert_eq!(userinfo.json()["name"], "Alice Example");
}

#[tokio::test]
async fn discovery_names_every_required_member_and_the_keys_verify() {
    let stack = Stack::start(120).await;
    let reply = stack.get("/.well-known/openid-configuration", None).await;
    reply.assert_status(200);
    let doc = reply.json();
    for member in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "userinfo_endpoint",
    ] {
        assert!(doc.get(member).is_some(), "missing {member}");
    }
    assert_eq!(doc["issuer"], stack.bridge.as_str());
    assert!(
        doc["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );
    let jwks = stack.get("/jwks", None).await.json();
    let algs: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].clone())
        .collect();
    assert_eq!(algs, ["RS256", "ES256"]);
}

#[tokio::test]
async fn the_page_is_strict_and_only_its_browser_sees_the_signin() {
    let stack = Stack::start(120).await;
    let browser = stack.open_signin(&authorize_query("s", "n", &[])).await;
    let page = stack.get(&browser.page, Some(&browser.cookie)).await;
    let policy = page.header(header::CONTENT_SECURITY_POLICY).unwrap();
    assert!(policy.contains("default-src 'none'"));
    assert!(policy.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(!page.text().contains("<script>"), "no inline script");

    // Without the cookie, or with another browser's, nothing is shown.
    stack.get(&browser.page, None).await.assert_status(404);
    let other = stack.open_signin(&authorize_query("s2", "n2", &[])).await;
    stack
        .get(&browser.page, Some(&other.cookie))
        .await
        .assert_status(404);
    stack
        .get(&format!("{}/status", browser.page), Some(&other.cookie))
        .await
        .assert_status(404);
    assert_eq!(stack.status(&browser, 0).await["status"], "waiting");
}

#[tokio::test]
async fn authorize_errors_show_a_page_or_redirect_with_state_and_iss() {
    let stack = Stack::start(120).await;
    let unknown_redirect = authorize_query("s", "n", &[]).replace("5999", "6000");
    let reply = stack
        .get(&format!("/authorize?{unknown_redirect}"), None)
        .await;
    reply.assert_status(400);
    assert!(reply.header(header::LOCATION).is_none());
    assert!(reply.text().contains("redirect_uri"));

    let no_openid = authorize_query("s-9", "n", &[]).replace("openid+", "");
    let reply = stack.get(&format!("/authorize?{no_openid}"), None).await;
    reply.assert_status(303);
    let location = reply.header(header::LOCATION).unwrap();
    assert_eq!(param(location, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(location, "state").as_deref(), Some("s-9"));
    assert_eq!(
        param(location, "iss").as_deref(),
        Some(stack.bridge.as_str())
    );

    let public = authorize_query("s", "n", &[]).replace("client_id=site", "client_id=public-site");
    let reply = stack.get(&format!("/authorize?{public}"), None).await;
    let location = reply.header(header::LOCATION).unwrap();
    assert_eq!(param(location, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn token_endpoint_refuses_bad_clients_verifiers_and_replays() {
    let stack = Stack::start(120).await;
    let approved = |state: &'static str| {
        let stack = &stack;
        async move {
            let browser = stack
                .open_signin(&authorize_query(
                    state,
                    "n",
                    &[
                        ("code_challenge", CHALLENGE),
                        ("code_challenge_method", "S256"),
                    ],
                ))
                .await;
            stack.phone_sends(&stack.issuer, &browser.uri, None).await;
            let status = stack.outcome(&browser).await;
            param(status["redirect"].as_str().unwrap(), "code").unwrap()
        }
    };
    let redeem = |code: String, secret: &'static str, verifier: &'static str| {
        let stack = &stack;
        async move {
            stack
                .post_form(
                    "/token",
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", verifier),
                        ("client_id", "site"),
                        ("client_secret", secret),
                    ],
                    &[],
                )
                .await
        }
    };

    let code = approved("a").await;
    let wrong_secret = redeem(code.clone(), "not-the-secret", VERIFIER).await;
    wrong_secret.assert_status(400);
    assert_eq!(wrong_secret.json()["error"], "invalid_client");
    // Basic with a wrong secret is 401 with a challenge.
    let basic_wrong = stack
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
            &[("authorization", &basic("site", "wrong"))],
        )
        .await;
    basic_wrong.assert_status(401);
    assert!(basic_wrong.header(header::WWW_AUTHENTICATE).is_some());

    let wrong_verifier = redeem(code.clone(), SECRET, "x".repeat(43).leak()).await;
    assert_eq!(wrong_verifier.json()["error"], "invalid_grant");
    // A code presented with a wrong verifier is spent.
    assert_eq!(
        redeem(code, SECRET, VERIFIER).await.json()["error"],
        "invalid_grant"
    );

    let code = approved("b").await;
    let first = redeem(code.clone(), SECRET, VERIFIER).await;
    first.assert_status(200);
    let access = first.json()["access_token"].as_str().unwrap().to_owned();
    stack
        .get_bearer("/userinfo", &access)
        .await
        .assert_status(200);
    let replay = redeem(code, SECRET, VERIFIER).await;
    assert_eq!(replay.json()["error"], "invalid_grant");
    stack
        .get_bearer("/userinfo", &access)
        .await
        .assert_status(401);
}

#[tokio::test]
async fn untrusted_issuers_wrong_nonces_and_foreign_envelopes_are_denied() {
    let stack = Stack::start(120).await;

    let browser = stack.open_signin(&authorize_query("u", "n", &[])).await;
    let stranger = TestIssuer::generate("https://stranger.invalid").unwrap();
    stack.phone_sends(&stranger, &browser.uri, None).await;
    let status = stack.outcome(&browser).await;
    assert_eq!(status["status"], "denied");
    let redirect = status["redirect"].as_str().unwrap();
    assert_eq!(param(redirect, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(redirect, "state").as_deref(), Some("u"));
    assert!(param(redirect, "code").is_none());

    let impostor = TestIssuer::generate(ISSUER).unwrap();
    let browser = stack.open_signin(&authorize_query("i", "n", &[])).await;
    stack.phone_sends(&impostor, &browser.uri, None).await;
    assert_eq!(stack.outcome(&browser).await["status"], "denied");

    let browser = stack.open_signin(&authorize_query("w", "n", &[])).await;
    stack
        .phone_sends(&stack.issuer, &browser.uri, Some("another-nonce"))
        .await;
    assert_eq!(stack.outcome(&browser).await["status"], "denied");

    // Sealed to another key, its header naming the website's key: the gateway takes it (the
    // header checks out), the bridge cannot open it.
    let browser = stack.open_signin(&authorize_query("k", "n", &[])).await;
    let request = SignInRequest::parse(&browser.uri, now()).unwrap();
    let other = sealgate_client::sealgate_crypto::PrivateKey::generate(Default::default());
    let envelope = sealgate_client::sealgate_crypto::seal(
        other.public_key(),
        b"eyJ.not.opened",
        &sealgate_client::sealgate_crypto::SealOptions::for_token(
            sealgate_client::sealgate_crypto::Binding {
                aud: Some(request.client_id().into()),
                mbx: Some(request.mailbox_id().into()),
                exp: Some(request.expires_at()),
            },
        ),
    )
    .unwrap();
    let forged = with_kid(envelope.as_str(), request.key_thumbprint());
    let deposit = stack
        .gateway
        .call(
            http::Method::PUT,
            &format!("/v1/mailboxes/{}", request.mailbox_id()),
            None,
            Some(("application/jose", forged.into_bytes())),
        )
        .await;
    assert!(deposit.status.is_success(), "{}", deposit.text());
    assert_eq!(stack.outcome(&browser).await["status"], "denied");
}

#[tokio::test]
async fn an_expired_signin_ends_with_access_denied_and_can_be_tried_again() {
    let stack = Stack::start(10).await;
    let browser = stack.open_signin(&authorize_query("e", "n", &[])).await;
    let status = stack.outcome(&browser).await;
    assert_eq!(status["status"], "expired");
    assert_eq!(
        param(status["redirect"].as_str().unwrap(), "error").as_deref(),
        Some("access_denied")
    );
    let retry = stack
        .post_form(
            &format!("{}/retry", browser.page),
            &[],
            &[("cookie", &browser.cookie)],
        )
        .await;
    retry.assert_status(303);
    let fresh = retry.header(header::LOCATION).unwrap();
    assert_ne!(fresh, browser.page);
    stack
        .get(fresh, Some(&browser.cookie))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn cancel_returns_access_denied_and_a_late_token_issues_nothing() {
    let stack = Stack::start(120).await;
    let browser = stack.open_signin(&authorize_query("c", "n", &[])).await;
    let cancel = stack
        .post_form(
            &format!("{}/cancel", browser.page),
            &[],
            &[("cookie", &browser.cookie)],
        )
        .await;
    cancel.assert_status(303);
    let location = cancel.header(header::LOCATION).unwrap();
    assert_eq!(param(location, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(location, "state").as_deref(), Some("c"));
    assert_eq!(stack.status(&browser, 0).await["status"], "denied");
}

#[tokio::test]
async fn a_restarted_bridge_keeps_its_gateway_client_and_signing_keys() {
    let mut stack = Stack::start(120).await;
    let jwks = stack.get("/jwks", None).await.text();
    let credentials = std::fs::read_to_string(stack.dir.join("gw-credentials.json")).unwrap();
    stack.stop_bridge().await;
    stack.start_bridge(120).await;
    assert_eq!(stack.get("/jwks", None).await.text(), jwks);
    assert_eq!(
        std::fs::read_to_string(stack.dir.join("gw-credentials.json")).unwrap(),
        credentials
    );
    let browser = stack.open_signin(&authorize_query("r", "n", &[])).await;
    stack.phone_sends(&stack.issuer, &browser.uri, None).await;
    assert_eq!(stack.outcome(&browser).await["status"], "approved");
}

/// `compact` with its protected header's `kid` replaced (the AEAD will then refuse it).
fn with_kid(compact: &str, kid: &str) -> String {
    let (header, rest) = compact.split_once('.').unwrap();
    let mut value: serde_json::Value =
        serde_json::from_slice(&base64url::decode(header).unwrap()).unwrap();
    value["kid"] = kid.into();
    format!("{}.{rest}", base64url::encode(value.to_string()))
}
