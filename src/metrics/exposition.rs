//! Turns snapshots into metric families, once, when a collector publishes
//! one ([`Renderer`]). No I/O.

use super::block::Block;
use crate::snapshot::{Kind, Snapshot};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Encodes one account's published snapshots into exposition families.
#[derive(Debug, Clone)]
pub struct Renderer {
    /// The `account` label of every series.
    account: Arc<str>,
    /// `--customer.export-names`.
    export_names: bool,
}

/// One published snapshot, its exposition, and when it was taken.
#[derive(Debug)]
pub struct Published {
    pub snapshot: Arc<Snapshot>,
    /// The snapshot's metric families, encoded once when it was published.
    pub families: Vec<Family>,
    /// When the refresh that produced it completed.
    pub at: SystemTime,
}

/// One metric family of a snapshot, encoded: its descriptor (`# HELP`,
/// `# TYPE`, `# UNIT`) apart from its samples, so a scrape can write the
/// descriptor once and the samples of every account after it.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub header: Block,
    /// The descriptor without `# UNIT`, for the classic text format.
    pub classic_header: bytes::Bytes,
    pub samples: Block,
}

/// Splits OpenMetrics text into its families, sharing the text rather than
/// copying it (a snapshot of 50,000 vouchers is tens of megabytes).
fn families(text: String) -> Vec<Family> {
    let all = bytes::Bytes::from(text);
    let text = std::str::from_utf8(&all).expect("the encoder writes UTF-8");
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let rest = &text[start..];
        // A family starts with `# HELP name`; its samples end where the next one starts.
        let end = rest[1..].find("\n# HELP ").map_or(rest.len(), |i| i + 2);
        let family = &rest[..end];
        let samples_at = family
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| !family[i..].starts_with("# "))
            .unwrap_or(family.len());
        let header = &family[..samples_at];
        let name = header
            .strip_prefix("# HELP ")
            .and_then(|h| h.split(' ').next())
            .unwrap_or_default()
            .to_owned();
        let classic: String = header
            .split_inclusive('\n')
            .filter(|l| !l.starts_with("# UNIT "))
            .collect();
        out.push(Family {
            name,
            header: Block::from_bytes(all.slice(start..start + samples_at)),
            classic_header: bytes::Bytes::from(classic),
            samples: Block::from_bytes(all.slice(start + samples_at..start + end)),
        });
        start += end;
    }
    out
}

static USD: std::sync::LazyLock<Unit> = std::sync::LazyLock::new(|| Unit::Other("usd".into()));

/// Writes one gauge family, unless it has no samples.
pub fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// `t` as unix seconds.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs_f64()
}

impl Renderer {
    /// A renderer of `account`'s snapshots.
    pub fn new(account: &str, export_names: bool) -> Self {
        Self {
            account: account.into(),
            export_names,
        }
    }

