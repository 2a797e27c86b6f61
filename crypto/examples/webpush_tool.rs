//! A stdin/stdout JSON driver for the Web Push module, for the interoperability tests in
//! `interop/test_webpush.py`: one JSON request on stdin, one JSON answer on stdout, binary
//! values as base64url. On a refusal it prints the error to stderr and exits with 1.
//!
//! Requests (`op`):
//! - `keygen`: `{}` → `{"private_key", "p256dh"}` (a user agent's key)
//! - `encrypt`: `{"p256dh", "auth", "plaintext", "padding_to"?}` → `{"body"}`
//! - `decrypt`: `{"private_key", "auth", "body"}` → `{"plaintext"}`
//! - `vapid-keygen`: `{}` → `{"private_key", "pkcs8", "k"}`
//! - `vapid`: `{"private_key" | "pkcs8", "aud", "sub", "exp", "now"}` → `{"authorization"}`
//!
//! Run: `cargo run -q -p sealgate-crypto --example webpush_tool < request.json`

use std::io::Read as _;
use std::process::ExitCode;

use sealgate_crypto::base64url;
use sealgate_crypto::webpush::{self, PushPrivateKey, PushSubscriptionKeys, VapidKey};
use serde_json::{Value, json};

fn field<'a>(request: &'a Value, name: &str) -> Result<&'a str, String> {
    request[name]
        .as_str()
        .ok_or_else(|| format!("missing string `{name}`"))
}

fn bytes(request: &Value, name: &str) -> Result<Vec<u8>, String> {
    base64url::decode(field(request, name)?).map_err(|e| format!("`{name}`: {e}"))
}

fn array<const N: usize>(request: &Value, name: &str) -> Result<[u8; N], String> {
    base64url::decode_array(field(request, name)?).map_err(|e| format!("`{name}`: {e}"))
}

fn number(request: &Value, name: &str) -> Result<u64, String> {
    request[name]
        .as_u64()
        .ok_or_else(|| format!("missing number `{name}`"))
}

fn vapid_key(request: &Value) -> Result<VapidKey, String> {
    let key = if request.get("pkcs8").is_some() {
        VapidKey::from_pkcs8_der(&bytes(request, "pkcs8")?)
    } else {
        VapidKey::from_bytes(&array(request, "private_key")?)
    };
    key.map_err(|e| e.to_string())
}

fn run(request: &Value) -> Result<Value, String> {
    match field(request, "op")? {
        "keygen" => {
            let key = PushPrivateKey::generate();
            Ok(json!({"private_key": base64url::encode(*key.to_bytes()), "p256dh": key.p256dh()}))
        }
        "encrypt" => {
            let subscription = PushSubscriptionKeys::from_base64url(
                field(request, "p256dh")?,
                field(request, "auth")?,
            )
            .map_err(|e| e.to_string())?;
            let padding_to = request["padding_to"].as_u64().map(|n| n as usize);
            let body = webpush::encrypt(&subscription, &bytes(request, "plaintext")?, padding_to)
                .map_err(|e| e.to_string())?;
            Ok(json!({"body": base64url::encode(body)}))
        }
        "decrypt" => {
            let key = PushPrivateKey::from_bytes(&array(request, "private_key")?)
                .map_err(|e| e.to_string())?;
            let plaintext =
                webpush::decrypt(&key, &array(request, "auth")?, &bytes(request, "body")?)
                    .map_err(|e| e.to_string())?;
            Ok(json!({"plaintext": base64url::encode(plaintext)}))
        }
        "vapid-keygen" => {
            let key = VapidKey::generate();
            Ok(json!({
                "private_key": base64url::encode(*key.to_bytes()),
                "pkcs8": base64url::encode(&*key.to_pkcs8_der()),
                "k": key.public_key_base64url(),
            }))
        }
        "vapid" => {
            let authorization = vapid_key(request)?
                .authorization(
                    field(request, "aud")?,
                    field(request, "sub")?,
                    number(request, "exp")?,
                    number(request, "now")?,
                )
                .map_err(|e| e.to_string())?;
            Ok(json!({"authorization": authorization}))
        }
        other => Err(format!("unknown op `{other}`")),
    }
}

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("webpush_tool: reading stdin: {error}");
        return ExitCode::FAILURE;
    }
    let answer = serde_json::from_str::<Value>(&input)
        .map_err(|e| format!("the request is not JSON: {e}"))
        .and_then(|request| run(&request));
    match answer {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("webpush_tool: {error}");
            ExitCode::FAILURE
        }
    }
}
