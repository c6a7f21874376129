//! `vouchers`: every voucher of every customer. DescribeCustomerVoucherList
//! (all pages) discovers the vouchers and their labels; then
//! DescribeCustomerVoucherUsageDetails gives each one's amounts and usage count.

use super::{Collected, Collector, Context, Error, Page, walk_pages};
use crate::api::Action;
use crate::api::actions::{
    DescribeCustomerVoucherList, DescribeCustomerVoucherUsageDetails, VoucherListRequest, VoucherUsageRequest,
};
use crate::metrics::table::{Labels, Metric, Options, Table, Unit};
use crate::snapshot::{VoucherRow, VouchersSnapshot};
use futures::{StreamExt, TryStreamExt};
use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

/// What the vouchers collector exports, per voucher.
pub const METRICS: Table<VouchersSnapshot, VoucherRow> = Table {
    whole: &[],
    rows: |s| &s.rows,
    each: &[
        Metric {
            name: "voucher_amount",
            help: "Face value of the voucher in USD",
            unit: Unit::Usd,
            labels: voucher,
            value: |v| v.amount,
        },
        Metric {
            name: "voucher_remaining",
            help: "Balance left on the voucher in USD",
            unit: Unit::Usd,
            labels: voucher,
            value: |v| v.remaining,
        },
        Metric {
            name: "voucher_usage_records",
            help: "Number of charges made against the voucher",
            unit: Unit::None,
            labels: voucher,
            value: |v| v.usage_records.map(|n| n as f64),
        },
        Metric {
            name: "voucher_expiry_timestamp",
            help: "Unix time at which the voucher expires",
            unit: Unit::Seconds,
            labels: voucher,
            value: |v| v.expiry,
        },
        Metric {
            name: "voucher_info",
            help: "Descriptive labels of the voucher, value 1",
            unit: Unit::None,
            labels: voucher_info,
            value: |_| Some(1.0),
        },
    ],
};

fn voucher(v: &VoucherRow, _: Options) -> Labels<'_> {
    vec![
        ("customer_uin", Cow::Owned(v.customer_uin.to_string())),
        ("voucher_id", Cow::Owned(v.voucher_id.to_string())),
    ]
}

fn voucher_info(v: &VoucherRow, options: Options) -> Labels<'_> {
    let mut labels = voucher(v, options);
    labels.extend([
        ("status", Cow::Borrowed(v.status.as_str())),
        ("usage", Cow::Borrowed(v.usage.as_str())),
        ("payment_mode", Cow::Borrowed(v.payment_mode.as_str())),
        ("product_scope", Cow::Borrowed(v.product_scope.as_str())),
    ]);
    labels
}

/// Vouchers per DescribeCustomerVoucherList page (the documented maximum).
const PAGE_SIZE: u64 = 100;
/// Usage-detail calls at once; the rate limiter (20/s) paces them.
const VOUCHERS_IN_FLIGHT: usize = 16;

/// Refreshes [`VouchersSnapshot`].
#[derive(Debug, Default)]
pub struct Vouchers;

impl Collector for Vouchers {
    type Rows = VouchersSnapshot;
    type Row = VoucherRow;
    const METRICS: Table<VouchersSnapshot, VoucherRow> = METRICS;
    const ABOUT: &'static str = "the customers' vouchers";
    const INTERVAL: Duration = Duration::from_secs(15 * 60);

    fn start(_: Option<&VouchersSnapshot>) -> Self {
        Vouchers
    }

    async fn refresh(&mut self, ctx: &Context) -> Result<VouchersSnapshot, Error> {
        let mut rows = list(ctx).await?;
        if let Some(uins) = ctx.customer_uins() {
            let wanted: HashSet<u64> = uins.iter().copied().collect();
            rows.retain(|v| wanted.contains(&v.customer_uin));
        }
        let mut rows: Vec<VoucherRow> = futures::stream::iter(rows)
            .map(|row| with_usage(ctx, row))
            .buffer_unordered(VOUCHERS_IN_FLIGHT)
            .try_collect()
            .await?;
        rows.sort_by_key(|r| (r.customer_uin, r.voucher_id));
        Ok(VouchersSnapshot { rows })
    }
}

impl Collected for VouchersSnapshot {
    type By = Vouchers;
}

async fn list(ctx: &Context) -> Result<Vec<VoucherRow>, Error> {
    walk_pages(
        DescribeCustomerVoucherList::NAME,
        PAGE_SIZE,
        |row: &VoucherRow| row.voucher_id,
        |page, page_size| async move {
            let request = VoucherListRequest {
                page,
                page_size,
                ..Default::default()
            };
            let answer = ctx.call::<DescribeCustomerVoucherList>(&request).await?;
            Ok(Page::of(answer.total_count, answer.data, |v| {
                Some(VoucherRow {
                    customer_uin: v.customer_uin?,
                    voucher_id: v.voucher_id?,
                    status: v.voucher_status.unwrap_or_default(),
                    usage: v.usage.unwrap_or_default(),
                    payment_mode: v.payment_mode.unwrap_or_default(),
                    product_scope: v.product_scope.unwrap_or_default(),
                    amount: v.total_amount,
                    remaining: v.remaining_amount,
                    usage_records: None,
                    expiry: ctx.timestamp(v.expire_time.as_deref()),
                })
            }))
        },
    )
    .await
}

/// Fills in the amounts from the usage details; the list's values stand where
/// the details leave a field out.
async fn with_usage(ctx: &Context, mut row: VoucherRow) -> Result<VoucherRow, Error> {
    let request = VoucherUsageRequest {
        page: 1,
        page_size: 1,
        customer_uin: row.customer_uin,
        voucher_id: row.voucher_id,
        month: None,
    };
    let usage = ctx.call::<DescribeCustomerVoucherUsageDetails>(&request).await?;
    row.amount = usage.total_amount.or(row.amount);
    row.remaining = usage.remain_amount.or(row.remaining);
    row.usage_records = usage.total_records_count;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::table::tests::exposition;

    #[test]
    fn exports_each_voucher_by_customer_and_id() {
        let snapshot = VouchersSnapshot {
            rows: vec![
                VoucherRow {
                    customer_uin: 100,
                    voucher_id: 7,
                    status: "Issued".into(),
                    usage: "CustomerOffer".into(),
                    payment_mode: "AllPayment".into(),
                    product_scope: "AllProducts".into(),
                    amount: Some(100.0),
                    remaining: Some(12.5),
                    usage_records: Some(4),
                    expiry: Some(1_700_000_000.0),
                },
                // Every value the API may leave out, left out.
                VoucherRow {
                    customer_uin: 100,
                    voucher_id: 8,
                    ..Default::default()
                },
            ],
        };
        let text = exposition(&METRICS, &snapshot, "vouchers");
        for line in [
            "tencentcloud_partner_voucher_amount_usd{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 100.0\n",
            "tencentcloud_partner_voucher_remaining_usd{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 12.5\n",
            "tencentcloud_partner_voucher_usage_records{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 4.0\n",
            "tencentcloud_partner_voucher_expiry_timestamp_seconds{account=\"a\",customer_uin=\"100\",voucher_id=\"7\"} 1700000000.0\n",
            "tencentcloud_partner_voucher_info{account=\"a\",customer_uin=\"100\",voucher_id=\"7\",status=\"Issued\",usage=\"CustomerOffer\",payment_mode=\"AllPayment\",product_scope=\"AllProducts\"} 1.0\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(text.matches("voucher_id=\"8\"").count(), 1, "only its info: {text}");
    }
}
