//! Long-poll wake-ups within one process: waiters register per mailbox id, deposits wake them.
//!
//! One map entry per mailbox that has waiters, removed when the last waiter leaves. Backends
//! call [`WakeHub::wake`] when a deposit happens (the Redis backend does so from its one
//! pub/sub subscription), so no connection or task is held per waiter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::pin::Pin;

use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

/// The registry of waiting long-polls in this process.
#[derive(Debug, Default, Clone)]
pub struct WakeHub {
    inner: Arc<Mutex<HashMap<String, Slot>>>,
}

#[derive(Debug)]
struct Slot {
    notify: Arc<Notify>,
    waiters: usize,
}

impl WakeHub {
    /// Registers a waiter for `mailbox_id`. The waiter is armed at once: a wake after this call
    /// and before [`Waiter::wait`] is not lost.
    pub fn watch(&self, mailbox_id: &str) -> Waiter {
        let notify = {
            let mut slots = self.inner.lock().expect("wake hub lock");
            let slot = slots.entry(mailbox_id.to_owned()).or_insert_with(|| Slot {
                notify: Arc::new(Notify::new()),
                waiters: 0,
            });
            slot.waiters += 1;
            slot.notify.clone()
        };
        let mut waiter = Waiter {
            hub: self.clone(),
            mailbox_id: mailbox_id.to_owned(),
            notified: Box::pin(notify.notified_owned()),
        };
        waiter.notified.as_mut().enable();
        waiter
    }

    /// Wakes every waiter of `mailbox_id` in this process.
    pub fn wake(&self, mailbox_id: &str) {
        let slots = self.inner.lock().expect("wake hub lock");
        if let Some(slot) = slots.get(mailbox_id) {
            slot.notify.notify_waiters();
        }
    }

    /// Wakes every waiter in this process, so that each checks the store again. Backends call
    /// it when wake-ups may have been missed (a pub/sub connection that was re-established).
    pub fn wake_all(&self) {
        let slots = self.inner.lock().expect("wake hub lock");
        for slot in slots.values() {
            slot.notify.notify_waiters();
        }
    }

    /// Whether any waiter in this process watches `mailbox_id`.
    pub fn is_watched(&self, mailbox_id: &str) -> bool {
        self.inner
            .lock()
            .expect("wake hub lock")
            .contains_key(mailbox_id)
    }

    /// How many long-polls are waiting in this process.
    pub fn waiting(&self) -> usize {
        self.inner
            .lock()
            .expect("wake hub lock")
            .values()
            .map(|slot| slot.waiters)
            .sum()
    }

    fn leave(&self, mailbox_id: &str) {
        let mut slots = self.inner.lock().expect("wake hub lock");
        if let Some(slot) = slots.get_mut(mailbox_id) {
            slot.waiters -= 1;
            if slot.waiters == 0 {
                slots.remove(mailbox_id);
            }
        }
    }
}

/// One registered long-poll. Dropping it unregisters it.
pub struct Waiter {
    hub: WakeHub,
    mailbox_id: String,
    notified: Pin<Box<OwnedNotified>>,
}

impl Waiter {
    /// Resolves at the first wake-up since [`WakeHub::watch`].
    pub async fn wait(&mut self) {
        self.notified.as_mut().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.hub.leave(&self.mailbox_id);
    }
}
