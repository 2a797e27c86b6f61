//! `sealgate device …`: the command line as the phone of one-click sign-in. It registers a
//! Web Push subscription with a website after a sign-in, and opens, approves or declines the
//! push messages that carry later sign-in requests — read from a file, or received by
//! `device listen`, a loopback stand-in for the push service (see `device/listen.rs`).
//!
//! The device (its subscription keys, auth secret and registration) lives in one JSON file,
//! mode 0600: `$XDG_CONFIG_HOME/sealgate/device.json` by default, or `--device FILE`. One file
//! is one website. Human output goes to stderr; stdout carries what a script reads (the
//! handle, the opened sign-in as JSON).

mod listen;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use sealgate_client::sealgate_crypto::{SignInRequest, base64url};
use sealgate_client::{Phone, PushDevice, PushedSignIn};
use serde_json::json;

pub use listen::ListenArgs;

use super::credentials;
use super::phone::{read_token, report};

/// `sealgate device …`.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// After a sign-in: make a push subscription key pair, register it and ENDPOINT with the
    /// website that showed URI, save the device (mode 0600); prints the device handle.
    Register(RegisterDeviceArgs),
    /// Register a new push endpoint for the saved device (the handle stays).
    Update(UpdateDeviceArgs),
    /// Delete the registration at the gateway and the device file.
    Delete(DeviceFileArgs),
    /// Decrypt and check a push message (a file, or - for stdin); prints the sign-in as JSON.
    Open(MessageArgs),
    /// Open a push message and approve it: seal the token and deliver it.
    Approve(ApproveArgs),
    /// Open a push message and decline it: deliver the sealed decline marker.
    Decline(MessageArgs),
    /// Stand in for the push service on a loopback address: receive the gateway's push,
    /// show it, approve or decline it.
    Listen(ListenArgs),
}

/// Which device file a command uses.
#[derive(Debug, Clone, Args)]
pub struct DeviceFileArgs {
    /// The device file [default: $XDG_CONFIG_HOME/sealgate/device.json].
    #[arg(long = "device", env = "SEALGATE_DEVICE", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Flags of `sealgate device register`.
#[derive(Debug, Args)]
pub struct RegisterDeviceArgs {
    /// The sign-in request URI (`sealgate:signin?…`) of the sign-in just made: its gateway
    /// and client are the website to register with (it may have expired since).
    pub uri: String,
    /// The push endpoint the gateway should send to (`https://…`; `http://127.0.0.1:PORT/…`
    /// for `device listen`).
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// Replace a device file that holds a registration.
    #[arg(long)]
    pub force: bool,
    /// Where to save the device.
    #[command(flatten)]
    pub device: DeviceFileArgs,
}

/// Flags of `sealgate device update`.
#[derive(Debug, Args)]
pub struct UpdateDeviceArgs {
    /// The new push endpoint.
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// Which device.
    #[command(flatten)]
    pub device: DeviceFileArgs,
}

/// A push message and the device it was sent to.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// The push message body (`aes128gcm`, as the push service delivered it), or - for stdin.
    pub message: PathBuf,
    /// Which device.
    #[command(flatten)]
    pub device: DeviceFileArgs,
}

/// Flags of `sealgate device approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The message and the device.
    #[command(flatten)]
    pub message: MessageArgs,
    /// The ID token to send.
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
}

impl DeviceFileArgs {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.file {
            Some(file) => Ok(file.clone()),
            None => Ok(credentials::directory()?.join("device.json")),
        }
    }

    fn load(&self) -> anyhow::Result<(PushDevice, PathBuf)> {
        let path = self.path()?;
        let device = PushDevice::load(&path).with_context(|| {
            format!(
                "no usable device at {} (run `sealgate device register` first)",
                path.display()
            )
        })?;
        Ok((device, path))
    }
}

/// Runs a `sealgate device` subcommand.
pub(super) fn run(command: DeviceCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            DeviceCommand::Register(args) => register(args).await,
            DeviceCommand::Update(args) => update(args).await,
            DeviceCommand::Delete(args) => delete(args).await,
            DeviceCommand::Open(args) => open(&args).map(|_| ()),
            DeviceCommand::Approve(args) => {
                let pushed = open(&args.message)?;
                approve(&pushed, &args.token_file).await
            }
            DeviceCommand::Decline(args) => decline(&open(&args)?).await,
            DeviceCommand::Listen(args) => listen::run(args).await,
        }
    })
}

