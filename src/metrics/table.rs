//! A collector's metrics, declared as data: each family's name, HELP, unit,
//! labels and value, read from the collector's snapshot or from each of its
//! rows. One encoder writes every collector's families from its [`Table`].

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

/// The unit of a family, which the encoder appends to its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    None,
    Usd,
    Seconds,
}

static USD: LazyLock<prometheus_client::registry::Unit> =
    LazyLock::new(|| prometheus_client::registry::Unit::Other("usd".into()));

impl Unit {
    fn encoded(self) -> Option<&'static prometheus_client::registry::Unit> {
        match self {
            Unit::None => None,
            Unit::Usd => Some(&USD),
            Unit::Seconds => Some(&prometheus_client::registry::Unit::Seconds),
        }
    }
}

/// Label names and values of one sample, after the `account` label.
pub type Labels<'a> = Vec<(&'static str, Cow<'a, str>)>;

/// What the operator chose to export beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--customer.export-names`.
    pub export_names: bool,
}

/// One gauge family, read from values of type `R` (a snapshot or a row).
pub struct Metric<R> {
    /// The name after the `tencentcloud_partner_` prefix, before the unit.
    pub name: &'static str,
    /// What the value is; the encoder adds that it is cached and by which collector.
    pub help: &'static str,
    pub unit: Unit,
    pub labels: for<'a> fn(&'a R, Options) -> Labels<'a>,
    /// The value; `None` leaves this sample out (a field the API left empty).
    pub value: fn(&R) -> Option<f64>,
}

/// No labels but the account.
pub fn no_labels<R>(_: &R, _: Options) -> Labels<'_> {
    Vec::new()
}

/// Every metric of a collector: families of its whole snapshot `S` first,
/// then families with one sample per row `R`.
pub struct Table<S: 'static, R: 'static> {
    pub whole: &'static [Metric<S>],
    pub rows: fn(&S) -> &[R],
    pub each: &'static [Metric<R>],
}

/// Who a family's samples belong to and how its HELP ends.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub account: &'a str,
    /// The collector's name, for the HELP text.
    pub collector: &'a str,
    pub options: Options,
}

impl<S, R> Table<S, R> {
    /// Writes every family of `snapshot` that has at least one sample.
    pub fn encode(&self, snapshot: &S, encoder: &mut DescriptorEncoder, ctx: Scope<'_>) -> fmt::Result {
        for metric in self.whole {
            encode_family(encoder, metric, std::slice::from_ref(snapshot), ctx)?;
        }
        let rows = (self.rows)(snapshot);
        for metric in self.each {
            encode_family(encoder, metric, rows, ctx)?;
        }
        Ok(())
    }
}

fn encode_family<R>(encoder: &mut DescriptorEncoder, metric: &Metric<R>, rows: &[R], ctx: Scope<'_>) -> fmt::Result {
    let mut samples = rows
        .iter()
        .filter_map(|row| Some((row, (metric.value)(row)?)))
        .peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    // No interval here: accounts may refresh at different intervals, and a
    // family has one HELP. refresh_interval_seconds tells each.
    let help = format!(
        "{} (cached; refreshed by the {} collector).",
        metric.help, ctx.collector
    );
    let mut family = encoder.encode_descriptor(metric.name, &help, metric.unit.encoded(), MetricType::Gauge)?;
    for (row, value) in samples {
        let mut labels: Labels<'_> = vec![("account", Cow::Borrowed(ctx.account))];
        labels.extend(
            (metric.labels)(row, ctx.options)
                .into_iter()
                .map(|(name, value)| (name, capped(value))),
        );
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The longest label value exported, in bytes: a customer's remark can be
/// 100 KB, and a Prometheus with `label_value_length_limit` rejects a whole
/// scrape for one value over its limit.
pub const LABEL_VALUE_CAP: usize = 1024;
/// What ends a label value cut to [`LABEL_VALUE_CAP`].
pub const CUT_MARKER: &str = "…[cut]";

/// Label values cut, at every encoding of a publication that holds them.
pub static LABEL_VALUES_CUT: LazyLock<prometheus_client::metrics::counter::Counter> = LazyLock::new(Default::default);

/// `value`, or its first bytes up to [`LABEL_VALUE_CAP`] with the marker,
/// cut at a character's boundary.
fn capped(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.len() <= LABEL_VALUE_CAP {
        return value;
    }
    LABEL_VALUES_CUT.inc();
    let mut end = LABEL_VALUE_CAP - CUT_MARKER.len();
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CUT_MARKER}", &value[..end]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_label_value_beyond_the_cap_is_cut_at_a_character_with_a_marker() {
        assert_eq!(capped(Cow::Borrowed("short")), "short");
        let long = "é".repeat(2000);
        let cut = capped(Cow::Borrowed(&long));
        assert!(cut.len() <= LABEL_VALUE_CAP, "{}", cut.len());
        assert!(cut.ends_with(CUT_MARKER));
        assert!(long.starts_with(cut.trim_end_matches(CUT_MARKER)));
    }

    /// The exposition of `snapshot` by `table`, account `a`, as a collector's tests check it.
    pub(crate) fn exposition<S: Clone + Send + Sync, R: Sync>(
        table: &'static Table<S, R>,
        snapshot: &S,
        collector: &'static str,
    ) -> String {
        exposition_with(table, snapshot, collector, Options::default())
    }

    /// [`exposition`] with `options`.
    pub(crate) fn exposition_with<S: Clone + Send + Sync, R: Sync>(
        table: &'static Table<S, R>,
        snapshot: &S,
        collector: &'static str,
        options: Options,
    ) -> String {
        struct One<S: 'static, R: 'static> {
            table: &'static Table<S, R>,
            snapshot: S,
            collector: &'static str,
            options: Options,
        }
        impl<S, R> fmt::Debug for One<S, R> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("One")
            }
        }
        impl<S: Send + Sync, R: Sync> prometheus_client::collector::Collector for One<S, R> {
            fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
                let scope = Scope {
                    account: "a",
                    collector: self.collector,
                    options: self.options,
                };
                self.table.encode(&self.snapshot, &mut encoder, scope)
            }
        }
        let mut registry = prometheus_client::registry::Registry::with_prefix(crate::metrics::PREFIX);
        registry.register_collector(Box::new(One {
            table,
            snapshot: snapshot.clone(),
            collector,
            options,
        }));
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &registry).unwrap();
        text
    }
}
