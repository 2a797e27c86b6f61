//! `sealgate keygen`, `seal` and `open`: the envelope without a gateway.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use sealgate_crypto::{Algorithm, Binding, Envelope, Jwks, PrivateKey, PublicKey, SealOptions};
use serde_json::Value;

/// Flags of `sealgate keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private JWK (mode 0600). Without it, the private JWK goes to stdout
    /// instead of the public one.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// HPKE-4 (ChaCha20Poly1305) or HPKE-3 (AES-128-GCM).
    #[arg(long, default_value = "HPKE-4", value_parser = parse_alg)]
    pub alg: Algorithm,
}

/// Flags of `sealgate seal`. Stdin is sealed byte for byte (`printf`, not `echo`, for a
/// token without a trailing newline); a JWS compact plaintext gets `cty: JWT`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// The recipient: a public JWK or a JWKS.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Which key of a JWKS (its thumbprint); the first key by default.
    #[arg(long, value_name = "KID", allow_hyphen_values = true)]
    pub kid: Option<String>,
    /// Bind the envelope to this client id (`aud`).
    #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
    pub aud: Option<String>,
    /// Bind the envelope to this mailbox id (`mbx`).
    #[arg(long, value_name = "MAILBOX_ID", allow_hyphen_values = true)]
    pub mbx: Option<String>,
    /// Expiry, seconds since the Unix epoch (`exp`).
    #[arg(long, value_name = "UNIX")]
    pub exp: Option<u64>,
}

/// Flags of `sealgate open`. An envelope whose `exp` has passed is refused.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The private JWK.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Refuse the envelope unless its `aud` is this client id.
    #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
    pub aud: Option<String>,
    /// Refuse the envelope unless its `mbx` is this mailbox id.
    #[arg(long, value_name = "MAILBOX_ID", allow_hyphen_values = true)]
    pub mbx: Option<String>,
}

fn parse_alg(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or_else(|| format!("`{name}` is not HPKE-4 or HPKE-3"))
}

/// Writes a new private key and prints its public JWK.
pub(super) fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let key = PrivateKey::generate(args.alg);
    let mut stdout = std::io::stdout().lock();
    match &args.out {
        Some(path) => {
            write_private(path, key.to_jwk_json().as_bytes(), args.force)?;
            writeln!(stdout, "{}", key.public_key().to_jwk())?;
        }
        None => writeln!(stdout, "{}", key.to_jwk_json().as_str())?,
    }
    Ok(())
}

/// Writes `bytes` to a new file readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists; pass --force to overwrite it", path.display())
        }
        _ => anyhow::anyhow!("cannot write {}: {error}", path.display()),
    })?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    Ok(())
}

/// Seals stdin to the key in `--to`.
pub(super) fn seal(args: SealArgs) -> anyhow::Result<()> {
    let recipient = read_recipient(&args.to, args.kid.as_deref())?;
    let mut plaintext = Vec::new();
    std::io::stdin()
        .read_to_end(&mut plaintext)
        .context("cannot read stdin")?;
    let plaintext = zeroize::Zeroizing::new(plaintext);
    let binding = Binding {
        aud: args.aud,
        mbx: args.mbx,
        exp: args.exp,
    };
    let options = SealOptions {
        content_type: looks_like_jwt(&plaintext).then(|| "JWT".to_owned()),
        binding,
    };
    let envelope = sealgate_crypto::seal(&recipient, &plaintext, &options)?;
    println!("{}", envelope.as_str());
    Ok(())
}

/// Opens the compact JWE on stdin with the key in `--key`.
pub(super) fn open(args: OpenArgs) -> anyhow::Result<()> {
    let key = read_private_key(&args.key)?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("stdin is not a compact JWE")?;
    let opened = Envelope::parse(input.trim())?.open(&key)?;
    let header = &opened.header;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    if let Some(exp) = header.exp()
        && exp <= now
    {
        bail!("the envelope expired at {exp} (now {now})");
    }
    if args.aud.is_some() && header.aud() != args.aud.as_deref() {
        bail!(
            "the envelope's aud is not {}",
            args.aud.as_deref().unwrap_or_default()
        );
    }
    if args.mbx.is_some() && header.mbx() != args.mbx.as_deref() {
        bail!(
            "the envelope's mbx is not {}",
            args.mbx.as_deref().unwrap_or_default()
        );
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&opened.plaintext)?;
    stdout.flush()?;
    Ok(())
}

/// Reads a private JWK file.
pub(crate) fn read_private_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    PrivateKey::from_jwk_json(&text)
        .with_context(|| format!("{} is not a private X25519 JWK", path.display()))
}

fn read_recipient(path: &Path, kid: Option<&str>) -> anyhow::Result<PublicKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if value.get("keys").is_some() {
        let jwks = Jwks::from_value(&value)
            .with_context(|| format!("{} is not a usable JWKS", path.display()))?;
        return match kid {
            None => Ok(jwks.keys()[0].clone()),
            Some(kid) => match jwks.find(kid) {
                Some(key) => Ok(key.clone()),
                None => bail!("no key with kid `{kid}` in {}", path.display()),
            },
        };
    }
    let key = PublicKey::from_jwk(&value)
        .with_context(|| format!("{} is not a public X25519 JWK", path.display()))?;
    if let Some(kid) = kid
        && kid != key.thumbprint()
    {
        bail!(
            "the key in {} has kid `{}`, not `{kid}`",
            path.display(),
            key.thumbprint()
        );
    }
    Ok(key)
}

/// Three base64url segments separated by dots: a JWS compact serialization.
fn looks_like_jwt(bytes: &[u8]) -> bool {
    let parts: Vec<&[u8]> = bytes.split(|b| *b == b'.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        })
}
