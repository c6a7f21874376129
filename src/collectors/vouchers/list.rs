//! What the vouchers collector lists, and for how long an ended voucher is
//! exported. DescribeCustomerVoucherList holds every voucher ever issued:
//! used, expired and withdrawn ones stay in it for good. So a refresh walks
//! the vouchers still in use (`VoucherStatus` Issued) and reads by its id
//! each one that left them since; every voucher is walked once per
//! `--refresh.vouchers-full-interval`. A voucher that ended is exported for
//! `--vouchers.ended-retention` after it ended, then left out, and its usage
//! details are not read again. Nothing here reads usage details.

use crate::api::Action;
use crate::api::actions::{DescribeCustomerVoucherList, Voucher, VoucherListRequest};
use crate::metrics::counters::CounterDef;
use crate::refresh::{Context, Error, Page, Walked, walk, walk_checked};
use crate::snapshot::{VoucherRow, VouchersSnapshot};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// Vouchers per DescribeCustomerVoucherList page (the documented maximum).
const PAGE_SIZE: u64 = 100;
/// The listing's status of a voucher that can still be used.
const IN_USE: &str = "Issued";
/// Calls at once for the vouchers that left the ones in use.
const IN_FLIGHT: usize = 8;

/// Counted when a voucher list came back empty or much shorter than the last.
pub static LIST_RECHECKS: CounterDef = CounterDef {
    name: "voucher_list_rechecks",
    help: "Voucher lists read again before publishing, because one came back empty or under half as long as the \
           last: the second read is published",
};

/// Whether a voucher of `status` can no longer be used: used up, expired or
/// withdrawn.
pub fn has_ended(status: &str) -> bool {
    matches!(status, "Used" | "Expired" | "Invalidated")
}

/// When `row` ended, in unix seconds, as closely as the listing tells: it
/// gives no end time, so it is when the exporter first saw it ended
/// (`seen`, from the row served or the memory of those aged out), or its
/// expiry if earlier. A voucher used up or withdrawn before it expired ended
/// no later than that.
pub fn ended_at(row: &VoucherRow, seen: Option<f64>, now: f64) -> Option<f64> {
    if !has_ended(&row.status) {
        return None;
    }
    let seen = seen.unwrap_or(now);
    Some(row.expiry.map_or(seen, |expiry| expiry.min(seen)))
}

/// Whether `row` is still exported: in use, or ended less than `retention` ago.
pub fn retained(row: &VoucherRow, now: f64, retention: Duration) -> bool {
    row.ended.is_none_or(|ended| now - ended < retention.as_secs_f64())
}

/// What a refresh listed, and whether it walked every voucher.
pub struct Listed {
    pub rows: Vec<VoucherRow>,
    pub walked_all: bool,
}

/// The vouchers listed: every one when `all` is due or nothing was listed
/// before; otherwise those in use, each that left them since `last` read by
/// its id, and the ended ones of `last` as they were.
pub async fn read(ctx: &Context, last: Option<&VouchersSnapshot>, all: bool) -> Result<Listed, Error> {
    let last_rows = last.map_or(&[][..], |s| &s.rows[..]);
    if all || last.is_none() {
        return walk_all(ctx, last.map(|s| s.rows.len())).await;
    }
    let in_use = |row: &&VoucherRow| &*row.status == IN_USE;
    let last_in_use = last_rows.iter().filter(in_use).count();
    let mut rows = walk_checked(ctx, &LIST_RECHECKS, Some(last_in_use), || {
        wanted(ctx, Some(IN_USE), last_in_use)
    })
    .await?
    .items;
    let listed: HashSet<u64> = rows.iter().map(|row| row.voucher_id).collect();
    let left: Vec<VoucherRow> = last_rows
        .iter()
        .filter(in_use)
        .filter(|row| !listed.contains(&row.voucher_id))
        .cloned()
        .collect();
    // Reading each by its id costs a call each; walking every voucher, a call a page.
    if left.len() as u64 > pages(last_rows.len()) {
        return walk_all(ctx, Some(last_rows.len())).await;
    }
    let found: Vec<ById> = futures::stream::iter(left)
        .map(|row| one(ctx, row))
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    // A voucher refused by its id (its customer unbound, or the id not
    // taken) is settled by the walk of every voucher, which lists it as it
    // is, or not at all: after it, it is no longer one to read by its id.
    if found.iter().any(|by_id| matches!(by_id, ById::Refused)) {
        tracing::debug!(collector = %ctx.kind(), "a voucher was refused by its id; walking every voucher instead");
        return walk_all(ctx, Some(last_rows.len())).await;
    }
    rows.extend(found.into_iter().filter_map(|by_id| match by_id {
        ById::Listed(row) => row,
        ById::Refused => None,
    }));
    let ended = last_rows
        .iter()
        .filter(|row| !in_use(row) && !listed.contains(&row.voucher_id))
        .map(as_listed);
    rows.extend(ended);
    Ok(Listed {
        rows,
        walked_all: false,
    })
}

/// Every voucher listed, ended ones included.
async fn walk_all(ctx: &Context, last: Option<usize>) -> Result<Listed, Error> {
    let known = last.unwrap_or_default();
    let rows = walk_checked(ctx, &LIST_RECHECKS, last, || wanted(ctx, None, known))
        .await?
        .items;
    Ok(Listed { rows, walked_all: true })
}

fn pages(vouchers: usize) -> u64 {
    (vouchers as u64).div_ceil(PAGE_SIZE).max(1)
}

