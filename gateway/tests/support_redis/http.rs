//! A gateway on a Redis store, driven over real sockets with the test kit: register, open,
//! deposit, poll, by app and mailbox.

use http::StatusCode;
use sealgate::Gateway;
use sealgate_crypto::{Binding, PrivateKey};
use sealgate_testkit::api::expires_at_secs;
use sealgate_testkit::{Reply, TestGateway, fake_id_token, seal_with, test_config};

/// A gateway instance on a Redis store.
pub struct Node {
    api: TestGateway,
}

/// A registered client.
pub struct App {
    pub id: String,
    pub basic: String,
    pub key: PrivateKey,
}

/// An open mailbox.
pub struct Mailbox {
    pub id: String,
    pub exp: u64,
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
    pub async fn register(&self) -> App {
        let client = self.api.register().await;
        App {
            basic: client.basic(),
            id: client.id,
            key: client.key,
        }
    }

    /// Opens a mailbox for `app`, answering the raw reply.
    pub async fn try_open(&self, app: &App) -> Reply {
        self.api.open_raw(Some(&app.basic), None).await
    }

    /// Opens a mailbox for `app`.
    pub async fn open(&self, app: &App) -> Mailbox {
        let reply = self.try_open(app).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        let body = reply.json();
        Mailbox {
            id: body["mailbox_id"].as_str().unwrap().to_owned(),
            exp: expires_at_secs(&body),
        }
    }

    /// `PUT /v1/mailboxes/{id}`.
    pub async fn deposit(&self, mailbox: &Mailbox, envelope: &str) -> Reply {
        self.api.deposit(&mailbox.id, envelope).await
    }

    /// `GET /v1/mailboxes/{id}?wait=N`.
    pub async fn poll(&self, app: &App, mailbox: &Mailbox, wait: u64) -> Reply {
        self.api.poll(&app.basic, &mailbox.id, wait).await
    }

    /// The number of long-polls waiting in this gateway.
    pub fn waiting(&self) -> i64 {
        self.api.gateway.app().metrics.longpoll_waiters.get()
    }
}

/// An envelope for `mailbox` with a fresh stand-in token, sealed to `app`'s key.
pub fn seal_for(app: &App, mailbox: &Mailbox) -> String {
    let binding = Binding::to_mailbox(&app.id, &mailbox.id, mailbox.exp);
    seal_with(&app.key, binding, fake_id_token().as_bytes())
}
