//! `partner`: the partner's own credit, from QueryPartnerCredit.

use crate::api::actions::{Empty, QueryPartnerCredit};
use crate::metrics::table::{Metric, Table, Unit, no_labels};
use crate::refresh::{Collected, Collector, Context, Error};
use crate::snapshot::PartnerSnapshot;
use std::time::Duration;

/// What the partner collector exports: one series each, with the account label only.
pub const METRICS: Table<PartnerSnapshot, ()> = Table {
    whole: &[
        usd("credit", "Total credit of the partner in USD", |p| p.total),
        usd(
            "credit_allocated",
            "Credit the partner has allocated to customers in USD",
            |p| p.allocated,
        ),
        usd(
            "credit_remaining",
            "Credit the partner has left to allocate in USD",
            |p| p.remaining,
        ),
        usd("customers_credit", "Credit allocated to all customers in USD", |p| {
            p.customers_total
        }),
        usd(
            "customers_credit_remaining",
            "Credit all customers have left in USD",
            |p| p.customers_remaining,
        ),
    ],
    rows: |_| &[],
    each: &[],
};

const fn usd(
    name: &'static str,
    help: &'static str,
    value: fn(&PartnerSnapshot) -> Option<f64>,
) -> Metric<PartnerSnapshot> {
    Metric {
        name,
        help,
        unit: Unit::Usd,
        labels: no_labels,
        value,
    }
}

/// Refreshes [`PartnerSnapshot`] with one call.
#[derive(Debug, Default)]
pub struct Partner;

impl Collector for Partner {
    type Rows = PartnerSnapshot;
    type Row = ();
    const METRICS: Table<PartnerSnapshot, ()> = METRICS;
    const ABOUT: &'static str = "the partner's own credit";
    const INTERVAL: Duration = Duration::from_secs(60);

    fn start(_: Option<&PartnerSnapshot>) -> Self {
        Partner
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<PartnerSnapshot, Error> {
        let credit = ctx.call::<QueryPartnerCredit>(&Empty {}).await?;
        Ok(PartnerSnapshot {
            total: credit.total_credit,
            allocated: credit.allocated_credit,
            remaining: credit.remaining_credit,
            customers_total: credit.customer_total_credit,
            customers_remaining: credit.customer_remaining_credit,
        })
    }
}

impl Collected for PartnerSnapshot {
    type By = Partner;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    #[test]
    fn exports_each_credit_figure_once() {
        let snapshot = PartnerSnapshot {
            total: Some(1050.1),
            allocated: Some(50.0),
            remaining: Some(1000.1),
            customers_total: Some(50.0),
            customers_remaining: Some(12.34),
        };
        let text = exposition(&METRICS, &snapshot, "partner");
        assert!(text.contains("tencentcloud_partner_credit_usd{account=\"a\"} 1050.1\n"));
        assert!(text.contains("tencentcloud_partner_credit_allocated_usd{account=\"a\"} 50.0\n"));
        assert!(text.contains("tencentcloud_partner_credit_remaining_usd{account=\"a\"} 1000.1\n"));
        assert!(text.contains("tencentcloud_partner_customers_credit_usd{account=\"a\"} 50.0\n"));
        assert!(text.contains("tencentcloud_partner_customers_credit_remaining_usd{account=\"a\"} 12.34\n"));
        assert!(text.contains("# HELP tencentcloud_partner_credit_usd Total credit of the partner in USD (cached; refreshed by the partner collector).\n"));
    }

    #[test]
    fn a_figure_the_api_left_out_is_not_exported() {
        let snapshot = PartnerSnapshot {
            remaining: Some(7.0),
            ..Default::default()
        };
        let text = exposition(&METRICS, &snapshot, "partner");
        assert!(text.contains("tencentcloud_partner_credit_remaining_usd{account=\"a\"} 7.0\n"));
        assert!(!text.contains("tencentcloud_partner_credit_usd"), "{text}");
        assert_eq!(text.matches("# HELP").count(), 1, "{text}");
    }
}
