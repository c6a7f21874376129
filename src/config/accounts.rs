//! The accounts file (`--config.file`): several partner accounts, each with
//! a name (its `account` label), where its key comes from (environment
//! variables it names, or files), and optionally its own endpoint, timeout,
//! rate-limit share, intervals and customers. What a file leaves out comes
//! from the flags. This module reads and validates the file; starting the
//! accounts is [`crate::account`]'s business.
//!
//! Errors name the file, the account and the field, never a key.

use super::{AccountConfig, Config, CredentialSource};
use crate::api::Credentials;
use crate::snapshot::Kind;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest account name: it becomes a label value and a directory name.
const MAX_NAME: usize = 64;

pub use super::file::Error;

/// What the file is, in error messages.
const WHAT: &str = "accounts file";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    accounts: Vec<Account>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Account {
    name: String,
    secret_id_env: Option<String>,
    secret_key_env: Option<String>,
    session_token_env: Option<String>,
    secret_id_file: Option<PathBuf>,
    secret_key_file: Option<PathBuf>,
    endpoint: Option<String>,
    region: Option<String>,
    timeout: Option<String>,
    rate_limit_fraction: Option<f64>,
    #[serde(default)]
    intervals: IntervalsFile,
    customer_uins: Option<Vec<u64>>,
}

/// An interval per collector, by name.
type IntervalsFile = std::collections::BTreeMap<String, String>;

