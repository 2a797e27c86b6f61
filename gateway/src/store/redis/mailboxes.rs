//! Mailboxes on Redis: each operation is one script on the mailbox's key, and on a single node
//! the same script keeps the client's open set and the webhook queue, so that opening,
//! depositing and taking are one round trip each. On a cluster those indexes live on other
//! slots: opening is two calls (the open set, then the mailbox), taking and cancelling are
//! followed by the open set's ZREM, and a deposit that wants a webhook by its enqueue.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::Bytes;
use redis::Value;

use super::keys::mailbox_tag;
use super::{OPEN_SET_GRACE, RedisStore, Wake, scripts};
use crate::store::{
    Delivery, Deposit, DepositOutcome, EnvelopeDigest, MailboxRecord, MailboxStore, OpenOutcome,
    StoreError, TakeOutcome, Waiter,
};

/// An expiry no mailbox has, marking where the real one goes in a delivery record's JSON.
const EXPIRY_PLACEHOLDER: u64 = u64::MAX;

impl RedisStore {
    /// Whether scripts may touch keys beyond the mailbox's (a single node: no slots).
    pub(super) fn single_node(&self) -> bool {
        matches!(self.inner.wake, Wake::Single(_))
    }

    /// The delivery record a deposit into `mailbox_id` enqueues, as the JSON before and after
    /// its expiry: the script writes the mailbox's expiry between the two.
    fn delivery_json_around_expiry(
        mailbox_id: &str,
        client_id: &str,
        now_ms: u64,
    ) -> Result<(String, String), StoreError> {
        let draft = MailboxRecord {
            mailbox_id: mailbox_id.to_owned(),
            client_id: client_id.to_owned(),
            expires_at_ms: EXPIRY_PLACEHOLDER,
            kids: Vec::new(),
            webhook: true,
        };
        let json = serde_json::to_string(&Delivery::first(&draft, now_ms))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (before, after) = json
            .split_once(&format!("\"expires_at_ms\":{EXPIRY_PLACEHOLDER}"))
            .ok_or_else(|| StoreError::Corrupt("delivery record without its expiry".into()))?;
        Ok((format!("{before}\"expires_at_ms\":"), after.to_owned()))
    }

    /// Opens on a cluster: the open set on the client's slot, then the mailbox on its own.
    async fn open_in_two_steps(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
        tag: &str,
    ) -> Result<(i64, u64), StoreError> {
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let mut index = scripts::OPEN.key(keys.open_set(&mailbox.client_id));
        open_args(&mut index, "index", mailbox, max_open, tag, self.now());
        let (opened, pruned): (i64, u64) = self.call(index.invoke_async(&mut conn)).await?;
        if opened != 1 {
            return Ok((opened, pruned));
        }
        let mut create = scripts::OPEN.key(keys.mailbox(tag));
        open_args(&mut create, "create", mailbox, max_open, tag, self.now());
        let (created, _): (i64, u64) = self.call(create.invoke_async(&mut conn)).await?;
        Ok((created, pruned))
    }
}

/// The open script's arguments after its mode.
fn open_args(
    invocation: &mut redis::ScriptInvocation<'_>,
    mode: &str,
    mailbox: &MailboxRecord,
    max_open: usize,
    tag: &str,
    now_ms: u64,
) {
    invocation
        .arg(mode)
        .arg(now_ms)
        .arg(max_open as u64)
        .arg(tag)
        .arg(mailbox.expires_at_ms)
        .arg(OPEN_SET_GRACE.as_millis() as u64)
        .arg(&mailbox.client_id)
        .arg(mailbox.kids.join(" "))
        .arg(if mailbox.webhook { "1" } else { "0" });
}

#[async_trait]
impl MailboxStore for RedisStore {
    async fn open_mailbox(
        &self,
        mailbox: &MailboxRecord,
        max_open: usize,
    ) -> Result<OpenOutcome, StoreError> {
        if mailbox
            .kids
            .iter()
            .any(|kid| kid.is_empty() || kid.contains(' '))
        {
            return Err(StoreError::Corrupt(
                "a key id is empty or holds a space".into(),
            ));
        }
        let tag = mailbox_tag(&mailbox.mailbox_id);
        let (outcome, pruned) = if self.single_node() {
            let keys = &self.inner.keys;
            let mut conn = self.conn();
            let mut both = scripts::OPEN.key(keys.open_set(&mailbox.client_id));
            both.key(keys.mailbox(&tag));
            open_args(&mut both, "both", mailbox, max_open, &tag, self.now());
            self.call(both.invoke_async::<(i64, u64)>(&mut conn))
                .await?
        } else {
            self.open_in_two_steps(mailbox, max_open, &tag).await?
        };
        self.inner.expired.fetch_add(pruned, Ordering::Relaxed);
        match outcome {
            1 => Ok(OpenOutcome::Opened),
            0 => Ok(OpenOutcome::LimitReached),
            _ => Err(StoreError::Corrupt(
                "a new mailbox's key already exists".into(),
            )),
        }
    }

