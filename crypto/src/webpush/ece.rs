//! RFC 8291 message encryption: the key schedule, and one RFC 8188 `aes128gcm` record.

use aes_gcm::aead::Aead as _;
use aes_gcm::{Aes128Gcm, Nonce};
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::Generate as _;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::WebPushError;
use super::keys::{
    AUTH_SECRET_LEN, PUBLIC_KEY_LEN, PushPrivateKey, PushSubscriptionKeys, encode_public_key,
    parse_public_key, parse_secret_key,
};

/// The record size every body declares: the only record holds at most this many octets.
pub const RECORD_SIZE: u32 = 4096;

/// Octets of the salt at the start of the header.
pub const SALT_LEN: usize = 16;

/// Octets of the header: salt (16), `rs` (4), `idlen` (1), and the key id, the application
/// server's 65-octet public key.
pub const HEADER_LEN: usize = SALT_LEN + 4 + 1 + PUBLIC_KEY_LEN;

/// Octets of the AES-GCM tag at the end of the record.
pub const TAG_LEN: usize = 16;

/// The most plaintext one record of [`RECORD_SIZE`] holds: 4096 less the tag and the
/// delimiter.
pub const MAX_PLAINTEXT_LEN: usize = RECORD_SIZE as usize - TAG_LEN - 1;

/// The most plaintext a push service accepts in practice: push services cap the whole body at
/// 4096 octets (FCM: 4 KB), so 4096 less the header, the delimiter and the tag. [`encrypt`]
/// lets bodies up to [`MAX_PLAINTEXT_LEN`] through; keep messages within this one.
pub const PUSH_SERVICE_PLAINTEXT_LIMIT: usize = 4096 - HEADER_LEN - 1 - TAG_LEN;

/// The smallest `rs` RFC 8188 allows: a tag and at least one octet of content.
const MIN_RECORD_SIZE: u32 = TAG_LEN as u32 + 2;

/// The last-record padding delimiter (RFC 8188 §2).
const LAST_RECORD_DELIMITER: u8 = 0x02;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA-256 of the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The content-encryption key and nonce of RFC 8291 §3.3–3.4 and RFC 8188 §2.2–2.3.
struct RecordKey {
    cek: Zeroizing<[u8; 16]>,
    nonce: [u8; 12],
}

fn derive_record_key(
    ecdh_secret: &[u8],
    auth_secret: &[u8; AUTH_SECRET_LEN],
    ua_public: &[u8; PUBLIC_KEY_LEN],
    as_public: &[u8; PUBLIC_KEY_LEN],
    salt: &[u8; SALT_LEN],
) -> RecordKey {
    // RFC 8291 §3.3: PRK_key = HMAC(auth_secret, ecdh_secret);
    // IKM = HMAC(PRK_key, "WebPush: info" ‖ 0x00 ‖ ua_public ‖ as_public ‖ 0x01).
    let prk_key = hmac_sha256(auth_secret, &[ecdh_secret]);
    let ikm = hmac_sha256(
        &*prk_key,
        &[b"WebPush: info\x00", ua_public, as_public, &[0x01]],
    );
    // RFC 8188 §2.2–2.3: PRK = HMAC(salt, IKM); CEK and NONCE expanded from it (one block).
    let prk = hmac_sha256(salt, &[&*ikm]);
    let cek_block = hmac_sha256(&*prk, &[b"Content-Encoding: aes128gcm\x00\x01"]);
    let nonce_block = hmac_sha256(&*prk, &[b"Content-Encoding: nonce\x00\x01"]);
    let mut cek = Zeroizing::new([0u8; 16]);
    cek.copy_from_slice(&cek_block[..16]);
    let mut nonce = [0u8; 12];
    // Record sequence number 0: the nonce is NONCE XOR 0, NONCE itself.
    nonce.copy_from_slice(&nonce_block[..12]);
    RecordKey { cek, nonce }
}

fn ecdh(secret: &SecretKey, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(shared.raw_secret_bytes());
    out
}

fn cipher(key: &RecordKey) -> Aes128Gcm {
    Aes128Gcm::new_from_slice(&*key.cek).expect("a 16-octet AES-128 key")
}

/// Encrypts `plaintext` to a push subscription as one `aes128gcm` record (RFC 8291), with a
/// fresh ephemeral P-256 key and a random 16-octet salt: the body of the push message.
///
/// `padding_to`, when given, pads the plaintext with zeros to that many octets, so that every
/// message up to that length gives a body of the same length; it must be at least the
/// plaintext's length. The plaintext (or the padded length) may be at most
/// [`MAX_PLAINTEXT_LEN`]; push services take at most [`PUSH_SERVICE_PLAINTEXT_LIMIT`].
pub fn encrypt(
    subscription: &PushSubscriptionKeys,
    plaintext: &[u8],
    padding_to: Option<usize>,
) -> Result<Vec<u8>, WebPushError> {
    let ephemeral = SecretKey::generate_from_rng(&mut crate::rng::system_rng());
    let salt = crate::random_bytes::<SALT_LEN>();
    encrypt_with_key(subscription, plaintext, padding_to, &ephemeral, &salt)
}

