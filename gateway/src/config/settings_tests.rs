//! The settings table against the configuration it describes: every field has a setting,
//! every setting reaches its field from the file and from an override, and the docs list
//! them all.

use std::collections::BTreeSet;

use super::*;

/// Every leaf key of a serialized configuration, dotted.
fn leaf_keys(table: &toml::Table, prefix: &str, keys: &mut BTreeSet<String>) {
    for (name, value) in table {
        let key = format!("{prefix}{name}");
        match value {
            toml::Value::Table(inner) => leaf_keys(inner, &format!("{key}."), keys),
            _ => {
                keys.insert(key);
            }
        }
    }
}

/// A configuration with every example applied at once (each valid with the others).
fn with_every_example() -> Config {
    let overrides: Vec<_> = SETTINGS
        .iter()
        .map(|setting| (setting, setting.example.to_owned()))
        .collect();
    Config::layered(None, &overrides).expect("the examples make a valid configuration")
}

fn value_at(config: &Config, key: &str) -> Option<toml::Value> {
    lookup(&toml::Table::try_from(config).unwrap(), key).cloned()
}

#[test]
fn every_field_has_exactly_one_setting() {
    let mut fields = BTreeSet::new();
    leaf_keys(
        &toml::Table::try_from(with_every_example()).unwrap(),
        "",
        &mut fields,
    );
    let settings: BTreeSet<String> = SETTINGS.iter().map(|s| s.key.to_owned()).collect();
    assert_eq!(fields, settings, "fields and settings differ");
    assert_eq!(settings.len(), SETTINGS.len(), "a key is listed twice");
    let envs: BTreeSet<&str> = SETTINGS.iter().map(|s| s.env).collect();
    let flags: BTreeSet<&str> = SETTINGS.iter().map(|s| s.flag).collect();
    assert_eq!(envs.len(), SETTINGS.len(), "a variable is used twice");
    assert_eq!(flags.len(), SETTINGS.len(), "a flag is used twice");
    assert!(SETTINGS.iter().all(|s| s.env.starts_with("SEALGATE_")));
}

#[test]
fn every_setting_is_reached_by_an_override_and_by_the_file() {
    let defaults = Config::default();
    let dir = tempfile::tempdir().unwrap();
    for setting in SETTINGS {
        let expected = setting.kind.parse(setting.example).unwrap();
        assert_ne!(
            value_at(&defaults, setting.key).as_ref(),
            Some(&expected),
            "{}: the example is the default",
            setting.key
        );
        // Some settings only validate together with another (tls_cert with tls_key,
        // proxy_protocol with trusted_proxies): apply every example, then check this one.
        let mut overrides: Vec<_> = SETTINGS
            .iter()
            .filter(|other| other.key != setting.key)
            .map(|other| (other, other.example.to_owned()))
            .collect();
        let without = Config::layered(None, &overrides);
        overrides.push((setting, setting.example.to_owned()));
        let by_override = Config::layered(None, &overrides).unwrap();
        assert_eq!(
            value_at(&by_override, setting.key),
            Some(expected.clone()),
            "{} by override",
            setting.key
        );
        if let Ok(without) = without {
            assert_ne!(value_at(&without, setting.key), Some(expected.clone()));
        }
        let (table, name) = setting.key.rsplit_once('.').unwrap_or(("", setting.key));
        let line = format!("{name} = {expected}\n");
        let text = if table.is_empty() {
            line
        } else {
            format!("[{table}]\n{line}")
        };
        let path = dir.path().join("sealgate.toml");
        std::fs::write(&path, text).unwrap();
        overrides.pop();
        let from_file = Config::layered(Some(&path), &overrides).unwrap();
        assert_eq!(
            value_at(&from_file, setting.key),
            Some(expected),
            "{} from the file",
            setting.key
        );
    }
}

#[test]
fn an_override_turns_off_a_switch_the_file_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealgate.toml");
    std::fs::write(
        &path,
        "open_registration = true\n[webhooks]\nallow_private = true\n",
    )
    .unwrap();
    let on = Config::layered(Some(&path), &[]).unwrap();
    assert!(on.open_registration && on.webhooks.allow_private);
    let off = [
        (by_flag("open-registration").unwrap(), "false".to_owned()),
        (by_flag("allow-private-webhooks").unwrap(), "0".to_owned()),
    ];
    let off = Config::layered(Some(&path), &off).unwrap();
    assert!(!off.open_registration && !off.webhooks.allow_private);
}

#[test]
fn bad_values_name_the_flag_and_the_variable() {
    let ttl = by_flag("max-ttl").unwrap();
    let error = Config::layered(None, &[(ttl, "soon".into())])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("--max-ttl") && error.contains("SEALGATE_MAX_TTL"),
        "{error}"
    );
    assert!(Kind::Switch.parse("maybe").is_err());
    assert!(Kind::Numbers.parse("443,x").is_err());
    assert!(Kind::Number.parse("-1").is_err());
}

#[test]
fn printed_configuration_hides_secrets_and_reads_back() {
    let mut config = with_every_example();
    config.store = "redis://sealgate:hunter2@redis.internal:6379/0".into();
    let printed = config.to_redacted_toml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    assert!(
        printed.contains("redis://sealgate:<redacted>@redis.internal:6379/0"),
        "{printed}"
    );
    let read: Config = toml::from_str(&printed).unwrap();
    assert_eq!(read.limits.max_ttl_secs, config.limits.max_ttl_secs);
    assert_eq!(read.webhooks.allowed_ports, config.webhooks.allowed_ports);
    let defaults = Config::default().to_redacted_toml();
    assert!(defaults.contains("# public_url is not set"), "{defaults}");
    assert_eq!(
        redact_url_password("redis+cluster://:pw@h1:1,h2:2"),
        "redis+cluster://:<redacted>@h1:1,h2:2"
    );
    assert_eq!(redact_url_password("memory"), "memory");
}

#[test]
fn docs_list_every_setting() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"),
    )
    .unwrap();
    let (start, end) = ("<!-- settings:start -->\n", "<!-- settings:end -->");
    let expected = docs_table();
    let listed = docs
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(table, _)| table);
    assert_eq!(
        listed,
        Some(expected.as_str()),
        "docs/configuration.md's settings table is out of date; between the markers it must read:\n{expected}"
    );
}
