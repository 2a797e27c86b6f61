//! A gateway on a Redis store, driven over real sockets with the test kit: register, open,
//! deposit, poll, by app and mailbox.

use sealgate::Gateway;
use sealgate_testkit::{Reply, TestClient, TestGateway, TestMailbox, fake_id_token, test_config};

/// A gateway instance on a Redis store.
pub struct Node {
    api: TestGateway,
}

impl Node {
    /// A gateway on `store` (a Redis URL) under `prefix`, listening on loopback port 0, with
    /// the rate limits off (the tests send bursts from one address).
    pub async fn start(store: &str, prefix: &str) -> Self {
        let mut config = test_config();
        config.store = store.to_owned();
        config.redis_prefix = prefix.to_owned();
        config.limits.deposits_per_ip_per_sec = 0;
        config.limits.mailboxes_per_client_per_sec = 0;
        config.limits.max_waiters_per_client = 10_000;
        config.limits.shutdown_grace_secs = 1;
        let gateway = Gateway::start(config).await.expect("the gateway starts");
        Self {
            api: TestGateway::attach(gateway),
        }
    }

    /// Stops the gateway gracefully.
    pub async fn shutdown(self) {
        self.api.gateway.shutdown().await;
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.api.get(path).await
    }

    /// Registers a client with a fresh key.
    pub async fn register(&self) -> TestClient {
        self.api.register().await
    }

    /// Opens a mailbox for `app`, answering the raw reply.
    pub async fn try_open(&self, app: &TestClient) -> Reply {
        self.api.open_raw(Some(&app.basic()), None).await
    }

    /// Opens a mailbox for `app` with the server's default lifetime.
    pub async fn open(&self, app: &TestClient) -> TestMailbox {
        self.api.open(app, None).await
    }

    /// `PUT /v1/mailboxes/{id}`.
    pub async fn deposit(&self, mailbox: &TestMailbox, envelope: &str) -> Reply {
        self.api.deposit(&mailbox.id, envelope).await
    }

    /// `GET /v1/mailboxes/{id}?wait=N`.
    pub async fn poll(&self, app: &TestClient, mailbox: &TestMailbox, wait: u64) -> Reply {
        self.api.poll(&app.basic(), &mailbox.id, wait).await
    }

    /// `PUT /v1/clients/{id}/jwks` with `jwks` (a JWK Set JSON value).
    pub async fn rotate_jwks(&self, app: &TestClient, jwks: &serde_json::Value) -> Reply {
        let path = format!("/v1/clients/{}/jwks", app.id);
        let body = ("application/json", jwks.to_string().into_bytes());
        self.api
            .call(http::Method::PUT, &path, Some(&app.basic()), Some(body))
            .await
    }

    /// `DELETE /v1/clients/{id}`.
    pub async fn delete_client(&self, app: &TestClient) -> Reply {
        let path = format!("/v1/clients/{}", app.id);
        self.api.delete(&app.basic(), &path).await
    }

    /// The number of long-polls waiting in this gateway.
    pub fn waiting(&self) -> i64 {
        self.api.gateway.waiting_polls()
    }
}

/// An envelope for `mailbox` with a fresh stand-in token, sealed to `app`'s key.
pub fn seal_for(app: &TestClient, mailbox: &TestMailbox) -> String {
    sealgate_testkit::seal_for(app, mailbox, fake_id_token().as_bytes())
}
