//! Store records for tests that drive a `Store` directly: a client with a fresh key, and a
//! mailbox of it.

use std::time::Duration;

use bytes::Bytes;
use sealgate::clock::Clock;
use sealgate::store::{ClientRecord, Deposit, MailboxRecord};
use sealgate_crypto::{Algorithm, Jwks, PrivateKey, random_token};

/// A client record named `name`: a fresh id and secret hash, one fresh HPKE-4 key, revision 1.
pub fn client_record(name: &str) -> ClientRecord {
    let key = PrivateKey::generate(Algorithm::Hpke4).public_key().clone();
    ClientRecord {
        client_id: random_token::<16>(),
        name: name.to_owned(),
        secret_hash: random_token::<32>(),
        jwks: Jwks::new(vec![key]).expect("one key is a valid set"),
        created_at: 1_700_000_000,
        revision: 1,
        webhook: None,
    }
}

/// A mailbox of `client` with a fresh id, expiring `ttl` after `clock`'s now, allowing the
/// client's keys, without a webhook.
pub fn mailbox_record(client: &ClientRecord, clock: &dyn Clock, ttl: Duration) -> MailboxRecord {
    MailboxRecord {
        mailbox_id: random_token::<16>(),
        client_id: client.client_id.clone(),
        expires_at_ms: clock.now_ms() + u64::try_from(ttl.as_millis()).expect("a test TTL"),
        kids: MailboxRecord::key_ids(&client.jwks),
        webhook: false,
    }
}

/// A deposit into `mailbox` bound as a phone binds it: `aud` its client, `kid` its first key.
pub fn deposit_into(mailbox: &MailboxRecord, envelope: Bytes) -> Deposit<'_> {
    Deposit {
        mailbox_id: &mailbox.mailbox_id,
        aud: &mailbox.client_id,
        kid: mailbox.kids.first().map_or("", String::as_str),
        envelope,
    }
}
