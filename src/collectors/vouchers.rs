//! `vouchers`: every voucher of every customer. DescribeCustomerVoucherList
//! (all pages) discovers the vouchers and their labels; then
//! DescribeCustomerVoucherUsageDetails gives each one's amounts and usage count.

use super::{Collector, Context, Error, Page, walk_pages};
use crate::api::Action;
use crate::api::actions::{
    DescribeCustomerVoucherList, DescribeCustomerVoucherUsageDetails, VoucherListRequest, VoucherUsageRequest,
};
use crate::snapshot::{Kind, Snapshot, VoucherRow, VouchersSnapshot};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashSet;

/// Vouchers per DescribeCustomerVoucherList page (the documented maximum).
const PAGE_SIZE: u64 = 100;
/// Usage-detail calls at once; the rate limiter (20/s) paces them.
const VOUCHERS_IN_FLIGHT: usize = 16;

/// Refreshes [`VouchersSnapshot`].
#[derive(Debug, Default)]
pub struct Vouchers;

impl Collector for Vouchers {
    const KIND: Kind = Kind::Vouchers;

    async fn refresh(&mut self, ctx: &Context) -> Result<Snapshot, Error> {
        let mut rows = list(ctx).await?;
        if let Some(uins) = &ctx.shared.customer_uins {
            let wanted: HashSet<u64> = uins.iter().copied().collect();
            rows.retain(|v| wanted.contains(&v.customer_uin));
        }
        let mut rows: Vec<VoucherRow> = futures::stream::iter(rows)
            .map(|row| with_usage(ctx, row))
            .buffer_unordered(VOUCHERS_IN_FLIGHT)
            .try_collect()
            .await?;
        rows.sort_by_key(|r| (r.customer_uin, r.voucher_id));
        Ok(Snapshot::Vouchers(VouchersSnapshot { rows }))
    }
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
