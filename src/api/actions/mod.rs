//! One request/response pair per API action, as Tencent's SDK defines them
//! (`tests/data/sdk/`, checked by `tests/sdk_conformance.rs`).
//!
//! Requests are serialized with serde. Responses are read with [`decode`]:
//! each type reads only the fields the exporter uses, every one optional,
//! since the API documents that any of them "may return null". Deciding what a
//! missing value means is the collectors' job, not the decoder's.

mod accounts;
mod bills;
mod credit;
mod vouchers;

pub use accounts::*;
pub use bills::*;
pub use credit::*;
pub use vouchers::*;

use super::Error;
use super::decode::{self, Decode, Wire};
use serde::Serialize;

/// An API action: its name, documented rate limit and message types.
pub trait Action {
    /// The `X-TC-Action` header value.
    const NAME: &'static str;
    /// Documented requests per second for one account.
    const RATE_LIMIT: u32;
    type Request: Serialize + Send + Sync;
    type Response: Decode + Send;
    /// A request with every field the exporter may send set, to check
    /// against the SDK's request model.
    fn example() -> Self::Request;
}

/// One declared action, described for the conformance tests and the docs.
#[derive(Debug, Clone)]
pub struct Declared {
    pub name: &'static str,
    pub rate_limit: u32,
    /// Every response field the decoder reads, with the type it expects.
    pub reads: Vec<(String, Wire)>,
    /// [`Action::example`] as JSON.
    pub example: serde_json::Value,
    /// Decodes a `Response` object as this action's answer; returns the
    /// fields read as absent for their type.
    pub decode: fn(&serde_json::Value) -> Result<Vec<String>, Error>,
}

impl Declared {
    fn of<A: Action>() -> Self {
        Self {
            name: A::NAME,
            rate_limit: A::RATE_LIMIT,
            reads: decode::schema::<A::Response>(),
            example: serde_json::to_value(A::example()).expect("request types serialize to JSON"),
            decode: |response| decode::decode::<A::Response>(response).map(|(_, odd_fields)| odd_fields),
        }
    }
}

