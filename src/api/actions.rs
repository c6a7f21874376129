//! One request/response pair per API action, as Tencent's SDK defines them.
//!
//! Every response field is optional or defaulted: the API documents that any of
//! them "may return null", and the seed examples omit some. Deciding what a
//! missing value means is the collectors' job, not the decoder's.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// An API action: its name, documented rate limit and message types.
pub trait Action {
    /// The `X-TC-Action` header value.
    const NAME: &'static str;
    /// Documented requests per second for one account.
    const RATE_LIMIT: u32;
    type Request: Serialize + Send + Sync;
    type Response: DeserializeOwned + Send;
}

/// Every action the exporter may call, for limiters and metrics set up front.
pub const ALL: [(&str, u32); 7] = [
    (QueryPartnerCredit::NAME, QueryPartnerCredit::RATE_LIMIT),
    (QueryCustomersCredit::NAME, QueryCustomersCredit::RATE_LIMIT),
    (QueryCreditByUinList::NAME, QueryCreditByUinList::RATE_LIMIT),
    (
        QueryCreditAllocationHistory::NAME,
        QueryCreditAllocationHistory::RATE_LIMIT,
    ),
    (
        DescribeCustomerVoucherList::NAME,
        DescribeCustomerVoucherList::RATE_LIMIT,
    ),
    (
        DescribeCustomerVoucherUsageDetails::NAME,
        DescribeCustomerVoucherUsageDetails::RATE_LIMIT,
    ),
    (QueryVoucherPool::NAME, QueryVoucherPool::RATE_LIMIT),
];

/// Reads `null` as the type's default, so `"Data": null` is an empty list.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An empty request body (`{}`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Empty {}

macro_rules! action {
    ($name:ident, $limit:expr, $req:ty, $resp:ty) => {
        #[doc = concat!("The `", stringify!($name), "` action.")]
        #[derive(Debug)]
        pub enum $name {}
        impl Action for $name {
            const NAME: &'static str = stringify!($name);
            const RATE_LIMIT: u32 = $limit;
            type Request = $req;
            type Response = $resp;
        }
    };
}

action!(QueryPartnerCredit, 5, Empty, PartnerCredit);
action!(QueryCustomersCredit, 5, CustomersCreditRequest, CustomersCredit);
action!(QueryCreditByUinList, 5, CreditByUinListRequest, CreditByUinList);
action!(
    QueryCreditAllocationHistory,
    5,
    AllocationHistoryRequest,
    AllocationHistory
);
// Not stated on the product pages we have; assume the common 5/s.
action!(DescribeCustomerVoucherList, 5, VoucherListRequest, VoucherList);
action!(
    DescribeCustomerVoucherUsageDetails,
    20,
    VoucherUsageRequest,
    VoucherUsage
);
action!(QueryVoucherPool, 5, Empty, VoucherPool);

/// QueryPartnerCredit's answer, USD.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PartnerCredit {
    pub total_credit: Option<f64>,
    pub allocated_credit: Option<f64>,
    pub remaining_credit: Option<f64>,
    pub customer_total_credit: Option<f64>,
    pub customer_remaining_credit: Option<f64>,
}

/// One page of QueryCustomersCredit.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomersCreditRequest {
    pub page: u64,
    pub page_size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filter_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filter: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomersCredit {
    pub total: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<CustomerCredit>,
}

