//! What the bridge remembers, in memory only: sign-ins in progress, authorization codes and
//! access tokens, each with a short life and a bounded count. A restart forgets them all:
//! sign-ins in flight end and the websites start them again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;
use tokio::sync::watch;

use crate::authorize::AuthorizeRequest;

/// The most sign-ins in progress at once; past it `/authorize` answers `temporarily_unavailable`.
pub const MAX_SIGNINS: usize = 10_000;
/// The most unredeemed codes at once.
pub const MAX_CODES: usize = 10_000;
/// The most live access tokens at once (the oldest goes first past it).
pub const MAX_ACCESS_TOKENS: usize = 50_000;
/// How long a code can be redeemed (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long an access token (for `/userinfo`) and the ID token are valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);
/// How long a finished sign-in stays readable by its page (to show the result and redirect).
const FINISHED_TTL: Duration = Duration::from_secs(120);

/// How a sign-in stands, as its page sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the phone.
    Waiting,
    /// The phone's token passed every check; the browser goes to this URL (with the code).
    Approved(String),
    /// The sign-in request expired before a token arrived.
    Expired,
    /// A token arrived and failed a check, or the user cancelled.
    Denied,
}

/// A sign-in in progress: what the website asked for, and the browser session bound to it.
#[derive(Debug)]
pub struct SignIn {
    /// The validated `/authorize` request.
    pub request: AuthorizeRequest,
    /// The session cookie's value; only the browser holding it may see this sign-in.
    pub cookie: String,
    /// The sign-in request URI (for the QR code and the link).
    pub signin_uri: String,
    /// When the sign-in request expires, seconds since the epoch.
    pub expires_at: u64,
    /// The status, watched by the page's long-poll.
    pub status: watch::Sender<Status>,
    finished_at: Mutex<Option<Instant>>,
}

impl SignIn {
    /// A new sign-in, waiting.
    pub fn new(
        request: AuthorizeRequest,
        cookie: String,
        signin_uri: String,
        expires_at: u64,
    ) -> Self {
        Self {
            request,
            cookie,
            signin_uri,
            expires_at,
            status: watch::channel(Status::Waiting).0,
            finished_at: Mutex::new(None),
        }
    }

    /// Whether `presented` is this sign-in's cookie (constant time).
    pub fn cookie_matches(&self, presented: &str) -> bool {
        bool::from(self.cookie.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// Ends the sign-in with `status`, unless it has ended already. Returns whether it did.
    pub fn finish(&self, status: Status) -> bool {
        let changed = self.status.send_if_modified(|current| {
            if *current == Status::Waiting {
                *current = status;
                true
            } else {
                false
            }
        });
        if changed {
            *self.finished_at.lock().expect("not poisoned") = Some(Instant::now());
        }
        changed
    }

    fn is_stale(&self, now_epoch: u64) -> bool {
        match *self.finished_at.lock().expect("not poisoned") {
            Some(at) => at.elapsed() > FINISHED_TTL,
            None => now_epoch > self.expires_at + FINISHED_TTL.as_secs(),
        }
    }
}

/// What a code stands for: a verified sign-in, waiting to be redeemed once at `/token`.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The website it was issued to.
    pub client_id: String,
    /// The `redirect_uri` of the authorization request (must be presented again).
    pub redirect_uri: String,
    /// The PKCE challenge, when one was sent.
    pub code_challenge: Option<String>,
    /// The scopes granted.
    pub scope: Vec<String>,
    /// The website's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The claims of the issued ID token and of `/userinfo` (`sub` and the scoped claims).
    pub claims: Map<String, Value>,
    /// When the user signed in, seconds since the epoch.
    pub auth_time: u64,
}

/// What happened to a code presented at `/token`.
#[derive(Debug)]
pub enum Redeemed {
    /// First use: the grant.
    Fresh(Grant),
    /// Used before: whatever it issued is now revoked.
    Replayed,
    /// Unknown or expired.
    Unknown,
}

/// What an access token gives `/userinfo`.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    /// The website it was issued to.
    pub client_id: String,
    /// The scopes granted.
    pub scope: Vec<String>,
    /// The user's claims.
    pub claims: Map<String, Value>,
}

#[derive(Debug)]
enum CodeState {
    Unused(Grant),
    /// Redeemed; remembered until its expiry with the access token it issued.
    Used {
        access_token: String,
    },
}

/// Every sign-in, code and access token, behind one lock each (all operations are short).
#[derive(Debug, Default)]
pub struct State {
    signins: Mutex<HashMap<String, std::sync::Arc<SignIn>>>,
    codes: Mutex<HashMap<String, (CodeState, Instant)>>,
    tokens: Mutex<HashMap<String, (AccessGrant, Instant)>>,
}

/// A limit on the bridge's memory was reached.
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins in progress")]
pub struct Full;