async fn register(args: RegisterDeviceArgs) -> anyhow::Result<()> {
    // Only the gateway and the client are used: the sign-in itself may be over.
    let signin = SignInRequest::parse(&args.uri, 0)?;
    let path = args.device.path()?;
    if !args.force
        && let Ok(saved) = PushDevice::load(&path)
        && let Some(registration) = saved.registration()
    {
        bail!(
            "{} holds the registration with client {} at {}; pass --force to replace it, or \
             --device for another file",
            path.display(),
            registration.client_id(),
            registration.gateway()
        );
    }
    let phone = Phone::new()?;
    let vapid_key = PushDevice::vapid_key(&phone, signin.gateway()).await?;
    eprintln!(
        "the gateway's VAPID key (a phone subscribes with it as applicationServerKey): {}",
        base64url::encode(vapid_key)
    );
    let mut device = PushDevice::generate();
    device.register(&phone, &signin, &args.endpoint).await?;
    save(&device, &path)?;
    let registration = device.registration().expect("just registered");
    eprintln!(
        "registered with client {} at {}; pushes go to {}; device saved in {}",
        registration.client_id(),
        registration.gateway(),
        registration.endpoint(),
        path.display()
    );
    println!("{}", registration.handle());
    Ok(())
}

async fn update(args: UpdateDeviceArgs) -> anyhow::Result<()> {
    let (mut device, path) = args.device.load()?;
    let updated = device.update(&Phone::new()?, &args.endpoint).await?;
    eprintln!(
        "pushes now go to {}; expires {}",
        updated.endpoint(),
        updated.expires_at()
    );
    save(&device, &path)
}

async fn delete(args: DeviceFileArgs) -> anyhow::Result<()> {
    let (mut device, path) = args.load()?;
    let deleted = device.delete(&Phone::new()?).await;
    if matches!(
        deleted,
        Ok(()) | Err(sealgate_client::Error::RegistrationNotFound)
    ) {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    deleted?;
    eprintln!("registration deleted; {} removed", path.display());
    Ok(())
}

/// Reads a push message, opens it with the device, shows it on stderr and prints it as JSON.
fn open(args: &MessageArgs) -> anyhow::Result<PushedSignIn> {
    let (device, _) = args.device.load()?;
    let body = read_message(&args.message)?;
    let pushed = device.open_notification(&body)?;
    show(&pushed);
    Ok(pushed)
}

fn read_message(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read the push message from stdin")?;
        return Ok(body);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The pushed sign-in on stderr for a person, and as one JSON line on stdout for a script.
fn show(pushed: &PushedSignIn) {
    let left = pushed.request.expires_at().saturating_sub(now_secs());
    eprintln!(
        "sign-in request from {:?} (client {} at {}), {left} s left",
        pushed.client_name,
        pushed.request.client_id(),
        pushed.request.gateway()
    );
    match &pushed.binding_message {
        Some(message) => eprintln!("binding message: {message}"),
        None => eprintln!("no binding message"),
    }
    let line = json!({
        "signin_request": pushed.request.to_uri(),
        "client_name": pushed.client_name,
        "binding_message": pushed.binding_message,
    });
    println!("{line}");
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn approve(pushed: &PushedSignIn, token_file: &Path) -> anyhow::Result<()> {
    let token = read_token(Some(token_file))?;
    let outcome = Phone::new()?.send_to(&pushed.request, &token).await?;
    report(outcome, "approved: token sealed and delivered");
    Ok(())
}

async fn decline(pushed: &PushedSignIn) -> anyhow::Result<()> {
    let outcome = Phone::new()?.decline(&pushed.request).await?;
    report(outcome, "declined: the refusal was sealed and delivered");
    Ok(())
}

/// Saves the device (mode 0600), making its directory (mode 0700) when missing.
fn save(device: &PushDevice, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    Ok(device.save(path)?)
}