/// Reads the accounts of the file at `path`, with `flags` for what an
/// account leaves out and `env` to read the variables the file names.
pub fn load(path: &Path, flags: &Config, env: impl Fn(&str) -> Option<String>) -> Result<Vec<AccountConfig>, Error> {
    let invalid = |message: String| super::file::invalid(path, WHAT, message);
    let file: File = super::file::read_yaml(path, WHAT)?;
    if file.accounts.is_empty() {
        return Err(invalid("accounts lists no account".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut names = BTreeSet::new();
    file.accounts
        .into_iter()
        .map(|account| {
            let name = account.name.clone();
            if !names.insert(name.clone()) {
                return Err(invalid(format!("account {name:?} is listed twice")));
            }
            account
                .resolve(flags, base, &env)
                .map_err(|message| invalid(format!("account {name:?}: {message}")))
        })
        .collect()
}

fn valid_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(allowed) || name.starts_with('.') {
        return Err(format!(
            "the name must be 1 to {MAX_NAME} letters, digits, '_', '-' or '.', not starting with '.'"
        ));
    }
    Ok(())
}

fn duration(field: &str, text: Option<&str>, default: Duration) -> Result<Duration, String> {
    match text {
        None => Ok(default),
        Some(text) => super::parse_duration(text).map_err(|e| format!("{field} {text:?}: {e}")),
    }
}

impl Account {
    fn resolve(
        self,
        flags: &Config,
        base: &Path,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<AccountConfig, String> {
        valid_name(&self.name)?;
        let credentials = self.credentials(base, env)?;
        let mut api = flags.api.clone();
        if let Some(endpoint) = &self.endpoint {
            api.endpoint = super::parse_endpoint(endpoint).map_err(|e| format!("endpoint: {e}"))?;
        }
        if let Some(region) = self.region.filter(|r| !r.is_empty()) {
            api.region = Some(region);
        }
        api.timeout = duration("timeout", self.timeout.as_deref(), api.timeout)?;
        if let Some(fraction) = self.rate_limit_fraction {
            api.rate_limit_fraction =
                super::check_fraction(fraction).map_err(|e| format!("rate_limit_fraction: {e}"))?;
        }
        let mut intervals = flags.intervals;
        for (name, text) in &self.intervals {
            let field = format!("intervals.{name}");
            let kind = Kind::ALL.into_iter().find(|kind| kind.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.name()).collect();
                format!("{field}: no such collector (one of {})", known.join(", "))
            })?;
            intervals.set(kind, duration(&field, Some(text), intervals.get(kind))?);
        }
        if self.customer_uins.as_ref().is_some_and(Vec::is_empty) {
            return Err("customer_uins lists no customer".into());
        }
        Ok(AccountConfig {
            name: self.name,
            credentials,
            api,
            intervals,
            customer_uins: self.customer_uins.or_else(|| flags.customer_uins.clone()),
        })
    }

    fn credentials(&self, base: &Path, env: &impl Fn(&str) -> Option<String>) -> Result<CredentialSource, String> {
        let by_variables = self.secret_id_env.is_some() || self.secret_key_env.is_some();
        let by_files = self.secret_id_file.is_some() || self.secret_key_file.is_some();
        match (by_variables, by_files) {
            (true, true) => Err("give the key by variables or by files, not both".into()),
            (false, false) => {
                Err("give secret_id_env and secret_key_env, or secret_id_file and secret_key_file".into())
            }
            (true, false) => {
                let (Some(id_var), Some(key_var)) = (&self.secret_id_env, &self.secret_key_env) else {
                    return Err("secret_id_env and secret_key_env must be given together".into());
                };
                let read = |var: &str| {
                    env(var)
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| format!("the variable {var} is not set"))
                };
                let token = match &self.session_token_env {
                    Some(var) => Some(read(var)?),
                    None => None,
                };
                Ok(CredentialSource::Variables {
                    credentials: Credentials::new(read(id_var)?, read(key_var)?, token),
                    secret_id_variable: id_var.clone(),
                })
            }
            (false, true) => {
                let (Some(id), Some(key)) = (&self.secret_id_file, &self.secret_key_file) else {
                    return Err("secret_id_file and secret_key_file must be given together".into());
                };
                Ok(CredentialSource::Files {
                    secret_id: base.join(id),
                    secret_key: base.join(key),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags() -> Config {
        let flags = super::super::Flags::try_parse_from(["exporter", "--refresh.customers-interval=2m"]).unwrap();
        Config::from_flags(flags, |_| None).unwrap()
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "SG_ID" => Some("AKIDsg".into()),
            "SG_KEY" => Some("sg-key".into()),
            _ => None,
        }
    }

    fn load_text(text: &str) -> Result<Vec<AccountConfig>, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.yml");
        std::fs::write(&path, text).unwrap();
        load(&path, &flags(), env)
    }

    fn refused(text: &str) -> String {
        load_text(text).expect_err("the file should be refused").to_string()
    }

    #[test]
    fn accounts_take_what_they_leave_out_from_the_flags() {
        let accounts = load_text(
            "accounts:
  - name: reseller-sg
    secret_id_env: SG_ID
    secret_key_env: SG_KEY
    rate_limit_fraction: 0.5
    intervals: {vouchers: 30m}
  - name: distributor.hk
    secret_id_file: hk/id
    secret_key_file: /run/hk/key
    endpoint: https://intlpartnersmgt.tencentcloudapi.com
",
        )
        .unwrap();
        let (sg, hk) = (&accounts[0], &accounts[1]);
        assert_eq!(sg.name, "reseller-sg");
        assert!(
            matches!(&sg.credentials, CredentialSource::Variables { secret_id_variable, .. } if secret_id_variable == "SG_ID")
        );
        assert_eq!(sg.api.rate_limit_fraction, 0.5);
        assert_eq!(sg.intervals.get(Kind::Vouchers), Duration::from_secs(1800));
        assert_eq!(
            sg.intervals.get(Kind::Customers),
            Duration::from_secs(120),
            "from the flag"
        );
        assert_eq!(hk.api.endpoint.as_str(), "https://intlpartnersmgt.tencentcloudapi.com/");
        match &hk.credentials {
            CredentialSource::Files { secret_id, secret_key } => {
                assert!(
                    secret_id.is_absolute() && secret_id.ends_with("hk/id"),
                    "relative to the file"
                );
                assert_eq!(secret_key, &PathBuf::from("/run/hk/key"));
            }
            other => panic!("expected files, got {other:?}"),
        }
        assert!(!format!("{accounts:?}").contains("sg-key"), "Debug masks the key");
    }

    #[test]
    fn bad_accounts_are_refused_with_the_account_and_the_field() {
        let cases = [
            ("accounts: []\n", "no account"),
            ("accounts:\n  - name: a\n    secret_id_env: SG_ID\n", "together"),
            (
                "accounts:\n  - name: a\n    secret_id_env: NOPE\n    secret_key_env: SG_KEY\n",
                "NOPE is not set",
            ),
            ("accounts:\n  - name: a\n", "secret_id_env"),
            (
                "accounts:\n  - name: a b\n    secret_id_file: x\n    secret_key_file: y\n",
                "the name must be",
            ),
            (
                "accounts:\n  - {name: a, secret_id_file: x, secret_key_file: y}\n  - {name: a, secret_id_file: x, secret_key_file: y}\n",
                "listed twice",
            ),
            (
                "accounts:\n  - {name: a, secret_id_file: x, secret_key_file: y, endpoint: 'not a url'}\n",
                "endpoint",
            ),
            (
                "accounts:\n  - {name: a, secret_id_file: x, secret_key_file: y, intervals: {partner: often}}\n",
                "intervals.partner",
            ),
            (
                "accounts:\n  - {name: a, secret_id_file: x, secret_key_file: y, intervals: {voucher: 5m}}\n",
                "intervals.voucher: no such collector (one of partner, customers, allocations, vouchers, pool, status, subagents, bills, spend)",
            ),
            (
                "accounts:\n  - {name: a, secret_id_file: x, secret_key_file: y, rate_limit_fraction: 0}\n",
                "rate_limit_fraction",
            ),
            (
                "accounts:\n  - {name: a, secret_id_file: x, secret_key_file: y, colour: red}\n",
                "colour",
            ),
        ];
        for (text, expected) in cases {
            let message = refused(text);
            assert!(message.contains(expected), "{text}: {message}");
            assert!(!message.contains("sg-key"));
        }
    }

    proptest::proptest! {
        #[test]
        fn no_accounts_file_panics(text in "(accounts|name|secret_id_env|secret_key_file|intervals|partner|endpoint|rate_limit_fraction|customer_uins|SG_ID|SG_KEY|[ :\\-\\[\\]{}\\n,]|[a-zA-Z0-9./]{1,12}){0,40}") {
            let _ = load_text(&text);
        }
    }
}
