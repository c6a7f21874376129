//! `--customers.thresholds-file`: alert thresholds of a customer's own, which
//! Tencent's console keeps per customer and its API does not expose. Entries
//! name one customer by UIN or every customer whose remark matches a regular
//! expression; the first entry that matches a customer wins. This module
//! reads and validates the file and answers which thresholds a customer has;
//! exporting them is [`crate::metrics`]' business, reloading [`crate::reload`]'s.
//! It depends on no other module of the exporter but [`crate::yaml_file`].

use regex::Regex;
use serde::Deserialize;
use std::path::Path;

pub use crate::yaml_file::Error;

const WHAT: &str = "customer thresholds file";

/// The most entries a file may hold: matching is done per customer.
const MOST_ENTRIES: usize = 10_000;

/// The largest compiled regular expression a remark pattern may make.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The thresholds a customer can have, by the `threshold` label they are
/// exported with.
pub const NAMES: [&str; 2] = ["credit_remaining_ratio", "credit_days_left"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    customers: Vec<EntryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    #[serde(default)]
    uin: Option<u64>,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default)]
    credit_remaining_ratio: Option<f64>,
    #[serde(default)]
    credit_days_left: Option<f64>,
}

/// Whom an entry is for.
#[derive(Debug, Clone)]
enum Whom {
    Uin(u64),
    Remark(Regex),
}

/// One entry: whom it is for, and its thresholds.
#[derive(Debug, Clone)]
struct Entry {
    whom: Whom,
    /// Values by [`NAMES`], `None` where the entry leaves one to the default.
    values: [Option<f64>; 2],
}

/// The thresholds file as loaded; the default has no entry.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    entries: Vec<Entry>,
}

impl Thresholds {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let invalid = |message: String| crate::yaml_file::invalid(path, WHAT, message);
        let file: File = crate::yaml_file::read_yaml(path, WHAT)?;
        if file.customers.len() > MOST_ENTRIES {
            return Err(invalid(format!("more than {MOST_ENTRIES} entries")));
        }
        let entries = file
            .customers
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                entry
                    .validate()
                    .map_err(|e| invalid(format!("customers[{index}]: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// The thresholds of the first entry that matches the customer, by name.
    pub fn of(&self, uin: u64, remark: &str) -> Vec<(&'static str, f64)> {
        let Some(entry) = self.entries.iter().find(|e| match &e.whom {
            Whom::Uin(wanted) => *wanted == uin,
            Whom::Remark(pattern) => pattern.is_match(remark),
        }) else {
            return Vec::new();
        };
        NAMES
            .iter()
            .zip(entry.values)
            .filter_map(|(name, value)| Some((*name, value?)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl EntryFile {
    fn validate(self) -> Result<Entry, String> {
        let whom = match (self.uin, self.remark) {
            (Some(uin), None) => Whom::Uin(uin),
            (None, Some(pattern)) => Whom::Remark(
                regex::RegexBuilder::new(&pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("remark {pattern:?} is not a regular expression: {}", one_line(&e)))?,
            ),
            (Some(_), Some(_)) => return Err("set uin or remark, not both".into()),
            (None, None) => return Err("set uin (one customer) or remark (a regular expression)".into()),
        };
        if let Some(ratio) = self.credit_remaining_ratio
            && !(0.0..=1.0).contains(&ratio)
        {
            return Err(format!("credit_remaining_ratio {ratio} is not between 0 and 1"));
        }
        if let Some(days) = self.credit_days_left
            && !(days.is_finite() && days >= 0.0)
        {
            return Err(format!("credit_days_left {days} is not a number of days"));
        }
        let values = [self.credit_remaining_ratio, self.credit_days_left];
        if values.iter().all(Option::is_none) {
            return Err("set credit_remaining_ratio, credit_days_left or both".into());
        }
        Ok(Entry { whom, values })
    }
}

/// A regex error on one line: its last, which says what is wrong (the
/// lines before draw the pattern with a caret).
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or_default();
    last.trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Thresholds, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("thresholds.yml");
        std::fs::write(&path, text).unwrap();
        Thresholds::load(&path)
    }

    #[test]
    fn the_first_matching_entry_wins() {
        let thresholds = load(
            "customers:\n  - uin: 800000000001\n    credit_remaining_ratio: 0.5\n    credit_days_left: 30\n  \
             - remark: \"^trial$\"\n    credit_remaining_ratio: 0.02\n  - remark: trial\n    credit_days_left: 1\n",
        )
        .unwrap();
        assert_eq!(
            thresholds.of(800000000001, "trial"),
            [("credit_remaining_ratio", 0.5), ("credit_days_left", 30.0)]
        );
        assert_eq!(thresholds.of(2, "trial"), [("credit_remaining_ratio", 0.02)]);
        assert_eq!(thresholds.of(3, "a trial"), [("credit_days_left", 1.0)]);
        assert!(thresholds.of(4, "shop").is_empty());
        assert!(load("").unwrap().is_empty());
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_place() {
        for (text, expected) in [
            ("customers:\n  - credit_days_left: 3\n", "customers[0]: set uin"),
            (
                "customers:\n  - uin: 1\n    remark: x\n    credit_days_left: 3\n",
                "not both",
            ),
            ("customers:\n  - uin: 1\n", "set credit_remaining_ratio"),
            (
                "customers:\n  - uin: 1\n    credit_remaining_ratio: 5\n",
                "between 0 and 1",
            ),
            ("customers:\n  - uin: 1\n    credit_days_left: -1\n", "number of days"),
            (
                "customers:\n  - remark: \"(\"\n    credit_days_left: 1\n",
                "not a regular expression",
            ),
            ("customers:\n  - uin: 1\n    credit_days: 1\n", "credit_days"),
            ("customer:\n  - uin: 1\n", "customer"),
        ] {
            let error = load(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_thresholds_file_panics(text in "(customers|uin|remark|credit_remaining_ratio|credit_days_left|[ :\\-\\[\\]{}\\n\"^$().*+?]|[a-zA-Z0-9.]{1,12}){0,40}") {
            let _ = load(&text);
        }
    }
}
