//! Every setting of `sealgate serve` reaches the configuration from its flag and from its
//! variable, read back from `serve --print-config`.

use std::process::{Command, Output};

use sealgate::config::Config;
use sealgate::config::settings::{SETTINGS, Secrecy, Setting};

const SEALGATE: &str = env!("CARGO_BIN_EXE_sealgate");

/// `sealgate serve --print-config` with `flags` and `env`, and no other SEALGATE_* variable.
fn print_config(flags: &[String], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(SEALGATE);
    command.arg("serve").arg("--print-config").args(flags);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SEALGATE_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().expect("the sealgate binary runs")
}

/// The printed configuration, read back.
fn printed(output: &Output) -> toml::Table {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    toml::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

fn at<'t>(table: &'t toml::Table, key: &str) -> Option<&'t toml::Value> {
    match key.split_once('.') {
        None => table.get(key),
        Some((outer, inner)) => table.get(outer)?.as_table()?.get(inner),
    }
}

/// What `--print-config` shows for `setting` set to its example.
/// (The store's example carries no password, so it shows as it is.)
fn shown(setting: &Setting) -> toml::Value {
    if setting.secrecy == Secrecy::Secret {
        toml::Value::String("<redacted>".into())
    } else {
        setting.kind.parse(setting.example).unwrap()
    }
}

/// Every other setting's example as flags: some settings only validate with another
/// (tls_cert with tls_key, proxy_protocol with trusted_proxies).
fn other_flags(except: &Setting) -> Vec<String> {
    SETTINGS
        .iter()
        .filter(|other| other.key != except.key)
        .map(|other| format!("--{}={}", other.flag, other.example))
        .collect()
}

#[test]
fn every_setting_is_reached_by_its_flag_and_its_variable() {
    let defaults = printed(&print_config(&[], &[]));
    for setting in SETTINGS {
        let expected = shown(setting);
        assert_ne!(
            at(&defaults, setting.key),
            Some(&expected),
            "{}",
            setting.key
        );
        let mut flags = other_flags(setting);
        let by_variable = printed(&print_config(&flags, &[(setting.env, setting.example)]));
        assert_eq!(
            at(&by_variable, setting.key),
            Some(&expected),
            "{} from {}",
            setting.key,
            setting.env
        );
        flags.push(format!("--{}={}", setting.flag, setting.example));
        let by_flag = printed(&print_config(&flags, &[]));
        assert_eq!(
            at(&by_flag, setting.key),
            Some(&expected),
            "{} from --{}",
            setting.key,
            setting.flag
        );
    }
}

#[test]
fn a_flag_wins_over_its_variable_and_turns_a_switch_off() {
    let output = print_config(
        &["--max-ttl=300".into(), "--open-registration=false".into()],
        &[
            ("SEALGATE_MAX_TTL", "200"),
            ("SEALGATE_OPEN_REGISTRATION", "true"),
        ],
    );
    let config: Config = toml::from_str(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(config.limits.max_ttl_secs, 300);
    assert!(!config.open_registration);
    let bare = printed(&print_config(&["--open-registration".into()], &[]));
    assert_eq!(
        at(&bare, "open_registration"),
        Some(&toml::Value::Boolean(true))
    );
}

#[test]
fn malformed_values_are_usage_errors_and_secrets_never_print() {
    let bad = print_config(&["--max-ttl=soon".into()], &[]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--max-ttl"), "{stderr}");
    let secret = "correct-horse-battery-staple-0123456789";
    let output = print_config(
        &[format!("--registration-token={secret}")],
        &[("SEALGATE_STORE", "redis://app:hunter2@127.0.0.1:1/0")],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        !text.contains(secret) && !text.contains("hunter2"),
        "{text}"
    );
    let help = Command::new(SEALGATE)
        .args(["serve", "--help"])
        .env("SEALGATE_REGISTRATION_TOKEN", secret)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(secret));
}
