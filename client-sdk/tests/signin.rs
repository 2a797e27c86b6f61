//! The SDK against a real gateway on loopback port 0, on the memory store and on Redis: the
//! whole sign-in (register, open, seal and send, wait, open, verify the ID token), an expired
//! request on both sides, a gateway restart mid-wait, key rotation, cancel and delete, the
//! mapping of 401/404/409, and (Redis) an app and a phone on two gateway instances.

#[macro_use]
mod support;

use std::time::Duration;

use sealgate::store::TakeOutcome;
use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey, SignInRequestError};
use sealgate_client::{AppClient, Deposited, Error, HttpClient, Phone, verify_id_token};

use sealgate_testkit::{now_secs, within};
use support::{Backend, Gw, expected, issuer, issuer_keys, register};

on_every_backend!(
    whole_flow,
    expired_request,
    restart_mid_wait,
    rotation,
    cancelled_and_unknown_mailboxes,
    conflicting_deposit,
    wrong_secret,
    deleted_client,
);

/// Register, open, the phone sends while the app waits, the app opens and verifies; the
/// mailbox is consumed once.
async fn whole_flow(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    let issuer = issuer();
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(60))))
        .await
        .expect("the app opens a mailbox");

    let request = pending.request().clone();
    assert_eq!(request.gateway(), gw.url());
    assert_eq!(request.client_id(), app.client_id());
    assert_eq!(request.mailbox_id(), pending.mailbox_id());
    assert_eq!(
        request.key_thumbprint(),
        app.keys()[0].public_key().thumbprint(),
        "the request vouches for the app's own key"
    );
    let now = now_secs();
    assert!(
        (now + 30..=now + 61).contains(&pending.expires_at()),
        "expires_at {} for a 60 s mailbox at {now}",
        pending.expires_at()
    );
    assert!(pending.nonce().len() >= 16, "nonce {:?}", pending.nonce());
    let uri = pending.uri();
    assert!(uri.starts_with("sealgate:signin?v=1&"), "{uri}");
    assert!(uri.len() < 400, "the request fits a QR code: {uri}");
    assert!(pending.qr_png().starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(pending.qr_terminal().lines().count() > 10);

    let nonce = pending.nonce().to_owned();
    let mailbox_id = pending.mailbox_id().to_owned();
    let id_token = issuer
        .sign_id_token("alice", app.client_id(), &nonce)
        .unwrap();
    let phone = Phone::new().unwrap();
    let (received, sent) = within("the sign-in", async {
        tokio::join!(app.wait_for_token(pending), async {
            // The app is long-polling when the phone sends: the wake-up path is exercised.
            gw.wait_for_a_waiter().await;
            phone.send(&uri, id_token.as_bytes()).await
        })
    })
    .await;
    assert_eq!(sent.expect("the phone sends"), Deposited::Stored);
    let received = received.expect("the app receives the token");
    assert_eq!(received.as_str(), id_token);
    assert_eq!(received.header.aud(), Some(app.client_id()));
    assert_eq!(received.header.mbx(), Some(mailbox_id.as_str()));
    assert_eq!(
        received.header.kid(),
        app.keys()[0].public_key().thumbprint()
    );
    assert_eq!(received.header.cty(), Some("JWT"));
    assert!(
        !format!("{received:?}").contains(&id_token),
        "Debug redacts the token"
    );

    let claims = verify_id_token(
        received.as_str(),
        &issuer_keys(&issuer),
        &expected(app.client_id(), &nonce),
    )
    .expect("the ID token verifies");
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss, support::ISSUER);
    assert_eq!(claims.nonce.as_deref(), Some(nonce.as_str()));

    // Consumed once: the mailbox is gone for the app, and a second envelope is refused.
    let again = within(
        "a poll of the consumed mailbox",
        app.wait_for_mailbox(&mailbox_id, now_secs() + 30),
    )
    .await;
    assert!(matches!(again, Err(Error::MailboxNotFound)), "{again:?}");
    // The consumed mailbox keeps the envelope's digest until its TTL: a different envelope
    // (every send seals anew) is a conflict.
    let resent = within("a second send", phone.send(&uri, id_token.as_bytes())).await;
    assert!(
        matches!(resent, Err(Error::MailboxConflict)),
        "a second, different envelope for a consumed mailbox: {resent:?}"
    );
    within("delete", app.delete())
        .await
        .expect("the app deletes itself");
}

