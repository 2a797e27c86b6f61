//! The accounting at the end: every sign-in is consumed once, expired (and the app was told),
//! cut in flight by a kill, lost, or duplicated; and the one-screen summary.

use serde::Serialize;

use super::chaos::{Event, Target, near_event};
use super::ledger::{AppEnd, PhoneOutcome, Receipt, SignIn, Via};

/// How close (seconds) to an outage a webhook hand-out must be for a repeat of it to count as
/// the documented at-least-once case (the instance or Redis died between the endpoint's 2xx
/// and the record of it).
const REPEAT_SLACK: f64 = 2.0;
/// How close (seconds) to an outage a `404` must be for the envelope to count as cut in
/// flight (the SDK's retries after the cut poll take at most a few seconds).
const CUT_SLACK: f64 = 10.0;
/// How many problem sign-ins are printed in full.
const SHOWN: usize = 10;

/// The counts.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Tally {
    /// Sign-ins started.
    pub(crate) sign_ins: u64,
    /// Sign-ins whose mailbox the app could not open within 15 s (no token was sent).
    pub(crate) not_opened: u64,
    /// Tokens a phone set out to send (one per opened mailbox, each unique).
    pub(crate) sent: u64,
    /// Deposits the gateway acknowledged (201, 200, or 409 after the phone's own retry).
    pub(crate) acked: u64,
    /// Tokens the app received, counted once each.
    pub(crate) consumed: u64,
    /// Of those, first received by a long-poll.
    pub(crate) consumed_by_poll: u64,
    /// Of those, first received by a webhook.
    pub(crate) consumed_by_webhook: u64,
    /// Tokens the app never received because the phone gave up; the app saw the mailbox
    /// expire (or 404).
    pub(crate) expired: u64,
    /// Acknowledged tokens the gateway handed out (Redis shows the mailbox consumed) whose
    /// answer a kill cut before it reached the app; the app saw 404.
    pub(crate) cut_in_flight: u64,
    /// Acknowledged tokens the app never received, with no kill to explain it. Must be 0.
    pub(crate) lost: u64,
    /// Tokens handed out more than once outside the documented webhook case (two polls, a
    /// poll then a webhook, or a repeat far from any outage). Must be 0.
    pub(crate) duplicated: u64,
    /// Hand-outs whose token was not the one sent. Must be 0.
    pub(crate) wrong_tokens: u64,
    /// Webhook deliveries received, verified and answered 2xx.
    pub(crate) webhook_deliveries: u64,
    /// Hand-outs after the first (webhook or poll) of an envelope first delivered by webhook
    /// during an outage: at-least-once delivery, deduplicated by the app by mailbox id, so
    /// each token is still consumed once.
    pub(crate) webhook_repeats: u64,
    /// Duplicates the app consumed: tokens it would have accepted twice after deduplicating
    /// webhook repeats by mailbox id (`duplicated`, as the app sees it). Must be 0.
    pub(crate) duplicates_consumed: u64,
    /// Sign-ins of webhook apps whose envelope came by the fallback long-poll.
    pub(crate) webhook_fallbacks: u64,
    /// App waiters that ended with an error other than 404 or expiry.
    pub(crate) app_errors: u64,
    /// The longest time from opening a mailbox to the deposit's acknowledgement, seconds.
    pub(crate) slowest_ack_secs: f64,
    /// Why phones gave up, and app waiters' errors (`(app) …`), with how often (most
    /// frequent first).
    pub(crate) gave_up: Vec<(String, u64)>,
    /// Webhook requests that did not verify, or named no mailbox of the soak. Must be 0.
    pub(crate) bad_webhooks: u64,
}

impl Tally {
    /// Whether the run kept every guarantee.
    pub(crate) fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.wrong_tokens == 0
            && self.bad_webhooks == 0
            && self.consumed > 0
    }
}

