//! The `sealgate` binary without a gateway: `keygen | seal | open` round-trips (the README's
//! example, verbatim), keygen writes mode 0600 and refuses to overwrite without --force, every
//! subcommand has --help, every failure exits non-zero with one line on stderr, and the shell
//! completion scripts generate.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SEALGATE: &str = env!("CARGO_BIN_EXE_sealgate");

/// `sealgate ARGS` in `dir`, with `stdin`, and HOME/XDG_CONFIG_HOME in `dir` (so that no
/// credentials of the machine's user are read).
fn run(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(SEALGATE)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("SEALGATE_GATEWAY")
        .env_remove("SEALGATE_STORE")
        .env_remove("SEALGATE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sealgate binary runs");
    let mut input = child.stdin.take().unwrap();
    // A command that fails before reading its input closes the pipe: that is not an error.
    if let Err(error) = input.write_all(stdin) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Asserts a non-zero exit, nothing on stdout, and exactly one line on stderr that starts
/// with `sealgate: error:` and mentions `hint`; returns the line.
#[track_caller]
fn fails(output: &Output, hint: &str) -> String {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "succeeded; stderr: {stderr}");
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "stdout: {:?}",
        text(&output.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr:?}");
    assert!(lines[0].starts_with("sealgate: error: "), "{stderr:?}");
    assert!(
        lines[0].to_lowercase().contains(&hint.to_lowercase()),
        "{:?} does not mention {hint:?}",
        lines[0]
    );
    lines[0].to_owned()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `keygen --out k.jwk > pub.jwk` in `dir`.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.jwk"));
    let public = dir.join(format!("{name}-pub.jwk"));
    let out = ok(&run(dir, &["keygen", "--out", &format!("{name}.jwk")], b""));
    std::fs::write(&public, out).unwrap();
    (private, public)
}

#[test]
fn the_readme_example_prints_token() {
    let dir = tempdir();
    let bin_dir = Path::new(SEALGATE).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(
            "sealgate keygen --out k.jwk > pub.jwk && printf token | sealgate seal --to pub.jwk \
             | sealgate open --key k.jwk",
        )
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(ok(&output), "token");
}

/// Ids are base64url, so a quarter of them start with `-`: they must not read as flags.
#[test]
fn ids_starting_with_a_dash_are_values() {
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "dash");
    let args = [
        "--aud",
        "-client",
        "--mbx",
        "-mailbox_1",
        "--exp",
        "4000000000",
    ];
    let mut seal = vec!["seal", "--to", public.to_str().unwrap()];
    seal.extend(args);
    let envelope = ok(&run(dir.path(), &seal, b"token"));
    let open = [
        "open",
        "--key",
        private.to_str().unwrap(),
        "--aud",
        "-client",
        "--mbx",
        "-mailbox_1",
    ];
    assert_eq!(ok(&run(dir.path(), &open, envelope.as_bytes())), "token");
}

#[test]
fn keygen_seal_open_round_trip() {
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "k");
    let public_jwk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&public).unwrap()).unwrap();
    assert_eq!(public_jwk["kty"], "OKP");
    assert_eq!(public_jwk["crv"], "X25519");
    assert!(public_jwk.get("d").is_none(), "stdout holds no private key");
    let private_jwk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&private).unwrap()).unwrap();
    assert!(private_jwk["d"].is_string());
    assert_eq!(private_jwk["x"], public_jwk["x"]);
    assert_eq!(private_jwk["kid"], public_jwk["kid"]);

    let token = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    let sealed = ok(&run(
        dir.path(),
        &[
            "seal",
            "--to",
            "k-pub.jwk",
            "--aud",
            "client",
            "--mbx",
            "mailbox",
            "--exp",
            "4000000000",
        ],
        token,
    ));
    let sealed = sealed.trim_end();
    let parts: Vec<&str> = sealed.split('.').collect();
    assert_eq!(parts.len(), 5, "compact JWE: {sealed}");
    assert!(
        parts[2].is_empty() && parts[4].is_empty(),
        "empty IV and tag"
    );
    assert!(
        !sealed.contains("c2lnbmF0dXJl"),
        "the plaintext is not visible"
    );

    let opened = run(
        dir.path(),
        &[
            "open", "--key", "k.jwk", "--aud", "client", "--mbx", "mailbox",
        ],
        sealed.as_bytes(),
    );
    assert_eq!(ok(&opened).as_bytes(), token);

    // HPKE-3 keys work the same.
    let out = ok(&run(
        dir.path(),
        &["keygen", "--alg", "HPKE-3", "--out", "k3.jwk"],
        b"",
    ));
    std::fs::write(dir.path().join("k3-pub.jwk"), out).unwrap();
    let sealed = ok(&run(dir.path(), &["seal", "--to", "k3-pub.jwk"], b"hello"));
    let opened = run(dir.path(), &["open", "--key", "k3.jwk"], sealed.as_bytes());
    assert_eq!(ok(&opened), "hello");
}

