//! The claims the bridge issues: `sub` namespaced by the phone token's issuer, and the
//! claims each granted scope asks for (OpenID Connect Core §5.4), copied only from the
//! verified phone token.

use serde_json::{Map, Value, json};

use crate::subject::namespaced_subject;
use sealgate_client::IdTokenClaims;

/// The scopes the bridge understands, and the claims each releases.
pub const SCOPES: [(&str, &[&str]); 5] = [
    ("openid", &[]),
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Every claim the bridge can release (for the discovery document).
pub fn supported_claims() -> Vec<&'static str> {
    let mut claims = vec!["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce"];
    for (_, released) in SCOPES {
        claims.extend_from_slice(released);
    }
    claims
}

/// The user's claims for a website that was granted `scope`: the namespaced `sub`, then each
/// scoped claim the phone token carries.
pub fn user_claims(phone: &IdTokenClaims, scope: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert(
        "sub".into(),
        json!(namespaced_subject(&phone.iss, &phone.sub)),
    );
    for (name, released) in SCOPES {
        if !scope.iter().any(|s| s == name) {
            continue;
        }
        for claim in released {
            if let Some(value) = phone.other.get(*claim) {
                claims.insert((*claim).to_owned(), value.clone());
            }
        }
    }
    claims
}

/// The ID token's claims: the user's, and `iss`, `aud`, `nonce`, `auth_time`, `iat`, `exp`.
pub fn id_token_claims(
    user: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    nonce: Option<&str>,
    auth_time: u64,
    now: u64,
    lifetime_secs: u64,
) -> Value {
    let mut claims = user.clone();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!(audience));
    claims.insert("auth_time".into(), json!(auth_time));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + lifetime_secs));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    Value::Object(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone() -> IdTokenClaims {
        serde_json::from_value(json!({
            "iss": "https://id.example", "sub": "alice", "aud": "gw", "exp": 2, "iat": 1,
            "nonce": "phone-nonce", "name": "Alice", "email": "a@example.com",
            "email_verified": true, "phone_number": "+1", "secret_claim": "x",
        }))
        .unwrap()
    }

    #[test]
    fn only_granted_scopes_release_claims() {
        let scope = ["openid".to_owned(), "email".to_owned()];
        let claims = user_claims(&phone(), &scope);
        assert_eq!(claims["email"], json!("a@example.com"));
        assert_eq!(claims["email_verified"], json!(true));
        assert!(!claims.contains_key("name"));
        assert!(!claims.contains_key("phone_number"));
        assert!(!claims.contains_key("secret_claim"));
        assert_eq!(
            claims["sub"],
            json!(namespaced_subject("https://id.example", "alice"))
        );
    }

    #[test]
    fn id_token_claims_are_the_bridges_own() {
        let user = user_claims(&phone(), &["openid".into(), "profile".into()]);
        let token = id_token_claims(&user, "https://bridge", "site", Some("n"), 5, 10, 300);
        assert_eq!(token["iss"], json!("https://bridge"));
        assert_eq!(token["aud"], json!("site"));
        assert_eq!(token["nonce"], json!("n"));
        assert_eq!(token["exp"], json!(310));
        assert_eq!(token["name"], json!("Alice"));
        let without = id_token_claims(&user, "https://bridge", "site", None, 5, 10, 300);
        assert!(without.get("nonce").is_none());
    }
}
