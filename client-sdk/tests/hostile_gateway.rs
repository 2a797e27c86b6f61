//! The SDK against test doubles: a small proxy in front of a real gateway (memory store and
//! Redis) that substitutes the app's JWKS, moves an envelope into another mailbox, rewrites
//! the sign-in request, drops an answer after forwarding it, or answers 413, 429 or 503. The
//! phone and the app refuse what they must refuse, and retry only what is safe to retry.

#[macro_use]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Method, StatusCode, header};
use serde_json::json;

use sealgate_client::sealgate_crypto::{
    Algorithm, Binding, BindingError, EnvelopeError, PrivateKey, SealOptions, SignInRequest, seal,
};
use sealgate_client::{Deposited, Error, Phone, verify_id_token};

use sealgate_testkit::{now_secs, within};
use support::{Answer, Backend, Behind, Hook, expected, issuer, issuer_keys};

on_every_backend!(
    substituted_jwks,
    moved_envelope,
    rewritten_signin_request,
    lost_deposit_answer,
    mapped_statuses_and_retries,
);

/// The double serves its own key as the app's JWKS: the phone refuses and deposits nothing.
/// A JWKS that merely adds keys is harmless: the phone seals to the vouched-for one.
async fn substituted_jwks(backend: Backend) {
    let behind = Behind::start(&backend).await;
    let (gw, double) = (&behind.gw, &behind.double);
    let app = support::register(&double.url()).await;
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    let uri = pending.uri();
    let jwks_path = format!("/v1/clients/{}/jwks", app.client_id());
    let deposit_path = format!("/v1/mailboxes/{}", pending.mailbox_id());
    let token = issuer()
        .sign_id_token("alice", app.client_id(), pending.nonce())
        .unwrap();
    let phone = Phone::new().unwrap();
    let evil = PrivateKey::generate(Algorithm::Hpke4);
    let evil_jwk = evil.public_key().to_jwk();

    // Only the gateway's key.
    let substituted = json!({ "keys": [evil_jwk] }).to_string();
    let path = jwks_path.clone();
    double.set_policy(move |seen| {
        if seen.method == Method::GET && seen.path == path {
            Hook::Answer(Answer::new(
                StatusCode::OK,
                "application/json",
                substituted.clone(),
            ))
        } else {
            Hook::Forward
        }
    });
    let sent = within("send", phone.send(&uri, token.as_bytes())).await;
    assert!(matches!(sent, Err(Error::KeyNotVouched)), "{sent:?}");

    // The gateway's key dressed up with the vouched-for kid: not a key with that thumbprint.
    let mut forged = evil_jwk.clone();
    forged["kid"] = json!(pending.request().key_thumbprint());
    let forged = json!({ "keys": [forged] }).to_string();
    let path = jwks_path.clone();
    double.set_policy(move |seen| {
        if seen.method == Method::GET && seen.path == path {
            Hook::Answer(Answer::new(
                StatusCode::OK,
                "application/json",
                forged.clone(),
            ))
        } else {
            Hook::Forward
        }
    });
    let sent = within("send", phone.send(&uri, token.as_bytes())).await;
    assert!(
        matches!(sent, Err(Error::KeyNotVouched | Error::Jwk(_))),
        "{sent:?}"
    );

    assert!(
        double.seen_at(&Method::PUT, &deposit_path).is_empty(),
        "the phone sent nothing"
    );
    assert!(
        gw.is_empty(pending.mailbox_id(), app.client_id()).await,
        "nothing was deposited"
    );

    // The real key after the gateway's: the phone picks the vouched-for one.
    let real_jwk = app.keys()[0].public_key().to_jwk();
    let padded = json!({ "keys": [evil_jwk, real_jwk] }).to_string();
    let path = jwks_path.clone();
    double.set_policy(move |seen| {
        if seen.method == Method::GET && seen.path == path {
            Hook::Answer(Answer::new(
                StatusCode::OK,
                "application/json",
                padded.clone(),
            ))
        } else {
            Hook::Forward
        }
    });
    let sent = within("send", phone.send(&uri, token.as_bytes())).await;
    assert_eq!(sent.unwrap(), Deposited::Stored);
    let received = within("wait", app.wait_for_token(pending)).await.unwrap();
    assert_eq!(received.as_str(), token);
    assert_eq!(
        received.header.kid(),
        app.keys()[0].public_key().thumbprint()
    );
}

