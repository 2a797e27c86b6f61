//! Key and channel names. Every name starts with the deployment's prefix; every name that
//! belongs to one mailbox carries that mailbox's hash tag, so that a cluster keeps a mailbox's
//! key and its wake-up channel on one slot.
//!
//! Mailbox ids are capabilities (whoever knows one may deposit), so they never appear in Redis:
//! names carry a tag derived from the id by SHA-256 instead. A reader of the keyspace, a
//! backup, `MONITOR` or `PUBSUB SHARDCHANNELS` learns no id it could deposit to.

use sealgate_crypto::base64url;
use sha2::{Digest as _, Sha256};

/// Domain separation for the mailbox tag.
const TAG_CONTEXT: &[u8] = b"sealgate/redis/mailbox-tag/v1\0";
/// Domain separation for the device tag, so that no device tag is ever a mailbox's.
const DEVICE_TAG_CONTEXT: &[u8] = b"sealgate/redis/device-tag/v1\0";

/// The names of everything the Redis backend keeps, under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Names under `prefix`; refuses a prefix that would break hash tags.
    pub(crate) fn new(prefix: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !prefix.contains(['{', '}']),
            "the Redis prefix must not contain `{{` or `}}`: they would change the keys' hash slot"
        );
        anyhow::ensure!(
            prefix.len() <= 64 && !prefix.chars().any(char::is_whitespace),
            "the Redis prefix must be at most 64 characters, without spaces"
        );
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The mailbox's hash: `client`, `exp`, then `env` and `dig` once deposited.
    pub(crate) fn mailbox(&self, tag: &str) -> String {
        format!("{}mbx:{{{tag}}}", self.prefix)
    }

    /// The webhook deliveries' due set (score: next attempt, ms). Both delivery keys share the
    /// hash tag `{deliveries}`, so the queue scripts run on one shard.
    pub(crate) fn delivery_due(&self) -> String {
        format!("{}deliveries:{{deliveries}}:due", self.prefix)
    }

    /// The webhook deliveries' records: delivery id → JSON.
    pub(crate) fn delivery_records(&self) -> String {
        format!("{}deliveries:{{deliveries}}:records", self.prefix)
    }

    /// A client's registration, JSON, no TTL.
    pub(crate) fn client(&self, client_id: &str) -> String {
        format!("{}client:{{{client_id}}}", self.prefix)
    }

    /// How many clients are registered: a counter, no TTL.
    pub(crate) fn client_count(&self) -> String {
        format!("{}clients:count", self.prefix)
    }

    /// The tags of a client's open mailboxes, scored by expiry (ms).
    pub(crate) fn open_set(&self, client_id: &str) -> String {
        format!("{}client:{{{client_id}}}:open", self.prefix)
    }

    /// A device registration's hash: `client`, `ep`, `p256dh`, `auth`, `sec`, `exp`.
    pub(crate) fn device(&self, tag: &str) -> String {
        format!("{}dev:{{{tag}}}", self.prefix)
    }

    /// The index of device registrations: tag scored by expiry (ms), for the global cap.
    pub(crate) fn device_index(&self) -> String {
        format!("{}devices:{{devices}}:live", self.prefix)
    }

    /// The VAPID private key every instance signs pushes with (`SET NX` at first start).
    pub(crate) fn vapid_key(&self) -> String {
        format!("{}push:vapid", self.prefix)
    }

    /// The one wake-up channel of a single node; messages carry the mailbox tag.
    pub(crate) fn wake_channel(&self) -> String {
        format!("{}wake", self.prefix)
    }

    /// Where a client's change or deletion is announced (single node); messages carry its id.
    pub(crate) fn client_changes_channel(&self) -> String {
        format!("{}clients:changed", self.prefix)
    }

    /// The same on a cluster: a sharded channel, on the slot of `{clients}`.
    pub(crate) fn shard_client_changes_channel(&self) -> String {
        format!("{}clients:changed:{{clients}}", self.prefix)
    }

    /// The sharded wake-up channel of one mailbox (cluster): same slot as its key.
    pub(crate) fn shard_wake_channel(&self, tag: &str) -> String {
        format!("{}wake:{{{tag}}}", self.prefix)
    }

    /// The tag inside a sharded wake-up channel name, if it is one of ours.
    pub(crate) fn tag_of_shard_channel<'a>(&self, channel: &'a [u8]) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.prefix.as_bytes())?;
        let rest = rest.strip_prefix(b"wake:{")?.strip_suffix(b"}")?;
        std::str::from_utf8(rest).ok()
    }
}

/// Whether `client_id` can name a key: the gateway's ids are base64url; anything else (a
/// client id typed into Basic auth, say) names no client and is never put into a key name.
pub(crate) fn is_plain_id(client_id: &str) -> bool {
    (1..=128).contains(&client_id.len())
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The tag that stands for `mailbox_id` in key and channel names: 128 bits of
/// SHA-256(context ‖ id), base64url (22 characters, never a brace).
pub(crate) fn mailbox_tag(mailbox_id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(TAG_CONTEXT);
    hash.update(mailbox_id.as_bytes());
    base64url::encode(&hash.finalize()[..16])
}

/// The tag that stands for a device handle in key names, as [`mailbox_tag`] for mailboxes:
/// the handle is what lets a client notify the device, so it never appears in Redis.
pub(crate) fn device_tag(handle: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(DEVICE_TAG_CONTEXT);
    hash.update(handle.as_bytes());
    base64url::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_the_mailbox_hash_tag() {
        let keys = Keys::new("sg:").unwrap();
        let tag = mailbox_tag("abc");
        assert_eq!(tag.len(), 22);
        assert!(!tag.contains("abc"));
        assert_eq!(keys.mailbox(&tag), format!("sg:mbx:{{{tag}}}"));
        assert_eq!(keys.shard_wake_channel(&tag), format!("sg:wake:{{{tag}}}"));
        assert_eq!(keys.client("c1"), "sg:client:{c1}");
        assert_eq!(keys.open_set("c1"), "sg:client:{c1}:open");
        let channel = keys.shard_wake_channel(&tag);
        assert_eq!(
            keys.tag_of_shard_channel(channel.as_bytes()),
            Some(tag.as_str())
        );
        assert_eq!(keys.tag_of_shard_channel(b"other:wake:{x}"), None);
    }

    #[test]
    fn the_tag_is_stable_and_distinct() {
        assert_eq!(mailbox_tag("m1"), mailbox_tag("m1"));
        assert_ne!(mailbox_tag("m1"), mailbox_tag("m2"));
        assert_ne!(device_tag("m1"), mailbox_tag("m1"));
        assert_eq!(device_tag("dh_x").len(), 22);
    }

    #[test]
    fn only_base64url_client_ids_name_keys() {
        assert!(is_plain_id("AbC-_09"));
        assert!(!is_plain_id(""));
        assert!(!is_plain_id("x}:open"));
        assert!(!is_plain_id("a b"));
        assert!(!is_plain_id(&"a".repeat(129)));
    }

    #[test]
    fn a_prefix_with_braces_is_refused() {
        assert!(Keys::new("a{b}").is_err());
        assert!(Keys::new("a b").is_err());
        assert!(Keys::new("").is_ok());
    }
}