#[test]
fn keygen_writes_mode_0600_and_refuses_to_overwrite() {
    let dir = tempdir();
    let (private, _) = keygen(dir.path(), "k");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the private key file is {mode:o}");
    let before = std::fs::read(&private).unwrap();

    let line = fails(
        &run(dir.path(), &["keygen", "--out", "k.jwk"], b""),
        "exists",
    );
    assert!(line.contains("--force"), "{line}");
    assert_eq!(
        std::fs::read(&private).unwrap(),
        before,
        "the key is untouched"
    );

    ok(&run(
        dir.path(),
        &["keygen", "--out", "k.jwk", "--force"],
        b"",
    ));
    assert_ne!(
        std::fs::read(&private).unwrap(),
        before,
        "--force replaces it"
    );
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A file that was readable by others is 0600 after --force, too.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&run(
        dir.path(),
        &["keygen", "--out", "k.jwk", "--force"],
        b"",
    ));
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Without --out the private JWK goes to stdout, and nothing is written.
    let printed = ok(&run(dir.path(), &["keygen"], b""));
    let jwk: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(jwk["d"].is_string());
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempdir();
    let commands: [&[&str]; 12] = [
        &[],
        &["serve"],
        &["keygen"],
        &["seal"],
        &["open"],
        &["register"],
        &["request"],
        &["wait"],
        &["jwks"],
        &["jwks", "rotate"],
        &["send"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run(dir.path(), &args, b"");
        let stdout = ok(&output);
        assert!(
            stdout.contains("Usage: sealgate"),
            "`sealgate {}`: {stdout}",
            args.join(" ")
        );
    }
    let version = ok(&run(dir.path(), &["--version"], b""));
    assert!(version.starts_with("sealgate "), "{version}");
}