/// QueryCustomersCreditData. `Mobile` and `Email` are personal data: the
/// exporter never reads them, so they are not even decoded.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomerCredit {
    pub client_uin: Option<u64>,
    pub name: Option<String>,
    #[serde(rename = "Type")]
    pub customer_type: Option<String>,
    pub association_time: Option<String>,
    pub recent_expiry: Option<String>,
    pub credit: Option<f64>,
    pub remaining_credit: Option<f64>,
    pub identify_type: Option<i64>,
    pub remark: Option<String>,
    pub force: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreditByUinListRequest {
    pub uin_list: Vec<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreditByUinList {
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<UinCredit>,
}

/// QueryDirectCustomersCreditData.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UinCredit {
    pub uin: Option<u64>,
    pub total_credit: Option<f64>,
    pub remaining_credit: Option<f64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocationHistoryRequest {
    pub client_uin: u64,
    pub page: u64,
    pub page_size: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocationHistory {
    pub total: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    pub history: Vec<Allocation>,
}

/// QueryCreditAllocationHistoryData.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    pub allocated_time: Option<String>,
    pub operator: Option<String>,
    pub credit: Option<f64>,
    pub allocated_credit: Option<f64>,
    pub client_credit_after: Option<f64>,
    pub remark: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoucherListRequest {
    pub page: u64,
    pub page_size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_uin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voucher_status: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VoucherList {
    pub total_count: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<Voucher>,
}

/// DescribeCustomerVoucherItem.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Voucher {
    pub voucher_id: Option<u64>,
    pub customer_uin: Option<u64>,
    pub voucher_status: Option<String>,
    pub remaining_amount: Option<f64>,
    pub total_amount: Option<f64>,
    pub usage: Option<String>,
    pub payment_mode: Option<String>,
    pub product_scope: Option<String>,
    pub effective_time: Option<String>,
    pub expire_time: Option<String>,
    pub apply_reason: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoucherUsageRequest {
    pub page: u64,
    pub page_size: u64,
    pub customer_uin: u64,
    pub voucher_id: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub month: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VoucherUsage {
    pub customer_uin: Option<u64>,
    pub voucher_id: Option<u64>,
    pub total_amount: Option<f64>,
    pub remain_amount: Option<f64>,
    pub total_records_count: Option<u64>,
    pub month: Option<String>,
    pub records_count_by_month: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<UsageDetail>,
}

/// UsageDetail: one charge against a voucher.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageDetail {
    pub id: Option<String>,
    pub voucher_id: Option<u64>,
    pub deal_name: Option<String>,
    pub bill_id: Option<String>,
    pub amount: Option<f64>,
    pub pay_mode: Option<String>,
    pub product_code: Option<String>,
    pub sub_product_code: Option<String>,
    pub product_code_name: Option<String>,
    pub sub_product_code_name: Option<String>,
    pub pay_time: Option<String>,
    pub completion_time: Option<String>,
    pub owner_uin: Option<String>,
}

/// QueryVoucherPool's answer.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VoucherPool {
    pub agent_name: Option<String>,
    // Documented as 1, 2 or 3; the SDK types it as a string. Accept either.
    pub account_type: Option<serde_json::Value>,
    pub total_quota: Option<f64>,
    pub remaining_quota: Option<f64>,
    pub issued_num: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_seed_example_of_query_customers_credit() {
        let body = r#"{"Total": 1, "Data": [{"ClientUin": 1, "Name": "abcdefg@tencent.com",
            "Mobile": "131123456789", "RecentExpiry": "2022-10-13 20:09:03", "RemainingCredit": 100,
            "Remark": "remark", "Credit": 100, "Force": 0, "AssociationTime": "2022-10-13 20:09:03",
            "IdentifyType": 1, "Type": "new", "Email": "abcd*********@tencent.com", "Arrears": "Fixed as -"}],
            "RequestId": "2b7c676e-bb4b-449d-89e6-4866132036c4"}"#;
        let page: CustomersCredit = serde_json::from_str(body).unwrap();
        assert_eq!(page.total, Some(1));
        assert_eq!(page.data[0].client_uin, Some(1));
        assert_eq!(page.data[0].remaining_credit, Some(100.0));
        assert_eq!(page.data[0].customer_type.as_deref(), Some("new"));
    }

    #[test]
    fn nulls_and_missing_fields_decode_as_absent() {
        let page: CustomersCredit =
            serde_json::from_str(r#"{"Total": null, "Data": [{"ClientUin": 7, "Credit": null}]}"#).unwrap();
        assert_eq!(page.total, None);
        assert_eq!(page.data[0].credit, None);
        let empty: CustomersCredit = serde_json::from_str(r#"{"Data": null}"#).unwrap();
        assert!(empty.data.is_empty());
        let partner: PartnerCredit =
            serde_json::from_str(r#"{"RemainingCredit": 1000.1, "TotalCredit": 1050.1, "AllocatedCredit": 50}"#)
                .unwrap();
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
}