/// The vouchers listed (those of `status` only, when given), of the
/// customers of `--customers.uins` when it is set; `known` is how many were
/// listed last time.
async fn wanted(ctx: &Context, status: Option<&str>, known: usize) -> Result<Walked<VoucherRow>, Error> {
    let mut listed = walk(
        ctx,
        DescribeCustomerVoucherList::NAME,
        PAGE_SIZE,
        known,
        |row: &VoucherRow| row.voucher_id,
        |page, page_size| async move {
            let request = VoucherListRequest {
                page,
                page_size,
                voucher_status: status.map(String::from),
                ..Default::default()
            };
            let answer = ctx.call::<DescribeCustomerVoucherList>(&request).await?;
            Ok(Page::of(answer.total_count, answer.data, |v| row_of(ctx, v)))
        },
    )
    .await?;
    if let Some(uins) = ctx.customer_uins() {
        let wanted: HashSet<u64> = uins.iter().copied().collect();
        listed.items.retain(|v| wanted.contains(&v.customer_uin));
    }
    Ok(listed)
}

/// What reading a voucher by its id told.
enum ById {
    /// As the listing now shows it; `None` when it no longer holds it.
    Listed(Option<VoucherRow>),
    /// Refused by the API (counted and logged).
    Refused,
}

/// A voucher that left those in use, read by its id.
async fn one(ctx: &Context, last: VoucherRow) -> Result<ById, Error> {
    let request = VoucherListRequest {
        page: 1,
        page_size: PAGE_SIZE,
        customer_uin: Some(last.customer_uin),
        voucher_id: Some(last.voucher_id),
        ..Default::default()
    };
    match ctx.call::<DescribeCustomerVoucherList>(&request).await {
        Ok(answer) => Ok(ById::Listed(
            answer
                .data
                .into_iter()
                .filter_map(|v| row_of(ctx, v))
                .find(|row| (row.customer_uin, row.voucher_id) == (last.customer_uin, last.voucher_id)),
        )),
        Err(error) => {
            let error = Error::from(error);
            let Some(code) = error.item_refusal() else {
                return Err(error);
            };
            ctx.refused(last.voucher_id, &code, &error);
            Ok(ById::Refused)
        }
    }
}

/// A voucher as the listing gives it; `None` without its customer or id.
fn row_of(ctx: &Context, v: Voucher) -> Option<VoucherRow> {
    Some(VoucherRow {
        customer_uin: v.customer_uin?,
        voucher_id: v.voucher_id?,
        status: label(v.voucher_status),
        usage: label(v.usage),
        payment_mode: label(v.payment_mode),
        product_scope: label(v.product_scope),
        amount: v.total_amount,
        remaining: v.remaining_amount,
        usage_records: None,
        expiry: ctx.timestamp(v.expire_time.as_deref()),
        listed_remaining: None,
        ended: None,
        details_refused: 0,
    })
}

/// The values of the vouchers' descriptive labels, each held once: they take
/// a handful of values (statuses, usages, payment modes, scopes), and a
/// string for each label of each of 50,000 vouchers was 6 MB.
static LABEL_VALUES: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(Mutex::default);
/// Past this many values (an API answering with a value per voucher), a
/// value is held by its voucher alone: the set stays bounded.
const LABEL_VALUES_AT_MOST: usize = 1024;

/// `value` (empty when left out), shared with every voucher of that value.
fn label(value: Option<String>) -> Arc<str> {
    let value = value.unwrap_or_default();
    let mut values = LABEL_VALUES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = values.get(value.as_str()) {
        return shared.clone();
    }
    let value: Arc<str> = value.into();
    if values.len() < LABEL_VALUES_AT_MOST {
        values.insert(value.clone());
    }
    value
}

/// A row served, as the listing showed it when it was last read: its
/// balance is the listing's, so that its usage details are not read again.
fn as_listed(row: &VoucherRow) -> VoucherRow {
    VoucherRow {
        remaining: row.listed_remaining.or(row.remaining),
        ..row.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_value_is_held_once_for_every_voucher() {
        let (a, b) = (label(Some("Issued".into())), label(Some("Issued".into())));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*label(None), "");
        assert!(!Arc::ptr_eq(&a, &label(Some("Used".into()))));
    }

    fn row(status: &str, expiry: Option<f64>, ended: Option<f64>) -> VoucherRow {
        VoucherRow {
            status: status.into(),
            expiry,
            ended,
            ..Default::default()
        }
    }

    #[test]
    fn a_voucher_ended_when_first_seen_ended_or_at_its_expiry_if_earlier() {
        let now = 1_000_000.0;
        assert_eq!(ended_at(&row("Issued", Some(10.0), None), None, now), None);
        assert_eq!(ended_at(&row("Used", None, None), None, now), Some(now));
        assert_eq!(ended_at(&row("Used", Some(10.0), None), None, now), Some(10.0));
        assert_eq!(ended_at(&row("Expired", Some(2e6), None), None, now), Some(now));
        assert_eq!(ended_at(&row("Invalidated", None, None), Some(500.0), now), Some(500.0));
        assert_eq!(
            ended_at(&row("Withdrawn?", None, None), None, now),
            None,
            "unknown: in use"
        );
    }

    #[test]
    fn an_ended_voucher_is_kept_for_the_retention_only() {
        let day = 86_400.0;
        let thirty_days = Duration::from_secs(30 * 86_400);
        let now = 100.0 * day;
        assert!(retained(&row("Issued", Some(0.0), None), now, thirty_days));
        assert!(retained(&row("Used", None, Some(now - 29.0 * day)), now, thirty_days));
        assert!(!retained(&row("Used", None, Some(now - 30.0 * day)), now, thirty_days));
    }
}
