//! The flags of each collector, made from the list of collectors:
//! `--collector.<name>`, `--no-collector.<name>` and
//! `--refresh.<name>-interval`, each with its environment variable, and the
//! defaults each collector declares. A new collector gets its flags here
//! without a line of its own.

use super::values::parse_duration;
use crate::refresh::{self, Defaults};
use crate::snapshot::Kind;
use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::time::Duration;

/// Refresh interval of each collector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intervals([Duration; Kind::ALL.len()]);

impl Intervals {
    pub fn get(&self, kind: Kind) -> Duration {
        self.0[kind as usize]
    }

    pub fn set(&mut self, kind: Kind, interval: Duration) {
        self.0[kind as usize] = interval;
    }
}

impl Default for Intervals {
    /// Each collector's own default.
    fn default() -> Self {
        Self(Kind::ALL.map(|kind| refresh::defaults(kind).interval))
    }
}

/// Within how long a collector that reads only what changed reads
/// everything again; `None` for the others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FullSweeps([Option<Duration>; Kind::ALL.len()]);

impl FullSweeps {
    pub fn get(&self, kind: Kind) -> Option<Duration> {
        self.0[kind as usize]
    }
}

impl Default for FullSweeps {
    /// Each collector's own default.
    fn default() -> Self {
        Self(Kind::ALL.map(|kind| refresh::defaults(kind).full_sweep))
    }
}

/// Which collectors run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled([bool; Kind::ALL.len()]);

impl Enabled {
    pub fn contains(&self, kind: Kind) -> bool {
        self.0[kind as usize]
    }

    /// The enabled collectors, in the order they are refreshed and exported.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        Kind::ALL.into_iter().filter(|kind| self.contains(*kind))
    }
}

impl Default for Enabled {
    /// The collectors on by default.
    fn default() -> Self {
        Self(Kind::ALL.map(|kind| refresh::defaults(kind).enabled))
    }
}

/// What the per-collector flags say.
#[derive(Debug, Clone, Default)]
pub struct CollectorFlags {
    pub enabled: Enabled,
    pub intervals: Intervals,
    pub full_sweeps: FullSweeps,
    /// Which collectors a flag or variable switched on or off, rather than their default.
    chosen: [bool; Kind::ALL.len()],
}

impl CollectorFlags {
    /// Switches on every collector no flag or variable switched off: what
    /// `--demo` shows, since its API is local and nothing is too slow for it.
    pub fn enable_unless_chosen(&mut self) {
        for kind in Kind::ALL {
            if !self.chosen[kind as usize] {
                self.enabled.0[kind as usize] = true;
            }
        }
    }
}

fn enable_id(kind: Kind) -> String {
    format!("collector.{kind}")
}

fn disable_id(kind: Kind) -> String {
    format!("no-collector.{kind}")
}

fn interval_id(kind: Kind) -> String {
    format!("refresh.{kind}-interval")
}

fn full_sweep_id(kind: Kind) -> String {
    format!("refresh.{kind}-full-interval")
}

fn env_var(flag: &str) -> String {
    let name: String = flag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("TENCENTCLOUD_PARTNER_EXPORTER_{name}")
}

/// A default duration as an operator writes it: `24h` rather than `1day`.
fn flag_duration(duration: Duration) -> String {
    match duration.as_secs() {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        _ => humantime::format_duration(duration).to_string(),
    }
}

fn collector_args(kind: Kind, defaults: Defaults) -> Vec<Arg> {
    let full_sweep = defaults.full_sweep.map(|every| {
        Arg::new(full_sweep_id(kind))
            .long(full_sweep_id(kind))
            .env(env_var(&full_sweep_id(kind)))
            .default_value(flag_duration(every))
            .value_parser(parse_duration)
            .value_name("DURATION")
            .help_heading(REFRESH)
            .help(format!(
                "Within how long the {kind} collector {}.",
                defaults.full_sweep_help
            ))
    });
    let args = [
        Arg::new(enable_id(kind))
            .long(enable_id(kind))
            .env(env_var(&enable_id(kind)))
            .num_args(0..=1)
            .require_equals(true)
            .default_value(defaults.enabled.to_string())
            .default_missing_value("true")
            .action(ArgAction::Set)
            .value_parser(BoolishValueParser::new())
            .hide_possible_values(true)
            .overrides_with(disable_id(kind))
            .value_name("BOOL")
            .help_heading(COLLECTORS)
            .help(format!(
                "Enable the {kind} collector: {}; --{} disables it.",
                defaults.about,
                disable_id(kind)
            )),
        // Said in the help of the flag above: one entry per collector.
        Arg::new(disable_id(kind))
            .long(disable_id(kind))
            .action(ArgAction::SetTrue)
            .overrides_with(enable_id(kind))
            .hide(true),
        Arg::new(interval_id(kind))
            .long(interval_id(kind))
            .env(env_var(&interval_id(kind)))
            .default_value(flag_duration(defaults.interval))
            .value_parser(parse_duration)
            .value_name("DURATION")
            .help_heading(REFRESH)
            .help(format!("Interval between refreshes of {}.", defaults.about)),
    ];
    args.into_iter().chain(full_sweep).collect()
}

/// The `--help` headings of the collectors' flags.
pub const COLLECTORS: &str = "Collectors";
pub const REFRESH: &str = "Refresh";

impl clap::Args for CollectorFlags {
    fn augment_args(command: Command) -> Command {
        Kind::ALL
            .into_iter()
            .flat_map(|kind| collector_args(kind, refresh::defaults(kind)))
            .fold(command, Command::arg)
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for CollectorFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for kind in Kind::ALL {
            if let Some(interval) = matches.get_one::<Duration>(&interval_id(kind)) {
                self.intervals.set(kind, *interval);
            }
            if let Some(every) = matches.try_get_one::<Duration>(&full_sweep_id(kind)).ok().flatten() {
                self.full_sweeps.0[kind as usize] = Some(*every);
            }
            let on = matches.get_one::<bool>(&enable_id(kind)).copied();
            let off = matches.get_flag(&disable_id(kind));
            self.enabled.0[kind as usize] = on.unwrap_or(self.enabled.0[kind as usize]) && !off;
            let defaulted = matches.value_source(&enable_id(kind)) == Some(ValueSource::DefaultValue);
            self.chosen[kind as usize] |= off || !defaulted;
        }
        Ok(())
    }
}