    async fn mailbox(&self, mailbox_id: &str) -> Result<Option<MailboxRecord>, StoreError> {
        let key = self.mailbox_key(mailbox_id);
        let now = self.now();
        let mut conn = self.conn();
        let mut hmget = redis::cmd("HMGET");
        hmget
            .arg(key)
            .arg("client")
            .arg("exp")
            .arg("kids")
            .arg("wh");
        let (client, exp, kids, webhook): (
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<String>,
        ) = self.call(hmget.query_async(&mut conn)).await?;
        Ok(match (client, exp) {
            (Some(client_id), Some(expires_at_ms)) if expires_at_ms > now => Some(MailboxRecord {
                mailbox_id: mailbox_id.to_owned(),
                client_id,
                expires_at_ms,
                kids: kids
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                webhook: webhook.as_deref() == Some("1"),
            }),
            _ => None,
        })
    }

    async fn deposit(&self, deposit: Deposit<'_>) -> Result<DepositOutcome, StoreError> {
        let tag = mailbox_tag(deposit.mailbox_id);
        let digest = EnvelopeDigest::of(&deposit.envelope);
        let (flag, channel) = self.publish_args(&tag);
        let now = self.now();
        let (before, after) =
            Self::delivery_json_around_expiry(deposit.mailbox_id, deposit.aud, now)?;
        let delivery_id = crate::webhook::delivery_id(deposit.mailbox_id);
        let keys = &self.inner.keys;
        let mut invocation = scripts::DEPOSIT.key(keys.mailbox(&tag));
        let single_node = self.single_node();
        if single_node {
            invocation
                .key(keys.delivery_due())
                .key(keys.delivery_records());
        }
        invocation
            .arg(deposit.envelope.as_ref())
            .arg(&digest.as_bytes()[..])
            .arg(now)
            .arg(deposit.aud)
            .arg(deposit.kid)
            .arg(flag)
            .arg(channel)
            .arg(&tag)
            .arg(&delivery_id)
            .arg(before)
            .arg(after);
        let mut conn = self.conn();
        let (outcome, webhook, expires_at_ms): (i64, i64, u64) =
            self.call(invocation.invoke_async(&mut conn)).await?;
        match outcome {
            0 => Ok(DepositOutcome::NotFound),
            1 => {
                let webhook = webhook == 1;
                if webhook && !single_node {
                    let mailbox = MailboxRecord {
                        mailbox_id: deposit.mailbox_id.to_owned(),
                        client_id: deposit.aud.to_owned(),
                        expires_at_ms,
                        kids: Vec::new(),
                        webhook,
                    };
                    self.write_delivery(
                        &scripts::ENQUEUE_DELIVERY,
                        &Delivery::first(&mailbox, now),
                    )
                    .await?;
                }
                Ok(DepositOutcome::Stored { webhook })
            }
            2 => Ok(DepositOutcome::Identical),
            3 => Ok(DepositOutcome::Conflict),
            4 => Ok(DepositOutcome::OtherClient),
            5 => Ok(DepositOutcome::UnknownKid),
            other => Err(StoreError::Corrupt(format!(
                "deposit script answered {other}"
            ))),
        }
    }

    async fn take(&self, mailbox_id: &str, client_id: &str) -> Result<TakeOutcome, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let keys = &self.inner.keys;
        let mut invocation = scripts::TAKE.key(keys.mailbox(&tag));
        if self.single_node() {
            invocation.key(keys.open_set(client_id));
        }
        invocation.arg(client_id).arg(self.now()).arg(&tag);
        let mut conn = self.conn();
        let reply: Vec<Value> = self.call(invocation.invoke_async(&mut conn)).await?;
        match reply.as_slice() {
            [Value::Int(0)] => Ok(TakeOutcome::NotFound),
            [Value::Int(2)] => Ok(TakeOutcome::Pending),
            [Value::Int(1), Value::BulkString(envelope)] => {
                let envelope = Bytes::copy_from_slice(envelope);
                if !self.single_node() {
                    self.forget_open(client_id, &tag).await;
                }
                Ok(TakeOutcome::Envelope(envelope))
            }
            _ => Err(StoreError::Corrupt("take script answered nonsense".into())),
        }
    }

    async fn cancel(&self, mailbox_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        let (flag, channel) = self.publish_args(&tag);
        let keys = &self.inner.keys;
        let mut invocation = scripts::CANCEL.key(keys.mailbox(&tag));
        if self.single_node() {
            invocation.key(keys.open_set(client_id));
        }
        invocation
            .arg(client_id)
            .arg(self.now())
            .arg(flag)
            .arg(channel)
            .arg(&tag);
        let mut conn = self.conn();
        let cancelled: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        if cancelled == 1 && !self.single_node() {
            self.forget_open(client_id, &tag).await;
        }
        Ok(cancelled == 1)
    }

    async fn watch(&self, mailbox_id: &str) -> Result<Waiter, StoreError> {
        let tag = mailbox_tag(mailbox_id);
        match &self.inner.wake {
            // The one channel is subscribed for the life of the process.
            Wake::Single(_) => Ok(self.inner.hub.watch(&tag)),
            Wake::Cluster(shards) => shards.watch(&tag).await,
        }
    }

    fn expired_count(&self) -> u64 {
        self.inner.expired.load(Ordering::Relaxed)
    }
}