impl State {
    /// Keeps `signin` under `id`, dropping expired ones first.
    pub fn add_signin(
        &self,
        id: String,
        signin: std::sync::Arc<SignIn>,
        now_epoch: u64,
    ) -> Result<(), Full> {
        let mut signins = self.signins.lock().expect("not poisoned");
        if signins.len() >= MAX_SIGNINS {
            signins.retain(|_, s| !s.is_stale(now_epoch));
        }
        if signins.len() >= MAX_SIGNINS {
            return Err(Full);
        }
        signins.insert(id, signin);
        Ok(())
    }

    /// The sign-in under `id`, if it is still known.
    pub fn signin(&self, id: &str) -> Option<std::sync::Arc<SignIn>> {
        self.signins.lock().expect("not poisoned").get(id).cloned()
    }

    /// How many sign-ins are known.
    pub fn signin_count(&self) -> usize {
        self.signins.lock().expect("not poisoned").len()
    }

    /// Keeps a new code for `grant`.
    pub fn add_code(&self, code: String, grant: Grant) -> Result<(), Full> {
        let mut codes = self.codes.lock().expect("not poisoned");
        if codes.len() >= MAX_CODES {
            codes.retain(|_, (_, at)| at.elapsed() < CODE_TTL);
        }
        if codes.len() >= MAX_CODES {
            return Err(Full);
        }
        codes.insert(code, (CodeState::Unused(grant), Instant::now()));
        Ok(())
    }

    /// Redeems `code` once; `access_token` is what the redemption will issue (so that a
    /// replay can revoke it). A replay revokes that token and is refused.
    pub fn redeem(&self, code: &str, access_token: &str) -> Redeemed {
        let mut codes = self.codes.lock().expect("not poisoned");
        let Some((state, issued)) = codes.get_mut(code) else {
            return Redeemed::Unknown;
        };
        if issued.elapsed() >= CODE_TTL {
            codes.remove(code);
            return Redeemed::Unknown;
        }
        if let CodeState::Used { access_token } = state {
            self.tokens
                .lock()
                .expect("not poisoned")
                .remove(access_token);
            return Redeemed::Replayed;
        }
        let used = CodeState::Used {
            access_token: access_token.to_owned(),
        };
        match std::mem::replace(state, used) {
            CodeState::Unused(grant) => Redeemed::Fresh(grant),
            CodeState::Used { .. } => Redeemed::Replayed,
        }
    }

    /// Keeps an access token for `/userinfo`.
    pub fn add_access_token(&self, token: String, grant: AccessGrant) {
        let mut tokens = self.tokens.lock().expect("not poisoned");
        if tokens.len() >= MAX_ACCESS_TOKENS {
            tokens.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
        }
        if tokens.len() >= MAX_ACCESS_TOKENS {
            let oldest = tokens
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(token, _)| token.clone());
            if let Some(oldest) = oldest {
                tokens.remove(&oldest);
            }
        }
        tokens.insert(token, (grant, Instant::now()));
    }

    /// The grant behind a live access token.
    pub fn access(&self, token: &str) -> Option<AccessGrant> {
        let tokens = self.tokens.lock().expect("not poisoned");
        let (grant, at) = tokens.get(token)?;
        (at.elapsed() < TOKEN_TTL).then(|| grant.clone())
    }

    /// Forgets what has expired; run every few seconds.
    pub fn sweep(&self, now_epoch: u64) {
        self.signins
            .lock()
            .expect("not poisoned")
            .retain(|_, s| !s.is_stale(now_epoch));
        self.codes
            .lock()
            .expect("not poisoned")
            .retain(|_, (_, at)| at.elapsed() < CODE_TTL);
        self.tokens
            .lock()
            .expect("not poisoned")
            .retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            client_id: "site".into(),
            redirect_uri: "https://site.example/cb".into(),
            code_challenge: None,
            scope: vec!["openid".into()],
            nonce: None,
            claims: Map::new(),
            auth_time: 1,
        }
    }

    #[test]
    fn a_code_redeems_once_and_a_replay_revokes_its_token() {
        let state = State::default();
        state.add_code("c1".into(), grant()).unwrap();
        assert!(matches!(state.redeem("c1", "at1"), Redeemed::Fresh(_)));
        state.add_access_token(
            "at1".into(),
            AccessGrant {
                client_id: "site".into(),
                scope: vec![],
                claims: Map::new(),
            },
        );
        assert!(state.access("at1").is_some());
        assert!(matches!(state.redeem("c1", "at2"), Redeemed::Replayed));
        assert!(state.access("at1").is_none());
        assert!(matches!(state.redeem("c1", "at3"), Redeemed::Replayed));
        assert!(matches!(state.redeem("nope", "at4"), Redeemed::Unknown));
    }

    #[test]
    fn a_signin_finishes_once() {
        let request = AuthorizeRequest {
            client_id: "site".into(),
            redirect_uri: "https://site.example/cb".into(),
            scope: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
        };
        let signin = SignIn::new(request, "cookie".into(), "uri".into(), 10);
        assert!(signin.cookie_matches("cookie"));
        assert!(!signin.cookie_matches("cookie2"));
        assert!(signin.finish(Status::Expired));
        assert!(!signin.finish(Status::Approved("x".into())));
        assert_eq!(*signin.status.borrow(), Status::Expired);
    }
}