/// Accounts every sign-in; returns the counts, a description of each problem sign-in (lost,
/// duplicated, wrong token), and of each envelope cut in flight with the outage it fell in.
pub(crate) fn tally(
    entries: &[(SignIn, Vec<Receipt>)],
    events: &[Event],
) -> (Tally, Vec<String>, Vec<String>) {
    let mut tally = Tally::default();
    let mut cuts = Vec::new();
    let mut gave_up = std::collections::BTreeMap::<String, u64>::new();
    let mut problems = Vec::new();
    let mut problem = |what: &str, sign_in: &SignIn, receipts: &[Receipt]| {
        problems.push(format!("{what}: {sign_in:?}, hand-outs {receipts:?}"));
    };
    for (sign_in, receipts) in entries {
        tally.sent += 1;
        let acked = match &sign_in.phone {
            PhoneOutcome::Acked { at } => {
                tally.slowest_ack_secs = tally.slowest_ack_secs.max(at - sign_in.opened_at);
                true
            }
            PhoneOutcome::GaveUp(reason) => {
                *gave_up.entry(reason.clone()).or_default() += 1;
                false
            }
            PhoneOutcome::Pending => false,
        };
        tally.acked += u64::from(acked);
        for end in &sign_in.app_ends {
            if let AppEnd::Error(reason) = end {
                tally.app_errors += 1;
                *gave_up.entry(format!("(app) {reason}")).or_default() += 1;
            }
        }
        if receipts.iter().any(|r| r.token != sign_in.token) {
            tally.wrong_tokens += 1;
            problem("wrong token", sign_in, receipts);
        }
        let webhooks = receipts
            .iter()
            .filter(|r| matches!(r.via, Via::Webhook(_)))
            .count() as u64;
        let polls = receipts.len() as u64 - webhooks;
        tally.webhook_deliveries += webhooks;
        if let Some(first) = receipts.first() {
            tally.consumed += 1;
            match first.via {
                Via::Poll(_) => {
                    tally.consumed_by_poll += 1;
                    tally.webhook_fallbacks += u64::from(sign_in.webhook);
                }
                Via::Webhook(_) => tally.consumed_by_webhook += 1,
            }
            if receipts.len() < 2 {
                continue;
            }
            let documented = polls <= 1
                && matches!(first.via, Via::Webhook(_))
                && near_event(events, first.at, REPEAT_SLACK);
            if documented {
                tally.webhook_repeats += receipts.len() as u64 - 1;
            } else {
                tally.duplicated += 1;
                tally.duplicates_consumed += 1;
                problem("duplicated", sign_in, receipts);
            }
        } else if !acked {
            tally.expired += 1;
        } else if sign_in.app_ends.iter().any(|end| {
            matches!(end, AppEnd::NotFound { at, redis: "consumed" }
                if *at < sign_in.expires_at && near_event(events, *at, CUT_SLACK))
        }) {
            tally.cut_in_flight += 1;
            let outage = sign_in.app_ends.iter().find_map(|end| match end {
                AppEnd::NotFound { at, .. } => events.iter().rev().find(|e| e.killed_at <= *at),
                _ => None,
            });
            cuts.push(format!(
                "{sign_in:?}; the last outage before the 404: {outage:?}"
            ));
        } else {
            tally.lost += 1;
            problem("lost", sign_in, receipts);
        }
    }
    problems.truncate(SHOWN);
    cuts.truncate(SHOWN);
    let mut gave_up: Vec<(String, u64)> = gave_up.into_iter().collect();
    gave_up.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    tally.gave_up = gave_up;
    (tally, problems, cuts)
}

/// The summary, one screen.
pub(crate) fn render(tally: &Tally, events: &[Event], header: &str) -> String {
    let count = |target: Target| events.iter().filter(|e| e.target == target).count();
    let downs: Vec<f64> = events
        .iter()
        .filter_map(|e| e.ready_at.map(|ready| ready - e.killed_at))
        .collect();
    let (shortest, longest) = downs.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), d| {
        (lo.min(*d), hi.max(*d))
    });
    let mut out = format!("{header}\n");
    out += &format!(
        "chaos: {} events: gateway 1 killed {}x, gateway 2 {}x, Redis {}x (SIGKILL; down {:.1}-{:.1} s each)\n",
        events.len(),
        count(Target::Gateway(1)),
        count(Target::Gateway(2)),
        count(Target::Redis),
        if downs.is_empty() { 0.0 } else { shortest },
        longest,
    );
    let rows: [(&str, u64, &str); 14] = [
        ("sign-ins", tally.sign_ins, "started at the steady rate"),
        (
            "not opened",
            tally.not_opened,
            "the app could not open a mailbox within 15 s",
        ),
        ("sent", tally.sent, "unique tokens a phone set out to send"),
        (
            "acknowledged",
            tally.acked,
            "deposits answered 201/200 (or 409 after a retry)",
        ),
        (
            "consumed",
            tally.consumed,
            "received by the app, exactly once each",
        ),
        (
            "  by poll",
            tally.consumed_by_poll,
            "first received by a long-poll",
        ),
        (
            "  by webhook",
            tally.consumed_by_webhook,
            "first received by a webhook",
        ),
        (
            "expired",
            tally.expired,
            "the phone gave up; the app saw the mailbox expire",
        ),
        (
            "cut in flight",
            tally.cut_in_flight,
            "handed out, the answer cut by a kill (app saw 404)",
        ),
        (
            "lost",
            tally.lost,
            "acknowledged, never received, no kill to explain it",
        ),
        (
            "duplicated",
            tally.duplicated,
            "handed out twice outside the documented webhook case",
        ),
        (
            "webhook deliveries",
            tally.webhook_deliveries,
            "verified and answered 204",
        ),
        (
            "webhook repeats",
            tally.webhook_repeats,
            "after an outage; deduplicated by mailbox id",
        ),
        (
            "dup. consumed",
            tally.duplicates_consumed,
            "tokens the app would accept twice",
        ),
    ];
    for (name, value, what) in rows {
        out += &format!("  {name:<19}{value:>8}   {what}\n");
    }
    out += &format!(
        "  webhook apps' envelopes taken by the fallback poll {}; slowest acknowledged deposit \
         {:.1} s after opening; app errors {}; wrong tokens {}; bad webhook requests {}\n",
        tally.webhook_fallbacks,
        tally.slowest_ack_secs,
        tally.app_errors,
        tally.wrong_tokens,
        tally.bad_webhooks
    );
    for (reason, count) in tally.gave_up.iter().take(3) {
        out += &format!("  gave up {count}x: {reason}\n");
    }
    out
}
