//! `customers`: every customer's credit and descriptive labels, from all pages
//! of QueryCustomersCredit, or only the customers of `--customers.uins`, from
//! QueryCreditByUinList in batches of 50.

use super::{Collector, Context, Error, Page, walk_pages};
use crate::api::Action;
use crate::api::actions::{CreditByUinListRequest, CustomersCreditRequest, QueryCreditByUinList, QueryCustomersCredit};
use crate::snapshot::{CustomerRow, CustomersSnapshot, Kind, Snapshot};
use futures::{StreamExt, TryStreamExt};

/// Customers per QueryCustomersCredit page.
const PAGE_SIZE: u64 = 100;
/// The most UINs QueryCreditByUinList accepts at once.
const UIN_BATCH: usize = 50;

/// Refreshes [`CustomersSnapshot`].
#[derive(Debug, Default)]
pub struct Customers;

impl Collector for Customers {
    const KIND: Kind = Kind::Customers;

    async fn refresh(&mut self, ctx: &Context) -> Result<Snapshot, Error> {
        let snapshot = match ctx.shared.customer_uins.clone() {
            Some(uins) => by_uin_list(ctx, &uins).await?,
            None => by_listing(ctx).await?,
        };
        Ok(Snapshot::Customers(snapshot))
    }
}

fn identify_type(code: Option<i64>) -> String {
    match code {
        Some(0) => "unverified".into(),
        Some(1) => "individual".into(),
        Some(2) => "enterprise".into(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

async fn by_listing(ctx: &Context) -> Result<CustomersSnapshot, Error> {
    let rows = walk_pages(
        QueryCustomersCredit::NAME,
        PAGE_SIZE,
        |row: &CustomerRow| row.uin,
        |page, page_size| async move {
            let request = CustomersCreditRequest {
                page,
                page_size,
                // Oldest first: customers bound during the walk land on the last
                // page instead of shifting every page after the first.
                order: Some("asc".into()),
                ..Default::default()
            };
            let answer = ctx.call::<QueryCustomersCredit>(&request).await?;
            Ok(Page::of(answer.total, answer.data, |c| {
                Some(CustomerRow {
                    uin: c.client_uin?,
                    name: c.name.unwrap_or_default(),
                    remark: c.remark.unwrap_or_default(),
                    customer_type: c.customer_type.unwrap_or_default(),
                    identify_type: identify_type(c.identify_type),
                    credit: c.credit,
                    remaining: c.remaining_credit,
                    expiry: ctx.timestamp(c.recent_expiry.as_deref()),
                })
            }))
        },
    )
    .await?;
    let mut customers = rows;
    customers.sort_by_key(|c| c.uin);
    Ok(CustomersSnapshot {
        total: customers.len() as u64,
        customers,
    })
}

async fn by_uin_list(ctx: &Context, uins: &[u64]) -> Result<CustomersSnapshot, Error> {
    let batches: Vec<Vec<u64>> = uins.chunks(UIN_BATCH).map(<[u64]>::to_vec).collect();
    let batches: Vec<Vec<CustomerRow>> = futures::stream::iter(batches)
        .map(|uin_list| async move {
            let request = CreditByUinListRequest { uin_list };
            let answer = ctx.call::<QueryCreditByUinList>(&request).await?;
            Ok::<_, Error>(
                answer
                    .data
                    .into_iter()
                    .filter_map(|c| {
                        Some(CustomerRow {
                            uin: c.uin?,
                            credit: c.total_credit,
                            remaining: c.remaining_credit,
                            ..Default::default()
                        })
                    })
                    .collect(),
            )
        })
        .buffered(4)
        .try_collect()
        .await?;
    let mut customers: Vec<CustomerRow> = batches.into_iter().flatten().collect();
    customers.sort_by_key(|c| c.uin);
    customers.dedup_by_key(|c| c.uin);
    Ok(CustomersSnapshot {
        total: customers.len() as u64,
        customers,
    })
}
