//! `partner`: the partner's own credit, from QueryPartnerCredit.

use super::{Collector, Context, Error};
use crate::api::actions::{Empty, QueryPartnerCredit};
use crate::snapshot::{Kind, PartnerSnapshot, Snapshot};

/// Refreshes [`PartnerSnapshot`] with one call.
#[derive(Debug, Default)]
pub struct Partner;

impl Collector for Partner {
    const KIND: Kind = Kind::Partner;

    async fn refresh(&mut self, ctx: &Context) -> Result<Snapshot, Error> {
        let credit = ctx.call::<QueryPartnerCredit>(&Empty {}).await?;
        Ok(Snapshot::Partner(PartnerSnapshot {
            total: credit.total_credit,
            allocated: credit.allocated_credit,
            remaining: credit.remaining_credit,
            customers_total: credit.customer_total_credit,
            customers_remaining: credit.customer_remaining_credit,
        }))
    }
}