/// [`encrypt`] with the application server's private key (32 big-endian octets) and the salt
/// given rather than fresh: for known-answer tests (RFC 8291 §5) only. Reusing a key and salt
/// for two messages reuses the AES-GCM key and nonce, which breaks the encryption.
pub fn encrypt_with(
    subscription: &PushSubscriptionKeys,
    plaintext: &[u8],
    padding_to: Option<usize>,
    as_private_key_bytes: &[u8; 32],
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, WebPushError> {
    let secret = parse_secret_key(as_private_key_bytes)?;
    encrypt_with_key(subscription, plaintext, padding_to, &secret, salt)
}

fn encrypt_with_key(
    subscription: &PushSubscriptionKeys,
    plaintext: &[u8],
    padding_to: Option<usize>,
    as_secret: &SecretKey,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, WebPushError> {
    let padded_len = match padding_to {
        Some(padding_to) if padding_to < plaintext.len() => {
            return Err(WebPushError::PaddingTooShort {
                padding_to,
                len: plaintext.len(),
            });
        }
        Some(padding_to) => padding_to,
        None => plaintext.len(),
    };
    if padded_len > MAX_PLAINTEXT_LEN {
        return Err(WebPushError::PlaintextTooLong {
            len: padded_len,
            max: MAX_PLAINTEXT_LEN,
        });
    }

    let as_public = encode_public_key(&as_secret.public_key());
    let shared = ecdh(as_secret, subscription.public());
    let key = derive_record_key(
        &*shared,
        subscription.auth(),
        subscription.p256dh(),
        &as_public,
        salt,
    );

    // plaintext ‖ 0x02 ‖ zeros.
    let mut content = Zeroizing::new(Vec::with_capacity(padded_len + 1));
    content.extend_from_slice(plaintext);
    content.push(LAST_RECORD_DELIMITER);
    content.resize(padded_len + 1, 0);
    let record = cipher(&key)
        .encrypt(&Nonce::from(key.nonce), content.as_slice())
        .map_err(|_| WebPushError::PlaintextTooLong {
            len: padded_len,
            max: MAX_PLAINTEXT_LEN,
        })?;

    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// Decrypts a push message body (the user agent's side) with the subscription's private key
/// and auth secret.
///
/// The body must be exactly one `aes128gcm` record: a header with `idlen` 65 and a key id that
/// is an uncompressed P-256 point, `rs` at least 18, a record no longer than `rs` (anything
/// more is a second record or trailing data, refused), and a plaintext that ends in the
/// last-record delimiter `0x02` followed only by zeros.
pub fn decrypt(
    ua_private: &PushPrivateKey,
    auth_secret: &[u8; AUTH_SECRET_LEN],
    body: &[u8],
) -> Result<Vec<u8>, WebPushError> {
    if body.len() < SALT_LEN + 5 {
        return Err(WebPushError::MalformedHeader(
            "shorter than salt, rs and idlen",
        ));
    }
    let (salt, rest) = body.split_at(SALT_LEN);
    let salt: &[u8; SALT_LEN] = salt.try_into().expect("split at SALT_LEN");
    let rs = u32::from_be_bytes(rest[..4].try_into().expect("four octets"));
    let idlen = rest[4] as usize;
    if idlen != PUBLIC_KEY_LEN {
        return Err(WebPushError::MalformedHeader(
            "idlen is not 65 (an uncompressed P-256 key)",
        ));
    }
    if rs < MIN_RECORD_SIZE {
        return Err(WebPushError::MalformedHeader("rs is less than 18"));
    }
    let rest = &rest[5..];
    if rest.len() < PUBLIC_KEY_LEN {
        return Err(WebPushError::MalformedHeader("the key id is truncated"));
    }
    let (key_id, record) = rest.split_at(PUBLIC_KEY_LEN);
    let as_public: &[u8; PUBLIC_KEY_LEN] = key_id.try_into().expect("split at PUBLIC_KEY_LEN");
    if record.len() < TAG_LEN + 1 {
        return Err(WebPushError::Truncated);
    }
    if record.len() > rs as usize {
        return Err(WebPushError::MultipleRecords);
    }
    let as_key = parse_public_key(as_public)
        .map_err(|_| WebPushError::MalformedHeader("the key id is not a P-256 point"))?;

    let shared = ecdh(ua_private.secret(), &as_key);
    let key = derive_record_key(
        &*shared,
        auth_secret,
        &ua_private.public_key(),
        as_public,
        salt,
    );
    let mut content = Zeroizing::new(
        cipher(&key)
            .decrypt(&Nonce::from(key.nonce), record)
            .map_err(|_| WebPushError::DecryptionFailed)?,
    );
    let delimiter_at = content
        .iter()
        .rposition(|&octet| octet != 0)
        .ok_or(WebPushError::BadDelimiter)?;
    if content[delimiter_at] != LAST_RECORD_DELIMITER {
        return Err(WebPushError::BadDelimiter);
    }
    content.truncate(delimiter_at);
    Ok(std::mem::take(&mut *content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_add_up() {
        assert_eq!(HEADER_LEN, 86);
        assert_eq!(MAX_PLAINTEXT_LEN, 4079);
        assert_eq!(PUSH_SERVICE_PLAINTEXT_LIMIT, 3993);
    }
}