/// The double answers the app's poll of mailbox B with an envelope sealed to the app's key but
/// bound elsewhere (mailbox A, another client, the past) or tampered with: the app refuses.
async fn moved_envelope(backend: Backend) {
    let behind = Behind::start(&backend).await;
    let double = &behind.double;
    let app = support::register(&double.url()).await;
    let a = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    let b = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    let token = issuer()
        .sign_id_token("alice", app.client_id(), a.nonce())
        .unwrap();
    let app_key = app.keys()[0].public_key().clone();
    let sealed = |binding: Binding| {
        seal(&app_key, token.as_bytes(), &SealOptions::for_token(binding))
            .unwrap()
            .into_string()
    };
    let for_a = sealed(Binding::to_mailbox(
        app.client_id(),
        a.mailbox_id(),
        a.expires_at(),
    ));
    let other_client = sealed(Binding::to_mailbox(
        "another-client",
        b.mailbox_id(),
        b.expires_at(),
    ));
    let past = sealed(Binding::to_mailbox(
        app.client_id(),
        b.mailbox_id(),
        now_secs() - 10,
    ));
    let other_key = seal(
        PrivateKey::generate(Algorithm::Hpke4).public_key(),
        token.as_bytes(),
        &SealOptions::for_token(Binding::to_mailbox(
            app.client_id(),
            b.mailbox_id(),
            b.expires_at(),
        )),
    )
    .unwrap()
    .into_string();
    let good_for_b = sealed(Binding::to_mailbox(
        app.client_id(),
        b.mailbox_id(),
        b.expires_at(),
    ));
    let tampered = {
        let mut parts: Vec<String> = good_for_b.split('.').map(str::to_owned).collect();
        let ciphertext = &mut parts[3];
        let flipped = if ciphertext.starts_with('A') {
            "B"
        } else {
            "A"
        };
        ciphertext.replace_range(0..1, flipped);
        parts.join(".")
    };

    let b_path = format!("/v1/mailboxes/{}", b.mailbox_id());
    type Refusal = fn(&Error) -> bool;
    let cases: [(&str, String, Refusal); 5] = [
        ("sealed for mailbox A", for_a, |e| {
            matches!(e, Error::Binding(BindingError::WrongMailbox))
        }),
        ("sealed for another client", other_client, |e| {
            matches!(e, Error::Binding(BindingError::WrongClient))
        }),
        ("expired", past, |e| {
            matches!(e, Error::Binding(BindingError::Expired { .. }))
        }),
        ("sealed to another key", other_key, |e| {
            matches!(e, Error::Envelope(EnvelopeError::KidMismatch))
        }),
        ("tampered with", tampered, |e| {
            matches!(e, Error::Envelope(_))
        }),
    ];
    for (what, envelope, expected_error) in cases {
        let path = b_path.clone();
        double.set_policy(move |seen| {
            if seen.method == Method::GET && seen.path == path {
                Hook::Answer(Answer::new(
                    StatusCode::OK,
                    "application/jose",
                    envelope.clone(),
                ))
            } else {
                Hook::Forward
            }
        });
        let waited = within("wait", app.wait_for_mailbox(b.mailbox_id(), b.expires_at())).await;
        match waited {
            Err(error) if expected_error(&error) => {}
            other => panic!("an envelope {what} was not refused as it should be: {other:?}"),
        }
    }
}

/// The double rewrites the sign-in request in the `POST /v1/mailboxes` answer: another key,
/// nonce, client or mailbox. The app notices and refuses to show it.
async fn rewritten_signin_request(backend: Backend) {
    let behind = Behind::start(&backend).await;
    let double = &behind.double;
    let app = support::register(&double.url()).await;
    let other_kid = PrivateKey::generate(Algorithm::Hpke4)
        .public_key()
        .thumbprint()
        .to_owned();
    type Change = fn(&SignInRequest, &str) -> SignInRequest;
    let changes: [(&str, Change); 4] = [
        ("kid", |r, other_kid| {
            SignInRequest::new(
                r.gateway(),
                r.client_id(),
                r.mailbox_id(),
                other_kid,
                r.expires_at(),
                r.nonce(),
            )
            .unwrap()
        }),
        ("nonce", |r, _| {
            SignInRequest::new(
                r.gateway(),
                r.client_id(),
                r.mailbox_id(),
                r.key_thumbprint(),
                r.expires_at(),
                "chosen-by-the-gateway",
            )
            .unwrap()
        }),
        ("cid", |r, _| {
            SignInRequest::new(
                r.gateway(),
                "another-client",
                r.mailbox_id(),
                r.key_thumbprint(),
                r.expires_at(),
                r.nonce(),
            )
            .unwrap()
        }),
        ("mbx", |r, _| {
            SignInRequest::new(
                r.gateway(),
                r.client_id(),
                "another-mailbox",
                r.key_thumbprint(),
                r.expires_at(),
                r.nonce(),
            )
            .unwrap()
        }),
    ];
    for (what, change) in changes {
        let other_kid = other_kid.clone();
        let rewritten = Arc::new(AtomicUsize::new(0));
        let count = rewritten.clone();
        double.set_policy(move |seen| {
            if seen.method != Method::POST || seen.path != "/v1/mailboxes" {
                return Hook::Forward;
            }
            let other_kid = other_kid.clone();
            let count = count.clone();
            Hook::Rewrite(Box::new(move |mut answer: Answer| {
                let mut body = answer.json();
                let offered = body["signin_request"].as_str().expect("a sign-in request");
                let offered = SignInRequest::parse(offered, now_secs()).expect("valid");
                body["signin_request"] = json!(change(&offered, &other_kid).to_uri());
                answer.body = body.to_string().into();
                count.fetch_add(1, Ordering::SeqCst);
                answer
            }))
        });
        let opened = within("open", app.open_mailbox(None)).await;
        assert_eq!(rewritten.load(Ordering::SeqCst), 1);
        assert!(
            matches!(opened, Err(Error::SignInRequestMismatch)),
            "a sign-in request with another {what} was accepted: {opened:?}"
        );
    }
    double.set_policy(|_| Hook::Forward);
    within("open", app.open_mailbox(None))
        .await
        .expect("unchanged, the request is accepted");
}

