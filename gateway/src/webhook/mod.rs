//! Webhook delivery: each envelope deposited for a client with a webhook URL is POSTed to it,
//! signed as Standard Webhooks says, retried with backoff until the mailbox expires, and
//! recorded in the store so that another instance takes over the deliveries of one that dies.
//!
//! Exactly-once consumption with a poller in the race: an attempt first *leases* the envelope
//! in the store (a poll meanwhile sees it pending); a 2xx consumes it, anything else releases
//! it and wakes the pollers. Whichever of a poll or a webhook gets the envelope first wins.

pub(crate) mod address;
pub(crate) mod breaker;
pub(crate) mod endpoints;
pub(crate) mod schedule;
pub(crate) mod sender;
pub(crate) mod ssrf;
pub(crate) mod worker;

/// The `webhook-id` of a mailbox's delivery: derived from the mailbox id, so that every
/// attempt, on every instance, and a re-enqueue after a retried deposit all carry the same id.
pub(crate) fn delivery_id(mailbox_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("sealgate webhook {mailbox_id}").as_bytes());
    format!("msg_{}", sealgate_crypto::base64url::encode(&digest[..18]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_stable_per_mailbox() {
        assert_eq!(delivery_id("a"), delivery_id("a"));
        assert_ne!(delivery_id("a"), delivery_id("b"));
        assert!(delivery_id("a").starts_with("msg_"));
    }
}
