//! Reading customers by UIN in batches (QueryCreditByUinList, 50 a call;
//! DescribeCustomerInfo, 20 a call) so that one customer the API refuses
//! costs that customer's values only.
//!
//! The API refuses a whole batch for one UIN that is not, or no longer, the
//! partner's customer. Such a batch is split in halves until that UIN is
//! found (50, 25, 13, 7, 4, 2, 1: about a dozen more calls for one such UIN),
//! which is then left out, counted and logged (see [`super::refusals`]).

use super::refusals::{Refusals, is_the_items};
use super::{Context, Error};
use crate::api;
use futures::{StreamExt, TryStreamExt};
use std::future::Future;
use std::sync::Mutex;

/// Reads `uins` in batches of `batch`, `in_flight` calls at a time, with
/// `call`, which answers the rows of the UINs it is given. A UIN the API
/// refuses alone is left out; when it refuses every UIN, however few, the
/// refusal is the request's and fails the read (see [`super::refusals`]).
pub async fn read_batches<T, Fut>(
    ctx: &Context,
    uins: &[u64],
    batch: usize,
    in_flight: usize,
    call: impl Fn(Vec<u64>) -> Fut,
) -> Result<Vec<T>, Error>
where
    Fut: Future<Output = Result<Vec<T>, api::Error>>,
{
    let refusals = Mutex::new(Refusals::default());
    let (call, refusals) = (&call, &refusals);
    let batches: Vec<Vec<u64>> = uins.chunks(batch.max(1)).map(<[u64]>::to_vec).collect();
    let batches: Vec<Vec<T>> = futures::stream::iter(batches)
        .map(|batch| read_splitting(ctx, batch, call, refusals))
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    refusals.lock().unwrap_or_else(|p| p.into_inner()).verdict()?;
    Ok(batches.into_iter().flatten().collect())
}

/// Reads one batch, splitting it in halves while the API refuses it for what
/// it asks about, down to the one UIN it refuses.
async fn read_splitting<T, Fut>(
    ctx: &Context,
    batch: Vec<u64>,
    call: &impl Fn(Vec<u64>) -> Fut,
    refusals: &Mutex<Refusals>,
) -> Result<Vec<T>, Error>
where
    Fut: Future<Output = Result<Vec<T>, api::Error>>,
{
    let lock = || refusals.lock().unwrap_or_else(|p| p.into_inner());
    let mut rows = Vec::new();
    let mut to_read = vec![batch];
    while let Some(uins) = to_read.pop() {
        match call(uins.clone()).await {
            Ok(read) => {
                lock().read(uins.len() as u64);
                rows.extend(read);
            }
            Err(error) if is_the_items(&error) && uins.len() > 1 => {
                let (first, second) = uins.split_at(uins.len().div_ceil(2));
                to_read.push(second.to_vec());
                to_read.push(first.to_vec());
            }
            Err(error) if is_the_items(&error) => {
                let code = error.code();
                ctx.refused(uins[0], &code, &error);
                lock().refused(uins[0], &code, false);
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(rows)
}
