//! The app side on the command line: `register`, `request`, `wait`, `jwks rotate`.
//! Human output goes to stderr, machine output (URI, token) to stdout.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use sealgate_client::sealgate_crypto::{Algorithm, PrivateKey};
use sealgate_client::{AppClient, Expected, HttpClient, IssuerKeys, Registration, verify_id_token};

use super::credentials::{self, CredentialsArgs};
use super::exit::Expired;

/// Flags of `sealgate register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The gateway's base URL.
    #[arg(long, env = "SEALGATE_GATEWAY", value_name = "URL")]
    pub gateway: String,
    /// The app's name.
    #[arg(long)]
    pub name: String,
    /// Where the gateway should deliver envelopes, if it delivers webhooks.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// The gateway's registration token, when it requires one.
    #[arg(
        long,
        env = "SEALGATE_REGISTRATION_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub registration_token: Option<String>,
    /// Replace an app registered before.
    #[arg(long)]
    pub force: bool,
    /// Where to save the credentials.
    #[command(flatten)]
    pub saved: CredentialsArgs,
}

/// Flags of `sealgate request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The gateway's base URL, instead of the one saved at registration.
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// The ID token issuer's JWKS (a URL or a file): verify the token's signature, `aud`,
    /// `nonce`, `exp` and `iat`.
    #[arg(long, value_name = "URL_OR_FILE")]
    pub issuer_jwks: Option<String>,
    /// The `aud` the ID token must carry [default: this app's client id].
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// The `iss` the ID token must carry.
    #[arg(long, value_name = "ISSUER")]
    pub issuer: Option<String>,
    /// Mailbox lifetime, seconds [default: the gateway's, 120].
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<u64>,
    /// Do not draw the QR code.
    #[arg(long)]
    pub no_qr: bool,
    /// Which saved app.
    #[command(flatten)]
    pub saved: CredentialsArgs,
}

/// Flags of `sealgate wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The mailbox to wait on. Ids are base64url and may start with `-`.
    #[arg(allow_hyphen_values = true)]
    pub mailbox_id: String,
    /// The gateway's base URL, instead of the one saved at registration.
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// How long to wait at most, seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub timeout: u64,
    /// Which saved app.
    #[command(flatten)]
    pub saved: CredentialsArgs,
}

/// `sealgate jwks …`.
#[derive(Debug, Subcommand)]
pub enum JwksCommand {
    /// Make a new key, publish it (keeping the previous ones for open mailboxes), save it.
    Rotate {
        /// The gateway's base URL, instead of the one saved at registration.
        #[arg(long, value_name = "URL")]
        gateway: Option<String>,
        /// Which saved app.
        #[command(flatten)]
        saved: CredentialsArgs,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Makes a key, registers it, saves credentials and key.
pub(super) fn register(args: RegisterArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let options = Registration {
            registration_token: args.registration_token,
            webhook_url: args.webhook_url,
        };
        let key = PrivateKey::generate(Algorithm::Hpke4);
        let app =
            AppClient::register_with(HttpClient::new()?, &args.gateway, &args.name, key, &options)
                .await?;
        let path = credentials::save(&app, &args.saved, args.force)?;
        eprintln!(
            "registered `{}` at {} as {}; credentials in {}",
            args.name,
            app.gateway(),
            app.client_id(),
            path.display()
        );
        println!("{}", app.client_id());
        Ok(())
    })
}

/// Opens a mailbox, shows the request, waits for the token, prints it.
pub(super) fn request(args: RequestArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let app = credentials::load(&args.saved, args.gateway.as_deref())?;
        let issuer_keys = match &args.issuer_jwks {
            Some(source) => Some(load_issuer_keys(source).await?),
            None => None,
        };
        let pending = app.open_mailbox(args.ttl.map(Duration::from_secs)).await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", pending.uri())?;
        stdout.flush()?;
        if !args.no_qr {
            eprintln!("{}", pending.qr_terminal());
        }
        eprintln!("scan the code, or send the URI above with `sealgate send URI`");
        let expires_at = pending.expires_at();
        let nonce = pending.nonce().to_owned();
        let received = tokio::select! {
            received = app.wait_for_token(pending) => received,
            () = show_countdown(expires_at) => unreachable!("the countdown never ends first"),
        };
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\r\x1b[2K");
        }
        let received = received.map_err(|error| match error {
            sealgate_client::Error::Expired => anyhow::Error::new(Expired(
                "the sign-in request expired before a token arrived".to_owned(),
            )),
            other => other.into(),
        })?;
        match &issuer_keys {
            Some(keys) => {
                let expected = Expected {
                    issuer: args.issuer.clone(),
                    audience: args
                        .audience
                        .clone()
                        .unwrap_or_else(|| app.client_id().to_owned()),
                    nonce,
                    leeway: Duration::from_secs(60),
                };
                let claims = verify_id_token(received.as_str(), keys, &expected)?;
                eprintln!(
                    "token verified: issuer {}, subject {}",
                    claims.iss, claims.sub
                );
            }
            None => eprintln!(
                "token received; NOT verified (pass --issuer-jwks to verify its signature)"
            ),
        }
        writeln!(stdout, "{}", received.as_str())?;
        Ok(())
    })
}

/// A live line on stderr with the time left, when stderr is a terminal; resolves never (the
/// caller races it).
async fn show_countdown(expires_at: u64) {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        eprintln!(
            "waiting for the phone ({} s left)",
            expires_at.saturating_sub(now)
        );
        return std::future::pending().await;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let frames = ['|', '/', '-', '\\'];
    for frame in frames.iter().cycle() {
        ticker.tick().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let left = expires_at.saturating_sub(now);
        eprint!(
            "\r\x1b[2K{frame} waiting for the phone… {}:{:02} left",
            left / 60,
            left % 60
        );
    }
}

async fn load_issuer_keys(source: &str) -> anyhow::Result<IssuerKeys> {
    if source.starts_with("https://") || source.starts_with("http://") {
        return Ok(IssuerKeys::fetch(&HttpClient::new()?, source).await?);
    }
    let text = std::fs::read_to_string(Path::new(source))
        .with_context(|| format!("cannot read {source}"))?;
    Ok(IssuerKeys::from_json(&text)?)
}

/// Waits on a mailbox opened earlier and prints the token.
pub(super) fn wait(args: WaitArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let app = credentials::load(&args.saved, args.gateway.as_deref())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let received = app
            .wait_for_mailbox(&args.mailbox_id, now + args.timeout)
            .await
            .map_err(|error| match error {
                sealgate_client::Error::Expired => anyhow::Error::new(Expired(format!(
                    "no token arrived within {} s",
                    args.timeout
                ))),
                other => other.into(),
            })?;
        println!("{}", received.as_str());
        Ok(())
    })
}

/// Rotates the app's key.
pub(super) fn jwks(command: JwksCommand) -> anyhow::Result<()> {
    let JwksCommand::Rotate { gateway, saved } = command;
    runtime()?.block_on(async {
        let mut app = credentials::load(&saved, gateway.as_deref())?;
        let new_key = PrivateKey::generate(Algorithm::Hpke4);
        let kid = new_key.public_key().thumbprint().to_owned();
        app.rotate_keys(new_key).await?;
        credentials::save(&app, &saved, true)?;
        eprintln!(
            "new key {kid} published; {} key(s) in the set",
            app.keys().len()
        );
        println!("{kid}");
        Ok(())
    })
}
