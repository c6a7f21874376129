//! What a refresh does when the API refuses one of the items it reads: a
//! customer unbound since it was listed, a voucher withdrawn. That item keeps
//! its last value, or has none, and the refresh goes on; the refusal is
//! counted (`tencentcloud_partner_refused_items_total`) and logged once per
//! item, with the reason the API gave.
//!
//! When more than a few items of one refresh are refused the same way, and
//! more than were read, the refusal is the request's, not the items' (a
//! `Month` Tencent does not take yet, a parameter whose meaning changed): the
//! refresh fails with it, and the last snapshot stays, so that
//! `refresh_success` and the alert tell the truth.

use super::Error;
use crate::api;
use std::collections::HashMap;

/// Refusals of one code in one refresh that a few unbindings explain.
pub const FEW: u64 = 5;

/// Whether `error` refuses the one item asked about (a customer who is not,
/// or no longer, the partner's; a voucher the details do not know), not the
/// key, the quota or the service.
pub fn is_the_items(error: &api::Error) -> bool {
    error.is_about_the_subject()
}

/// The items one refresh read and those the API refused, by error code.
#[derive(Debug, Default)]
pub struct Refusals {
    read: u64,
    refused: HashMap<String, u64>,
}

impl Refusals {
    /// Counts `items` read.
    pub fn read(&mut self, items: u64) {
        self.read += items;
    }

    /// Counts an item refused with `code`: an error of the refresh once the
    /// refusals of that code say that the request, not the item, is refused.
    pub fn refused(&mut self, code: &str) -> Result<(), Error> {
        let count = self.refused.entry(code.to_owned()).or_default();
        *count += 1;
        if *count > FEW && *count > self.read {
            return Err(Error::Refused {
                code: code.to_owned(),
                count: *count,
                read: self.read,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_refused_items_among_many_read_are_the_items_own() {
        let mut refusals = Refusals::default();
        refusals.read(3);
        for _ in 0..FEW {
            assert!(refusals.refused("InvalidParameterValue.InvalidUin").is_ok());
        }
        refusals.read(100);
        assert!(refusals.refused("InvalidParameterValue.InvalidUin").is_ok());
    }

    #[test]
    fn more_than_a_few_refusals_of_one_code_and_more_than_were_read_refuse_the_request() {
        let mut refusals = Refusals::default();
        refusals.read(1);
        for _ in 0..FEW {
            refusals.refused("InvalidParameterValue.Month").unwrap();
            refusals.refused("ResourceNotFound").unwrap();
        }
        let error = refusals.refused("InvalidParameterValue.Month").unwrap_err();
        assert!(error.to_string().contains("InvalidParameterValue.Month"), "{error}");
    }
}