/// The double forwards the phone's first deposit and then drops the connection without
/// answering: the phone retries the same envelope, the gateway takes it as an identical retry
/// (`Deposited::AlreadyStored`), and the app receives the token once.
async fn lost_deposit_answer(backend: Backend) {
    let behind = Behind::start(&backend).await;
    let double = &behind.double;
    let app = support::register(&double.url()).await;
    let issuer = issuer();
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    let nonce = pending.nonce().to_owned();
    let deposit_path = format!("/v1/mailboxes/{}", pending.mailbox_id());
    let path = deposit_path.clone();
    let mut dropped = false;
    double.set_policy(move |seen| {
        if seen.method == Method::PUT && seen.path == path && !dropped {
            dropped = true;
            Hook::ForwardThenDrop
        } else {
            Hook::Forward
        }
    });
    let token = issuer
        .sign_id_token("alice", app.client_id(), &nonce)
        .unwrap();
    let sent = within(
        "send",
        Phone::new().unwrap().send(&pending.uri(), token.as_bytes()),
    )
    .await;
    assert_eq!(sent.expect("the retry succeeds"), Deposited::AlreadyStored);
    let deposits = double.seen_at(&Method::PUT, &deposit_path);
    assert_eq!(deposits.len(), 2, "one deposit and one retry");
    assert_eq!(
        deposits[0].body, deposits[1].body,
        "the retry resends the same envelope"
    );

    let received = within("wait", app.wait_for_token(pending)).await.unwrap();
    assert_eq!(received.as_str(), token);
    verify_id_token(
        received.as_str(),
        &issuer_keys(&issuer),
        &expected(app.client_id(), &nonce),
    )
    .unwrap();
}

/// 413 → `PayloadTooLarge` (a proxy with a smaller limit than the gateway's); 429 and 503 with
/// `Retry-After` are waited out by the phone and by the app's long-poll.
async fn mapped_statuses_and_retries(backend: Backend) {
    let behind = Behind::start(&backend).await;
    let double = &behind.double;
    let app = support::register(&double.url()).await;
    let issuer = issuer();
    let phone = Phone::new().unwrap();
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    let token = issuer
        .sign_id_token("alice", app.client_id(), pending.nonce())
        .unwrap();
    let deposit_path = format!("/v1/mailboxes/{}", pending.mailbox_id());

    let path = deposit_path.clone();
    double.set_policy(move |seen| {
        if seen.method == Method::PUT && seen.path == path {
            Hook::Answer(Answer::problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than 1024 bytes",
            ))
        } else {
            Hook::Forward
        }
    });
    let sent = within("send", phone.send(&pending.uri(), token.as_bytes())).await;
    assert!(matches!(sent, Err(Error::PayloadTooLarge)), "{sent:?}");
    assert_eq!(
        double.seen_at(&Method::PUT, &deposit_path).len(),
        1,
        "no retry"
    );

    // 429 then 503 on the deposit, then through.
    let path = deposit_path.clone();
    let mut refusals = vec![
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    double.set_policy(move |seen| {
        if seen.method == Method::PUT
            && seen.path == path
            && let Some(status) = refusals.pop()
        {
            let mut answer = Answer::problem(status, "slow down");
            answer
                .headers
                .insert(header::RETRY_AFTER, "1".parse().unwrap());
            return Hook::Answer(answer);
        }
        Hook::Forward
    });
    let sent = within("send", phone.send(&pending.uri(), token.as_bytes())).await;
    assert_eq!(
        sent.expect("the phone waits out 429 and 503"),
        Deposited::Stored
    );
    assert_eq!(double.seen_at(&Method::PUT, &deposit_path).len(), 4);

    // 503 then 429 on the poll, then through.
    let path = deposit_path.clone();
    let mut refusals = vec![
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    double.set_policy(move |seen| {
        if seen.method == Method::GET
            && seen.path == path
            && let Some(status) = refusals.pop()
        {
            let mut answer = Answer::problem(status, "slow down");
            answer
                .headers
                .insert(header::RETRY_AFTER, "1".parse().unwrap());
            return Hook::Answer(answer);
        }
        Hook::Forward
    });
    let received = within("wait", app.wait_for_token(pending))
        .await
        .expect("the app waits out 503 and 429");
    assert_eq!(received.as_str(), token);
    assert_eq!(double.seen_at(&Method::GET, &deposit_path).len(), 3);
}
