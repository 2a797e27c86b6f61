use sealgate_crypto::*;
#[test]
fn generate() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/");
    let key = PrivateKey::from_secret_bytes([0x5e; 32], Algorithm::Hpke4);
    for alg in Algorithm::ALL {
        let public = PublicKey::from_bytes(*key.public_key().as_bytes(), alg);
        let binding = Binding::to_mailbox("Zm9vYmFyYmF6cXV4cXV1eA", "bWFpbGJveC1pZC0xMjM0NQ", 1_900_000_000);
        let env = seal(&public, b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln", &SealOptions::for_token(binding)).unwrap();
        std::fs::write(format!("{dir}envelope_parse/sealed-{}", alg.as_str().to_lowercase()), env.as_str()).unwrap();
    }
    let minimal = seal(key.public_key(), b"", &SealOptions::default()).unwrap();
    std::fs::write(format!("{dir}envelope_parse/sealed-minimal"), minimal.as_str()).unwrap();
    std::fs::write(format!("{dir}jwk_parse/private-jwk.json"), key.to_jwk_json().as_str()).unwrap();
    std::fs::write(format!("{dir}jwk_parse/public-jwk.json"), key.public_key().to_jwk().to_string()).unwrap();
    let other = PrivateKey::from_secret_bytes([0x5f; 32], Algorithm::Hpke3);
    let set = Jwks::new(vec![key.public_key().clone(), other.public_key().clone()]).unwrap();
    std::fs::write(format!("{dir}jwk_parse/jwks.json"), set.to_value().to_string()).unwrap();
    let req = SignInRequest::new("https://gw.example.com", "Zm9vYmFyYmF6cXV4cXV1eA", "bWFpbGJveC1pZC0xMjM0NQ", key.public_key().thumbprint(), 1_900_000_000, "n-0S6_WzA2Mj").unwrap();
    std::fs::write(format!("{dir}signin_parse/signin-request"), req.to_uri()).unwrap();
}