    /// The account whose snapshots this renders.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// `snapshot`'s metric families, encoded.
    pub fn render(&self, snapshot: &Arc<Snapshot>) -> Vec<Family> {
        let mut registry = Registry::with_prefix(super::PREFIX);
        registry.register_collector(Box::new(OneSnapshot {
            renderer: self.clone(),
            snapshot: snapshot.clone(),
        }));
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &registry)
            .expect("writing to a String cannot fail");
        families(text)
    }

    fn help(&self, what: &str, kind: Kind) -> String {
        // No interval here: accounts may refresh at different intervals, and
        // a family has one HELP. refresh_interval_seconds tells each.
        format!("{what} (cached; refreshed by the {kind} collector).")
    }

    /// Writes one gauge family with the account label before the others.
    fn gauges<L: EncodeLabelSet>(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        samples: impl IntoIterator<Item = (L, f64)>,
    ) -> fmt::Result {
        let account = [("account", &*self.account)];
        gauges(
            encoder,
            name,
            help,
            unit,
            samples.into_iter().map(|(labels, value)| ((account, labels), value)),
        )
    }

    /// Writes one gauge family whose only label is the account, if it has a value.
    fn gauge(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        value: Option<f64>,
    ) -> fmt::Result {
        let no_more_labels: [(&str, &str); 0] = [];
        self.gauges(encoder, name, help, unit, value.map(|v| (no_more_labels, v)))
    }

    fn encode_partner(&self, e: &mut DescriptorEncoder, p: &crate::snapshot::PartnerSnapshot) -> fmt::Result {
        let k = Kind::Partner;
        self.gauge(
            e,
            "credit",
            &self.help("Total credit of the partner in USD", k),
            Some(&USD),
            p.total,
        )?;
        self.gauge(
            e,
            "credit_allocated",
            &self.help("Credit the partner has allocated to customers in USD", k),
            Some(&USD),
            p.allocated,
        )?;
        self.gauge(
            e,
            "credit_remaining",
            &self.help("Credit the partner has left to allocate in USD", k),
            Some(&USD),
            p.remaining,
        )?;
        self.gauge(
            e,
            "customers_credit",
            &self.help("Credit allocated to all customers in USD", k),
            Some(&USD),
            p.customers_total,
        )?;
        self.gauge(
            e,
            "customers_credit_remaining",
            &self.help("Credit all customers have left in USD", k),
            Some(&USD),
            p.customers_remaining,
        )
    }

    fn encode_customers(&self, e: &mut DescriptorEncoder, c: &crate::snapshot::CustomersSnapshot) -> fmt::Result {
        let k = Kind::Customers;
        self.gauge(
            e,
            "customers",
            &self.help("Number of customers bound to the partner", k),
            None,
            Some(c.total as f64),
        )?;
        let uins: Vec<String> = c.customers.iter().map(|c| c.uin.to_string()).collect();
        let rows = || c.customers.iter().zip(&uins);
        self.gauges(
            e,
            "customer_credit",
            &self.help("Credit allocated to the customer in USD", k),
            Some(&USD),
            rows().filter_map(|(c, uin)| Some(([("customer_uin", uin.as_str())], c.credit?))),
        )?;
        self.gauges(
            e,
            "customer_credit_remaining",
            &self.help("Credit the customer has left in USD", k),
            Some(&USD),
            rows().filter_map(|(c, uin)| Some(([("customer_uin", uin.as_str())], c.remaining?))),
        )?;
        self.gauges(
            e,
            "customer_credit_expiry_timestamp",
            &self.help(
                "Unix time of the customer's RecentExpiry, which Tencent's SDK documents as \"Expiration time\"",
                k,
            ),
            Some(&Unit::Seconds),
            rows().filter_map(|(c, uin)| Some(([("customer_uin", uin.as_str())], c.expiry?))),
        )?;
        let info = rows().map(|(c, uin)| {
            let mut labels = vec![
                ("customer_uin", uin.as_str()),
                ("remark", c.remark.as_str()),
                ("customer_type", c.customer_type.as_str()),
                ("identify_type", c.identify_type.as_str()),
            ];
            if self.export_names {
                labels.push(("name", c.name.as_str()));
            }
            (labels, 1.0)
        });
        self.gauges(
            e,
            "customer_info",
            &self.help("Descriptive labels of the customer, value 1", k),
            None,
            info,
        )
    }

    fn encode_allocations(&self, e: &mut DescriptorEncoder, a: &crate::snapshot::AllocationsSnapshot) -> fmt::Result {
        let k = Kind::Allocations;
        let uins: Vec<String> = a.rows.iter().map(|r| r.uin.to_string()).collect();
        let rows = || a.rows.iter().zip(&uins);
        self.gauges(
            e,
            "customer_credit_allocations",
            &self.help("Number of credit allocations the customer has received", k),
            None,
            rows().map(|(r, uin)| ([("customer_uin", uin.as_str())], r.count as f64)),
        )?;
        self.gauges(
            e,
            "customer_credit_last_allocation_timestamp",
            &self.help("Unix time of the customer's newest credit allocation", k),
            Some(&Unit::Seconds),
            rows().filter_map(|(r, uin)| Some(([("customer_uin", uin.as_str())], r.last_time?))),
        )?;
        self.gauges(
            e,
            "customer_credit_last_allocation",
            &self.help("Credit of the customer's newest allocation in USD", k),
            Some(&USD),
            rows().filter_map(|(r, uin)| Some(([("customer_uin", uin.as_str())], r.last_credit?))),
        )
    }

    fn encode_vouchers(&self, e: &mut DescriptorEncoder, v: &crate::snapshot::VouchersSnapshot) -> fmt::Result {
        let k = Kind::Vouchers;
        let ids: Vec<(String, String)> = v
            .rows
            .iter()
            .map(|r| (r.customer_uin.to_string(), r.voucher_id.to_string()))
            .collect();
        let rows = || v.rows.iter().zip(&ids);
        let labels = |(uin, id): &'_ (String, String)| [("customer_uin", uin.clone()), ("voucher_id", id.clone())];
        self.gauges(
            e,
            "voucher_amount",
            &self.help("Face value of the voucher in USD", k),
            Some(&USD),
            rows().filter_map(|(r, ids)| Some((labels(ids), r.amount?))),
        )?;
        self.gauges(
            e,
            "voucher_remaining",
            &self.help("Balance left on the voucher in USD", k),
            Some(&USD),
            rows().filter_map(|(r, ids)| Some((labels(ids), r.remaining?))),
        )?;
        self.gauges(
            e,
            "voucher_usage_records",
            &self.help("Number of charges made against the voucher", k),
            None,
            rows().filter_map(|(r, ids)| Some((labels(ids), r.usage_records? as f64))),
        )?;
        self.gauges(
            e,
            "voucher_expiry_timestamp",
            &self.help("Unix time at which the voucher expires", k),
            Some(&Unit::Seconds),
            rows().filter_map(|(r, ids)| Some((labels(ids), r.expiry?))),
        )?;
        let info = rows().map(|(r, (uin, id))| {
            (
                [
                    ("customer_uin", uin.as_str()),
                    ("voucher_id", id.as_str()),
                    ("status", r.status.as_str()),
                    ("usage", r.usage.as_str()),
                    ("payment_mode", r.payment_mode.as_str()),
                    ("product_scope", r.product_scope.as_str()),
                ],
                1.0,
            )
        });
        self.gauges(
            e,
            "voucher_info",
            &self.help("Descriptive labels of the voucher, value 1", k),
            None,
            info,
        )
    }
}

