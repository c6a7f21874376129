//! Why a refresh fails, and which failures are one item's alone: those cost
//! that item's value, not the refresh.

use super::refusals;
use crate::api;

/// Why a refresh failed; the previous snapshot stays published.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] api::Error),
    #[error("{listing} kept changing while it was read ({attempts} walks); trying again next refresh")]
    Unsettled { listing: &'static str, attempts: u32 },
    #[error(
        "{listing} claims {total} items, but its pages hold {read}: a Total the listing cannot reach; keeping \
         what was served"
    )]
    TotalUnreachable {
        listing: &'static str,
        total: u64,
        read: u64,
    },
    #[error("no current customer list: the customers collector has not refreshed within --cache.max-age")]
    NoCustomers,
    #[error("the exporter is stopping")]
    Stopping,
    #[error(
        "the refresh ran past its deadline ({after:?}: twice its interval and twice the time of its items at the \
         documented rate); what it read is published, the rest follows next refresh"
    )]
    Deadline { after: std::time::Duration },
    #[error(
        "the API refused every item this refresh asked about ({items} items of {customers} customers, \
         mostly with {code}): it refuses the request, not the items"
    )]
    Refused { code: String, items: u64, customers: u64 },
    /// An answer about one item that leaves out what makes it true (a history
    /// without `Total`): that item's read failed, not the refresh.
    #[error("{0}")]
    Incomplete(String),
}

impl Error {
    /// The code one item's failure is counted under, when it is that item's
    /// alone: the API refused the item, or answered it incompletely.
    pub fn item_refusal(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Error::Api(error) if refusals::is_the_items(error) => Some(error.code()),
            Error::Incomplete(_) => Some("IncompleteAnswer".into()),
            _ => None,
        }
    }
}
