//! `sealgate serve`: configuration from flags, `SEALGATE_*` variables and a TOML file, then the
//! gateway until SIGTERM or SIGINT. The settings' flags are made from the gateway's one table
//! of settings (`sealgate::config::settings`), so every setting has a flag and a variable.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use sealgate::Gateway;
use sealgate::config::Config;
use sealgate::config::settings::{self, Kind, SETTINGS, Secrecy, Setting};
use sealgate::telemetry::{TraceSettings, Traces};

use crate::logging::LogFormat;

/// Flags of `sealgate serve`. Each setting can also be set by the environment variable named
/// in its help, and in the TOML file; a flag wins over the variable, the variable over the
/// file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SEALGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the configuration the gateway would run with (secrets redacted) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Log filter, e.g. `info` or `sealgate=debug`; `RUST_LOG` when unset [default: info].
    #[arg(long, env = "SEALGATE_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format [default: text when stderr is a terminal, json otherwise].
    #[arg(long, env = "SEALGATE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Every setting of the configuration, as flags.
    #[command(flatten)]
    pub settings: SettingArgs,
}

/// The settings given as flags or variables, each with its raw value.
#[derive(Debug, Clone, Default)]
pub struct SettingArgs {
    /// The settings given, the flag's value where both a flag and its variable were.
    pub given: Vec<(&'static Setting, String)>,
}

/// The flag of one setting: its help with the default, its variable, and a parser that
/// checks the value's form (so a malformed value is a usage error).
fn flag_of(setting: &'static Setting) -> Arg {
    let kind = setting.kind;
    let default = settings::default_of(setting)
        .filter(|_| setting.secrecy != Secrecy::Secret)
        .map_or(String::new(), |default| {
            let shown = if kind == Kind::Text {
                default.trim_matches('"')
            } else {
                &default
            };
            format!(" [default: {shown}]")
        });
    let arg = Arg::new(setting.flag)
        .long(setting.flag)
        .env(setting.env)
        .help(format!("{}{default}", setting.help))
        .hide_env_values(setting.secrecy != Secrecy::Plain)
        .action(ArgAction::Set)
        .value_parser(move |raw: &str| kind.parse(raw).map(|_| raw.to_owned()));
    match kind {
        Kind::Switch => arg
            .value_name("BOOL")
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true"),
        Kind::Number => arg.value_name("N"),
        Kind::Numbers => arg.value_name("N,…"),
        Kind::Text | Kind::Texts => arg.value_name("VALUE"),
    }
}

impl Args for SettingArgs {
    fn augment_args(command: Command) -> Command {
        SETTINGS
            .iter()
            .fold(command, |command, setting| command.arg(flag_of(setting)))
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let given = SETTINGS
            .iter()
            .filter_map(|setting| {
                matches
                    .get_one::<String>(setting.flag)
                    .map(|raw| (setting, raw.clone()))
            })
            .collect();
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then variables and flags, then its checks.
    pub fn into_config(self) -> anyhow::Result<Config> {
        Config::layered(self.config.as_deref(), &self.settings.given)
    }
}

/// Runs the gateway until a signal stops it, or prints its configuration. With traces on,
/// the spans still queued are exported before it returns.
pub(super) fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    if args.print_config {
        print!("{}", args.into_config()?.to_redacted_toml());
        return Ok(());
    }
    let (log, log_format) = (args.log.take(), args.log_format);
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let traces = TraceSettings::from_env(&config.otel)
        .map(|settings| Traces::start(&settings, runtime.handle().clone()))
        .transpose()?;
    crate::logging::init(log, log_format, traces.as_ref())?;
    if traces.is_some() {
        tracing::info!("exporting OpenTelemetry traces over OTLP/HTTP");
    }
    let served = runtime.block_on(async {
        // Before the gateway answers, so that a SIGTERM in its first moments stops it
        // gracefully too (and exports its traces).
        let signal = sealgate::termination_signal()?;
        let gateway = Gateway::start(config).await?;
        gateway.run_until(signal).await;
        anyhow::Ok(())
    });
    // The runtime's workers still run: the exporter's last requests go out on them.
    if let Some(traces) = traces
        && let Err(error) = traces.shutdown()
    {
        tracing::warn!(%error, "the last traces were not exported");
    }
    served
}