/// One snapshot, as a prometheus-client collector for [`Renderer::render`].
#[derive(Debug)]
struct OneSnapshot {
    renderer: Renderer,
    snapshot: Arc<Snapshot>,
}

impl Collector for OneSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let r = &self.renderer;
        match &*self.snapshot {
            Snapshot::Partner(p) => r.encode_partner(&mut encoder, p),
            Snapshot::Customers(c) => r.encode_customers(&mut encoder, c),
            Snapshot::Allocations(a) => r.encode_allocations(&mut encoder, a),
            Snapshot::Vouchers(v) => r.encode_vouchers(&mut encoder, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_split_descriptors_from_samples_and_rejoin_to_the_text() {
        let text = "# HELP a_usd First.\n# TYPE a_usd gauge\n# UNIT a_usd usd\na_usd{account=\"x\"} 1.0\n\
                    # HELP b Second.\n# TYPE b gauge\nb{account=\"x\",k=\"v\"} 2.0\nb{account=\"x\",k=\"w\"} 3.0\n";
        let families = families(text.to_owned());
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a_usd", "b"]);
        let rejoined: Vec<u8> = families
            .iter()
            .flat_map(|f| [f.header.text.clone(), f.samples.text.clone()])
            .flat_map(|b| b.to_vec())
            .collect();
        assert_eq!(String::from_utf8(rejoined).unwrap(), text);
        assert_eq!(&families[0].samples.text[..], b"a_usd{account=\"x\"} 1.0\n");
        assert_eq!(
            &families[0].classic_header[..],
            b"# HELP a_usd First.\n# TYPE a_usd gauge\n"
        );
    }
}
