//! The one rule for what the API refuses, for every read of items: a
//! customer's history or bill, a voucher's usage details, a voucher by its
//! id, customers by UIN in batches, and every later collector.
//!
//! An item the API refuses alone (a customer unbound since it was listed, a
//! withdrawn voucher the details do not know, whatever the code) costs its
//! own value while the same request succeeds for other items: it keeps its
//! last value, or has none, is counted
//! (`tencentcloud_partner_refused_items_total`) and logged at `warn` once per
//! refresh. When every item a read asked about is refused, however few, the
//! refusal is the request's (a `Month` Tencent does not take yet, a parameter
//! whose meaning changed): the refresh fails with it and the last snapshot
//! stays, so that `refresh_success` and the alert tell the truth. The verdict
//! is given once, at the end of the read, never on a running total in the
//! order the items happen to be read.

use super::Error;
use crate::api;
use std::collections::{BTreeMap, HashSet};

/// Whether `error` refuses the one item asked about, not the key, the
/// permission, the quota or the service: the read's other requests can still
/// succeed.
pub fn is_the_items(error: &api::Error) -> bool {
    error.is_about_the_subject()
}

/// The items one read asked about and those the API refused.
#[derive(Debug, Default)]
pub struct Refusals {
    read: u64,
    refused: u64,
    /// Refused items asked for the first time since a refusal was judged
    /// theirs: only those can make the refusal the request's.
    refused_anew: u64,
    /// The customers with an item refused.
    customers: HashSet<u64>,
    /// Refusals by code, for the verdict's message.
    codes: BTreeMap<String, u64>,
}

impl Refusals {
    /// Counts `items` the API answered.
    pub fn read(&mut self, items: u64) {
        self.read += items;
    }

    /// Counts an item of `customer` refused with `code`; `again` when it is
    /// asked again after a refusal judged its own (a withdrawn voucher's
    /// details, refused once more), which says nothing of the request.
    pub fn refused(&mut self, customer: u64, code: &str, again: bool) {
        self.refused += 1;
        self.refused_anew += u64::from(!again);
        self.customers.insert(customer);
        *self.codes.entry(code.to_owned()).or_default() += 1;
    }

    /// The verdict once the read has asked about every item it was due: the
    /// request's refusal when the API answered none of them, and refused
    /// some not refused before.
    pub fn verdict(&self) -> Result<(), Error> {
        if self.refused_anew == 0 || self.read > 0 {
            return Ok(());
        }
        let (code, _) = self
            .codes
            .iter()
            .max_by_key(|(_, count)| **count)
            .expect("a refusal has a code");
        Err(Error::Refused {
            code: code.clone(),
            items: self.refused,
            customers: self.customers.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_among_items_read_are_the_items_own_however_many() {
        let mut refusals = Refusals::default();
        for voucher in 0..40 {
            refusals.refused(100, "FailedOperation", false);
            refusals.refused(200 + voucher, "InvalidParameterValue.InvalidUin", false);
        }
        refusals.read(1);
        assert!(refusals.verdict().is_ok());
    }

    #[test]
    fn every_item_refused_is_the_requests_refusal_however_few() {
        let mut refusals = Refusals::default();
        assert!(refusals.verdict().is_ok(), "nothing asked, nothing refused");
        refusals.refused(1, "UnauthorizedOperation.NotCustomerUin", false);
        refusals.refused(2, "UnauthorizedOperation.NotCustomerUin", false);
        refusals.refused(3, "ResourceNotFound", false);
        let error = refusals.verdict().unwrap_err().to_string();
        assert!(error.contains("UnauthorizedOperation.NotCustomerUin"), "{error}");
        assert!(error.contains("3 items of 3 customers"), "{error}");
    }

    #[test]
    fn items_asked_again_after_their_own_refusal_say_nothing_of_the_request() {
        let mut refusals = Refusals::default();
        refusals.refused(1, "FailedOperation", true);
        refusals.refused(2, "FailedOperation", true);
        assert!(refusals.verdict().is_ok());
        refusals.refused(3, "FailedOperation", false);
        assert!(refusals.verdict().is_err());
    }
}