#[test]
fn each_failure_is_one_line_on_stderr() {
    let dir = tempdir();
    let d = dir.path();
    keygen(d, "k");
    keygen(d, "other");
    std::fs::write(d.join("not-json.jwk"), "this is not JSON").unwrap();
    let sealed = ok(&run(d, &["seal", "--to", "k-pub.jwk"], b"token"));
    let bound = ok(&run(
        d,
        &[
            "seal",
            "--to",
            "k-pub.jwk",
            "--aud",
            "client",
            "--mbx",
            "mailbox",
        ],
        b"token",
    ));
    let expired = ok(&run(
        d,
        &["seal", "--to", "k-pub.jwk", "--exp", "1"],
        b"token",
    ));
    std::fs::write(d.join("token"), "eyJ.eyJ.sig").unwrap();
    std::fs::write(d.join("empty"), "  \n").unwrap();

    let cases: [(&[&str], &[u8], &str); 17] = [
        (&["seal", "--to", "missing.jwk"], b"token", "missing.jwk"),
        (&["seal", "--to", "not-json.jwk"], b"token", "not-json.jwk"),
        (&["seal", "--to", "k.jwk"], b"token", "k.jwk"),
        (
            &["seal", "--to", "k-pub.jwk", "--kid", "nope"],
            b"token",
            "kid",
        ),
        (
            &["open", "--key", "missing.jwk"],
            sealed.as_bytes(),
            "missing.jwk",
        ),
        (
            &["open", "--key", "k-pub.jwk"],
            sealed.as_bytes(),
            "k-pub.jwk",
        ),
        (&["open", "--key", "k.jwk"], b"garbage", "JWE"),
        (&["open", "--key", "other.jwk"], sealed.as_bytes(), "kid"),
        (
            &["open", "--key", "k.jwk", "--aud", "someone-else"],
            bound.as_bytes(),
            "aud",
        ),
        (
            &["open", "--key", "k.jwk", "--mbx", "another-mailbox"],
            bound.as_bytes(),
            "mbx",
        ),
        (&["open", "--key", "k.jwk"], expired.as_bytes(), "expired"),
        (
            &["keygen", "--out", "no/such/dir/k.jwk"],
            b"",
            "no/such/dir",
        ),
        (
            &[
                "send",
                "https://example.invalid/not-a-request",
                "--token-file",
                "token",
            ],
            b"",
            "sign-in request",
        ),
        (
            &[
                "send",
                "sealgate:signin?v=1",
                "--token-file",
                "missing-token",
            ],
            b"",
            "missing-token",
        ),
        (
            &["send", "sealgate:signin?v=1", "--token-file", "empty"],
            b"",
            "no token",
        ),
        (&["request", "--no-qr"], b"", "sealgate register"),
        (
            &["wait", "AAAAAAAAAAAAAAAAAAAAAA"],
            b"",
            "sealgate register",
        ),
    ];
    for (args, stdin, hint) in cases {
        let output = run(d, args, stdin);
        let stderr = text(&output.stderr);
        assert!(
            !output.status.success(),
            "`sealgate {}` succeeded",
            args.join(" ")
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "`sealgate {}`: one line on stderr, got {stderr:?}",
            args.join(" ")
        );
        fails(&output, hint);
    }
    fails(&run(d, &["jwks", "rotate"], b""), "sealgate register");
    fails(
        &run(
            d,
            &[
                "serve",
                "--store",
                "bogus",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            b"",
        ),
        "bogus",
    );
}

/// `sealgate serve` refuses, before it listens, a non-loopback address without a registration
/// token (naming `--open-registration`), and a registration token under 32 characters, the
/// empty one included.
#[test]
fn serve_refuses_unsafe_registration_settings() {
    let dir = tempdir();
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--metrics-listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        run(dir.path(), &args, b"")
    };
    fails(&serve(&["--listen", "0.0.0.0:0"]), "--open-registration");
    for token in ["", "short", "0123456789abcdef0123456789abcde"] {
        fails(
            &serve(&["--listen", "127.0.0.1:0", "--registration-token", token]),
            "at least 32 characters",
        );
    }
}

#[test]
fn usage_errors_exit_2_and_point_to_help() {
    let dir = tempdir();
    for args in [
        &["seal"][..],
        &["keygen", "--alg", "HPKE-9"],
        &["no-such-command"],
    ] {
        let output = run(dir.path(), args, b"");
        assert_eq!(
            output.status.code(),
            Some(2),
            "`sealgate {}`",
            args.join(" ")
        );
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains("--help"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&run(dir.path(), &["completions", shell], b""));
        assert!(!script.is_empty(), "{shell}");
        for subcommand in ["serve", "keygen", "send", "completions"] {
            assert!(
                script.contains(subcommand),
                "{shell} completes {subcommand}"
            );
        }
        assert!(
            script.contains("log-format"),
            "{shell} completes serve's flags"
        );
    }
    let unknown = run(dir.path(), &["completions", "tcsh"], b"");
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_pages_generate_for_the_command_and_each_subcommand() {
    let dir = tempdir();
    let page = ok(&run(dir.path(), &["man"], b""));
    assert!(page.contains(".TH sealgate 1"), "{page}");
    assert!(page.contains("sealgate\\-serve(1)"), "{page}");
    let out = dir.path().join("man1");
    ok(&run(
        dir.path(),
        &["man", "--out-dir", out.to_str().unwrap()],
        b"",
    ));
    for name in [
        "sealgate.1",
        "sealgate-serve.1",
        "sealgate-register.1",
        "sealgate-jwks-rotate.1",
    ] {
        let text = std::fs::read_to_string(out.join(name)).unwrap_or_else(|_| panic!("{name}"));
        assert!(text.contains(".SH OPTIONS"), "{name}");
    }
    let register = std::fs::read_to_string(out.join("sealgate-register.1")).unwrap();
    assert!(register.contains("SEALGATE_PROFILE"), "{register}");
}
