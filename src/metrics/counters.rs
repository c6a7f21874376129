//! Counters a collector declares in its own file, by name and HELP, and
//! counts per account: things a refresh notices and survives, such as two
//! answers of the API that disagree.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A counter a collector declares.
#[derive(Debug)]
pub struct CounterDef {
    /// The name after the `tencentcloud_partner_` prefix, before `_total`.
    pub name: &'static str,
    pub help: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

/// Every declared counter, registered once.
#[derive(Debug, Clone, Default)]
pub struct Counters(Arc<BTreeMap<&'static str, Family<AccountLabels, Counter>>>);

impl Counters {
    /// Registers the counters of `defs`, each with the collector that counts
    /// it, which its HELP names as a gauge's names the collector refreshing it.
    pub fn register(
        registry: &mut Registry,
        defs: impl IntoIterator<Item = (&'static str, &'static CounterDef)>,
    ) -> Self {
        let mut families = BTreeMap::new();
        for (collector, def) in defs {
            let family = Family::<AccountLabels, Counter>::default();
            let help = format!("{} (counted by the {collector} collector)", def.help);
            registry.register(def.name, help, family.clone());
            families.insert(def.name, family);
        }
        Self(Arc::new(families))
    }

    /// The counters of `account`, each exported from 0 so that rates start there.
    pub fn for_account(&self, account: &str) -> AccountCounters {
        let labels = AccountLabels {
            account: account.to_owned(),
        };
        AccountCounters(Arc::new(
            self.0
                .iter()
                .map(|(name, family)| (*name, family.get_or_create(&labels).clone()))
                .collect(),
        ))
    }
}

impl Counters {
    /// Removes the counters of `account`, which a reload removed. A task of
    /// its still stopping counts on its own handles, never exported again.
    pub fn remove(&self, account: &str) {
        let labels = AccountLabels {
            account: account.to_owned(),
        };
        for family in self.0.values() {
            family.remove(&labels);
        }
    }
}

/// The declared counters of one account.
#[derive(Debug, Clone, Default)]
pub struct AccountCounters(Arc<BTreeMap<&'static str, Counter>>);

impl AccountCounters {
    /// Adds one to `def`. A counter its collector did not declare is a bug,
    /// logged at debug level rather than a reason to stop a refresh.
    pub fn inc(&self, def: &CounterDef) {
        match self.0.get(def.name) {
            Some(counter) => {
                counter.inc();
            }
            None => tracing::debug!(counter = def.name, "counter not registered"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static MISMATCHES: CounterDef = CounterDef {
        name: "test_mismatches",
        help: "Mismatches seen",
    };

    #[test]
    fn counters_start_at_zero_per_account_and_count_separately() {
        let mut registry = Registry::with_prefix("tencentcloud_partner");
        let counters = Counters::register(&mut registry, [("vouchers", &MISMATCHES)]);
        let a = counters.for_account("a");
        let _b = counters.for_account("b");
        a.inc(&MISMATCHES);
        a.inc(&MISMATCHES);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "# HELP tencentcloud_partner_test_mismatches Mismatches seen (counted by the vouchers collector).\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("tencentcloud_partner_test_mismatches_total{account=\"a\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("tencentcloud_partner_test_mismatches_total{account=\"b\"} 0\n"),
            "{text}"
        );
    }
}