/// A request that expires: the app's wait ends with `Error::Expired`, and the phone refuses to
/// send (from the URI, or from a request it parsed while it was valid); nothing is deposited.
async fn expired_request(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    // 2 s, not 1: the gateway floors the request's `exp` to whole seconds, so a 1 s request
    // may have expired (by that `exp`) when the answer reaches the app on a loaded machine.
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(2))))
        .await
        .expect("a 2 s mailbox opens");
    let uri = pending.uri();
    let request = pending.request().clone();
    let mailbox_id = pending.mailbox_id().to_owned();

    let waited = within("the app's wait", app.wait_for_token(pending)).await;
    let error = waited.expect_err("no token came");
    assert!(matches!(error, Error::Expired), "{error:?}");
    assert!(error.to_string().contains("expired"), "{error}");
    assert!(now_secs() >= request.expires_at());

    let issuer = issuer();
    let token = issuer
        .sign_id_token("alice", app.client_id(), request.nonce())
        .unwrap();
    let phone = Phone::new().unwrap();
    let from_uri = within("send", phone.send(&uri, token.as_bytes())).await;
    let error = from_uri.expect_err("the phone refuses an expired request");
    assert!(
        matches!(
            error,
            Error::Expired | Error::SignInRequest(SignInRequestError::Expired { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("expired"), "{error}");

    let parsed_before = within("send_to", phone.send_to(&request, token.as_bytes())).await;
    let error = parsed_before.expect_err("the phone refuses an expired request");
    assert!(matches!(error, Error::Expired), "{error:?}");
    assert!(error.to_string().contains("expired"), "{error}");

    // Nothing reached the gateway: the mailbox is gone, or (until the gateway's clock, which
    // counts milliseconds, says it expired) still empty.
    let taken = gw.store.take(&mailbox_id, app.client_id()).await.unwrap();
    assert!(
        matches!(taken, TakeOutcome::NotFound | TakeOutcome::Pending),
        "{taken:?}"
    );
}

/// The gateway stops while the app long-polls and a new one starts on the same port with the
/// same store; the phone then sends, and the app, which rode out the restart, gets the token.
async fn restart_mid_wait(backend: Backend) {
    let mut gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    let issuer = issuer();
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .expect("open");
    let uri = pending.uri();
    let nonce = pending.nonce().to_owned();
    let id_token = issuer
        .sign_id_token("bob", app.client_id(), &nonce)
        .unwrap();
    let phone = Phone::new().unwrap();

    let (received, sent) = within("a sign-in across a restart", async {
        tokio::join!(app.wait_for_token(pending), async {
            gw.wait_for_a_waiter().await;
            gw.restart().await;
            // The app is back, long-polling the new gateway, before the phone sends.
            gw.wait_for_a_waiter().await;
            phone.send(&uri, id_token.as_bytes()).await
        })
    })
    .await;
    assert_eq!(sent.expect("the phone sends"), Deposited::Stored);
    let received = received.expect("the app's wait survives the restart");
    assert_eq!(received.as_str(), id_token);
    let claims = verify_id_token(
        received.as_str(),
        &issuer_keys(&issuer),
        &expected(app.client_id(), &nonce),
    )
    .unwrap();
    assert_eq!(claims.sub, "bob");
}

/// After a rotation, a mailbox opened before it still completes (the old key stays published
/// and the app keeps it), one opened after it uses the new key; after enough rotations the
/// oldest key leaves the set and the phone refuses a request that vouches for it.
async fn rotation(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let mut app = register(&gw.url()).await;
    let issuer = issuer();
    let phone = Phone::new().unwrap();
    let first_kid = app.keys()[0].public_key().thumbprint().to_owned();

    let before = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    assert_eq!(before.request().key_thumbprint(), first_kid);
    let oldest = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();

    let second = PrivateKey::generate(Algorithm::Hpke4);
    let second_kid = second.public_key().thumbprint().to_owned();
    within("rotate", app.rotate_keys(second))
        .await
        .expect("rotation");
    assert_eq!(app.keys().len(), 2);
    assert_eq!(app.keys()[0].public_key().thumbprint(), second_kid);
    assert_eq!(app.keys()[1].public_key().thumbprint(), first_kid);

    let after = within("open", app.open_mailbox(Some(Duration::from_secs(120))))
        .await
        .unwrap();
    assert_eq!(after.request().key_thumbprint(), second_kid);

    for (pending, subject, kid) in [
        (before, "before", &first_kid),
        (after, "after", &second_kid),
    ] {
        let token = issuer
            .sign_id_token(subject, app.client_id(), pending.nonce())
            .unwrap();
        let sent = within("send", phone.send(&pending.uri(), token.as_bytes())).await;
        assert_eq!(sent.expect("the phone sends"), Deposited::Stored);
        let received = within("wait", app.wait_for_token(pending))
            .await
            .unwrap_or_else(|e| panic!("the mailbox opened {subject} the rotation: {e:?}"));
        assert_eq!(received.as_str(), token);
        assert_eq!(received.header.kid(), kid.as_str(), "sealed {subject}");
    }

    // Two more rotations: the set keeps the new key and two old ones, so the first key goes.
    for _ in 0..2 {
        within(
            "rotate",
            app.rotate_keys(PrivateKey::generate(Algorithm::Hpke4)),
        )
        .await
        .expect("rotation");
    }
    assert_eq!(app.keys().len(), 3);
    assert!(
        app.keys()
            .iter()
            .all(|key| key.public_key().thumbprint() != first_kid)
    );
    let token = issuer
        .sign_id_token("oldest", app.client_id(), oldest.nonce())
        .unwrap();
    let sent = within("send", phone.send(&oldest.uri(), token.as_bytes())).await;
    assert!(matches!(sent, Err(Error::KeyNotVouched)), "{sent:?}");
    assert!(gw.is_empty(oldest.mailbox_id(), app.client_id()).await);
}

/// 404 → `MailboxNotFound`: a cancelled mailbox, for the app and the phone; an unknown one.
async fn cancelled_and_unknown_mailboxes(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    let pending = within("open", app.open_mailbox(None)).await.unwrap();
    let mailbox_id = pending.mailbox_id().to_owned();
    let uri = pending.uri();

    within("cancel", app.cancel(&mailbox_id))
        .await
        .expect("the app cancels its mailbox");
    let twice = within("cancel", app.cancel(&mailbox_id)).await;
    assert!(matches!(twice, Err(Error::MailboxNotFound)), "{twice:?}");

    let token = issuer()
        .sign_id_token("alice", app.client_id(), pending.nonce())
        .unwrap();
    let sent = within("send", Phone::new().unwrap().send(&uri, token.as_bytes())).await;
    assert!(matches!(sent, Err(Error::MailboxNotFound)), "{sent:?}");

    let waited = within("wait", app.wait_for_mailbox(&mailbox_id, now_secs() + 60)).await;
    assert!(matches!(waited, Err(Error::MailboxNotFound)), "{waited:?}");

    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    let waited = within("wait", app.wait_for_mailbox(unknown, now_secs() + 60)).await;
    assert!(matches!(waited, Err(Error::MailboxNotFound)), "{waited:?}");
    let cancelled = within("cancel", app.cancel(unknown)).await;
    assert!(
        matches!(cancelled, Err(Error::MailboxNotFound)),
        "{cancelled:?}"
    );
}

/// 409 → `MailboxConflict`: a second, different token for a mailbox that holds one; the app
/// still receives the first.
async fn conflicting_deposit(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    let issuer = issuer();
    let phone = Phone::new().unwrap();
    let pending = within("open", app.open_mailbox(None)).await.unwrap();
    let uri = pending.uri();
    let first = issuer
        .sign_id_token("first", app.client_id(), pending.nonce())
        .unwrap();
    let second = issuer
        .sign_id_token("second", app.client_id(), pending.nonce())
        .unwrap();

    let sent = within("send", phone.send(&uri, first.as_bytes())).await;
    assert_eq!(sent.unwrap(), Deposited::Stored);
    let conflict = within("send", phone.send(&uri, second.as_bytes())).await;
    assert!(
        matches!(conflict, Err(Error::MailboxConflict)),
        "{conflict:?}"
    );
    // The same token sealed again is a different envelope (fresh HPKE encapsulation).
    let resealed = within("send", phone.send(&uri, first.as_bytes())).await;
    assert!(
        matches!(resealed, Err(Error::MailboxConflict)),
        "{resealed:?}"
    );

    let received = within("wait", app.wait_for_token(pending)).await.unwrap();
    assert_eq!(received.as_str(), first);
}

/// 401 → `Unauthorized`, for every authenticated call of the app.
async fn wrong_secret(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    let pending = within("open", app.open_mailbox(None)).await.unwrap();
    let impostor = AppClient::from_credentials(
        HttpClient::new().unwrap(),
        &gw.url(),
        app.client_id(),
        "not-the-secret",
        vec![PrivateKey::generate(Algorithm::Hpke4)],
    )
    .unwrap();
    let opened = within("open", impostor.open_mailbox(None)).await;
    assert!(matches!(opened, Err(Error::Unauthorized)), "{opened:?}");
    let waited = within(
        "wait",
        impostor.wait_for_mailbox(pending.mailbox_id(), pending.expires_at()),
    )
    .await;
    assert!(matches!(waited, Err(Error::Unauthorized)), "{waited:?}");
    let cancelled = within("cancel", impostor.cancel(pending.mailbox_id())).await;
    assert!(
        matches!(cancelled, Err(Error::Unauthorized)),
        "{cancelled:?}"
    );
    let mut impostor = impostor;
    let rotated = within(
        "rotate",
        impostor.rotate_keys(PrivateKey::generate(Algorithm::Hpke4)),
    )
    .await;
    assert!(matches!(rotated, Err(Error::Unauthorized)), "{rotated:?}");
    let deleted = within("delete", impostor.delete()).await;
    assert!(matches!(deleted, Err(Error::Unauthorized)), "{deleted:?}");

    // The real app is untouched.
    assert!(gw.is_empty(pending.mailbox_id(), app.client_id()).await);
    within("cancel", app.cancel(pending.mailbox_id()))
        .await
        .expect("the real app still works");
}

/// A deleted client: its credentials are refused and the phone finds no key to seal to.
async fn deleted_client(backend: Backend) {
    let gw = Gw::start(&backend).await;
    let app = register(&gw.url()).await;
    let pending = within("open", app.open_mailbox(None)).await.unwrap();
    let (client_id, secret) = (app.client_id().to_owned(), app.client_secret().to_owned());
    within("delete", app.delete())
        .await
        .expect("the app deletes itself");

    let token = issuer()
        .sign_id_token("alice", &client_id, pending.nonce())
        .unwrap();
    let sent = within(
        "send",
        Phone::new().unwrap().send(&pending.uri(), token.as_bytes()),
    )
    .await;
    assert!(sent.is_err(), "a deleted client gets no token: {sent:?}");

    let again = AppClient::from_credentials(
        HttpClient::new().unwrap(),
        &gw.url(),
        &client_id,
        &secret,
        vec![PrivateKey::generate(Algorithm::Hpke4)],
    )
    .unwrap();
    let opened = within("open", again.open_mailbox(None)).await;
    assert!(matches!(opened, Err(Error::Unauthorized)), "{opened:?}");
}

/// Redis: the app opens and waits on one gateway instance, the phone deposits through another
/// (the sign-in request names it), and the wake-up crosses instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_app_and_phone_on_two_instances() {
    let Some(backend) = Backend::redis().await else {
        return;
    };
    let phone_side = Gw::start(&backend).await;
    let app_side = Gw::start_with(&backend, Some(phone_side.url())).await;
    let app = register(&app_side.url()).await;
    let issuer = issuer();
    let pending = within("open", app.open_mailbox(Some(Duration::from_secs(60))))
        .await
        .unwrap();
    assert_eq!(pending.request().gateway(), phone_side.url());
    let uri = pending.uri();
    let nonce = pending.nonce().to_owned();
    let token = issuer
        .sign_id_token("carol", app.client_id(), &nonce)
        .unwrap();
    let phone = Phone::new().unwrap();
    let (received, sent) = within("a sign-in across instances", async {
        tokio::join!(app.wait_for_token(pending), async {
            app_side.wait_for_a_waiter().await;
            phone.send(&uri, token.as_bytes()).await
        })
    })
    .await;
    assert_eq!(sent.unwrap(), Deposited::Stored);
    assert_eq!(phone_side.waiters(), 0);
    let received = received.expect("the wake-up crosses instances");
    assert_eq!(received.as_str(), token);
    verify_id_token(
        received.as_str(),
        &issuer_keys(&issuer),
        &expected(app.client_id(), &nonce),
    )
    .unwrap();
    within("delete", app.delete()).await.unwrap();
}