macro_rules! actions {
    ($($(#[$doc:meta])* $name:ident: $limit:expr, $req:ty => $resp:ty, $example:expr;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $name {}
            impl Action for $name {
                const NAME: &'static str = stringify!($name);
                const RATE_LIMIT: u32 = $limit;
                type Request = $req;
                type Response = $resp;
                fn example() -> $req {
                    $example
                }
            }
        )*

        /// Every action the exporter may call, with its documented rate limit,
        /// for limiters and metrics set up front.
        pub const ALL: &[(&str, u32)] = &[$(($name::NAME, $name::RATE_LIMIT)),*];

        /// Every action the exporter may call, described.
        pub fn declared() -> Vec<Declared> {
            vec![$(Declared::of::<$name>()),*]
        }

        /// Reads `answer` as the answer of every action, and says how many
        /// read it: for the fuzz targets, which look for one that panics.
        pub fn decode_as_every_action(answer: &serde_json::Value) -> usize {
            [$(super::decode::decode::<$resp>(answer).is_ok()),*]
                .into_iter()
                .filter(|read| *read)
                .count()
        }
    };
}

actions! {
    /// The partner's own credit.
    QueryPartnerCredit: 5, Empty => PartnerCredit, Empty {};
    /// One page of customers with their credit.
    QueryCustomersCredit: 5, CustomersCreditRequest => CustomersCredit, CustomersCreditRequest {
        page: 1,
        page_size: 100,
        order: Some("asc".into()),
        filter_type: Some("ClientUin".into()),
        filter: Some("100000000001".into()),
    };
    /// The credit of up to 50 given customers.
    QueryCreditByUinList: 5, CreditByUinListRequest => CreditByUinList, CreditByUinListRequest {
        uin_list: vec![100000000001, 100000000002],
    };
    /// One page of one customer's credit allocations.
    QueryCreditAllocationHistory: 5, AllocationHistoryRequest => AllocationHistory, AllocationHistoryRequest {
        client_uin: 100000000001,
        page: 1,
        page_size: 100,
    };
    /// One page of the customers' vouchers. 20/s on the action's own page
    /// (product 1085, document 72239).
    DescribeCustomerVoucherList: 20, VoucherListRequest => VoucherList, VoucherListRequest {
        page: 1,
        page_size: 100,
        customer_uin: Some(100000000001),
        voucher_status: Some("Issued".into()),
        voucher_id: Some(42),
    };
    /// One voucher's amounts and usage records.
    DescribeCustomerVoucherUsageDetails: 20, VoucherUsageRequest => VoucherUsage, VoucherUsageRequest {
        page: 1,
        page_size: 1,
        customer_uin: 100000000001,
        voucher_id: 42,
        month: Some("2026-11".into()),
    };
    /// The partner's voucher quota and role.
    QueryVoucherPool: 5, Empty => VoucherPool, Empty {};
    /// Up to 20 customers' account status. 20/s (api-notes: the action's page).
    DescribeCustomerInfo: 20, CustomerInfoRequest => CustomerInfo, CustomerInfoRequest {
        customer_uin: vec![100000000001, 100000000002],
    };
    /// One page of a distributor's second-level resellers. 20/s (api-notes).
    QuerySubAgentsDetailV2: 20, SubAgentsRequest => SubAgents, SubAgentsRequest {
        page: 1,
        page_size: 100,
    };
    /// One customer's bill total for a month. 1/s on the action's own page
    /// (product 1085, document 53953, updated 2025-02-27), like the rest of the
    /// bill actions on the category page; an older revision said 5/s.
    DescribeCustomerBillSummary: 1, BillSummaryRequest => BillSummary, BillSummaryRequest {
        customer_uin: 100000000001,
        month: "2026-11".into(),
    };
    /// What one customer spent on one day. 20/s on the action's own page
    /// (product 1085, document 70562, updated 2025-10-30).
    DescribeCustomerBillDetailByDay: 20, BillByDayRequest => BillByDay, BillByDayRequest {
        customer_uin: 100000000001,
        date: "2026-11-30".into(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: Decode>(body: &str) -> T {
        decode::decode(&serde_json::from_str(body).unwrap()).unwrap().0
    }

    #[test]
    fn decodes_the_seed_example_of_query_customers_credit() {
        let body = r#"{"Total": 1, "Data": [{"ClientUin": 1, "Name": "abcdefg@tencent.com",
            "Mobile": "131123456789", "RecentExpiry": "2022-10-13 20:09:03", "RemainingCredit": 100,
            "Remark": "remark", "Credit": 100, "Force": 0, "AssociationTime": "2022-10-13 20:09:03",
            "IdentifyType": 1, "Type": "new", "Email": "abcd*********@tencent.com", "Arrears": "Fixed as -"}],
            "RequestId": "2b7c676e-bb4b-449d-89e6-4866132036c4"}"#;
        let page: CustomersCredit = read(body);
        assert_eq!(page.total, Some(1));
        assert_eq!(page.data[0].client_uin, Some(1));
        assert_eq!(page.data[0].remaining_credit, Some(100.0));
        assert_eq!(page.data[0].customer_type.as_deref(), Some("new"));
    }

    #[test]
    fn nulls_and_missing_fields_decode_as_absent() {
        let page: CustomersCredit = read(r#"{"Total": null, "Data": [{"ClientUin": 7, "Credit": null}]}"#);
        assert_eq!(page.total, None);
        assert_eq!(page.data[0].credit, None);
        let empty: CustomersCredit = read(r#"{"Data": null}"#);
        assert!(empty.data.is_empty());
        let partner: PartnerCredit =
            read(r#"{"RemainingCredit": 1000.1, "TotalCredit": 1050.1, "AllocatedCredit": 50}"#);
        assert_eq!(partner.customer_total_credit, None);
        assert_eq!(partner.remaining_credit, Some(1000.1));
    }

    #[test]
    fn requests_serialize_with_tencent_field_names() {
        let req = CustomersCreditRequest {
            page: 2,
            page_size: 100,
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"Page":2,"PageSize":100}"#);
        let req = CreditByUinListRequest { uin_list: vec![1, 2] };
        assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"UinList":[1,2]}"#);
    }

    #[test]
    fn every_action_is_declared_once() {
        let declared = declared();
        assert_eq!(declared.len(), ALL.len());
        let mut names: Vec<&str> = declared.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
