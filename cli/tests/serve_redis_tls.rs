//! The `sealgate` binary on a Redis it reaches over TLS with a password: `serve` becomes
//! ready, and its log names the host, never the password.

use std::time::{Duration, Instant};

use http::StatusCode;

use sealgate_testkit::{RedisServer, free_port};

/// `sealgate serve --store rediss://:PASSWORD@127.0.0.1:PORT/` against a TLS-only, password-
/// protected Redis whose certificate comes from a private CA (trusted through SSL_CERT_FILE):
/// the gateway becomes ready, and its log names the host, never the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reaches_redis_over_tls_with_a_password() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &Issuer::new(ca_params, &ca_key))
        .unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(path("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();

    let tls_port = free_port();
    let _redis = RedisServer::start_with(&[
        "--requirepass",
        "hunter2-secret",
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &path("server.pem"),
        "--tls-key-file",
        &path("server.key"),
        "--tls-ca-cert-file",
        &path("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let (api, metrics) = (free_port(), free_port());
    let log = std::fs::File::create(path("sealgate.log")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["serve", "--listen", &format!("127.0.0.1:{api}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .env(
            "SEALGATE_STORE",
            format!("rediss://:hunter2-secret@127.0.0.1:{tls_port}/"),
        )
        .env("SEALGATE_REDIS_PREFIX", "tls:")
        .env("SEALGATE_LOG", "debug")
        .env("SSL_CERT_FILE", path("ca.pem"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("sealgate starts");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);

    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "sealgate exited ({status}): {}",
                std::fs::read_to_string(path("sealgate.log")).unwrap()
            );
        }
        let uri = format!("http://127.0.0.1:{api}/readyz").parse().unwrap();
        if let Ok(response) = http.get(uri).await
            && response.status() == StatusCode::OK
        {
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap();
            break body.to_bytes();
        }
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            std::fs::read_to_string(path("sealgate.log")).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["store"],
        "redis"
    );
    drop(child);
    let log = std::fs::read_to_string(path("sealgate.log")).unwrap();
    assert!(log.contains(&format!("127.0.0.1:{tls_port}")), "{log}");
    assert!(
        !log.contains("hunter2"),
        "the password reached the log: {log}"
    );
}
