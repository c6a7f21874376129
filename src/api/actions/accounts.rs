//! The messages of the account actions: customers' account status and
//! second-level resellers.

use crate::api::Error;
use crate::api::decode::{Decode, Fields};
use serde::Serialize;

/// DescribeCustomerInfo's request: 1 to 20 UINs.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerInfoRequest {
    pub customer_uin: Vec<u64>,
}

/// DescribeCustomerInfo's answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CustomerInfo {
    pub data: Vec<CustomerInfoItem>,
}

impl Decode for CustomerInfo {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self { data: f.list("Data")? })
    }
}

/// DescribeCustomerInfoData: what the exporter reads of it. `Email` and
/// `Phone` are personal data and are never read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CustomerInfoItem {
    /// A string in the SDK.
    pub customer_uin: Option<i64>,
    /// A string in the SDK: 0 normal, 1 forcibly mandatory, 2 mandatory arrears.
    pub account_status: Option<i64>,
    /// 0 no consumption, 1 consumption.
    pub has_expense: Option<i64>,
}

impl Decode for CustomerInfoItem {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            customer_uin: f.integer_text("CustomerUin"),
            account_status: f.integer_text("AccountStatus"),
            has_expense: f.integer("HasExpense"),
        })
    }
}

/// One page of QuerySubAgentsDetailV2.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubAgentsRequest {
    pub page: u64,
    pub page_size: u64,
}

/// QuerySubAgentsDetailV2's answer: `Total` and `Data` are its envelope.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SubAgents {
    pub total: Option<u64>,
    pub data: Vec<SubAgent>,
}

impl Decode for SubAgents {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total: f.total("Total")?,
            data: f.list("Data")?,
        })
    }
}

/// QuerySubAgentsDetailV2ResponseData. `Mobile` and `Email` are personal data
/// and are never read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SubAgent {
    pub sub_agent_uin: Option<u64>,
    pub name: Option<String>,
    pub remark: Option<String>,
    pub count_of_customers: Option<u64>,
    /// USD: its credit pool, and what is left of it.
    pub credit: Option<f64>,
    pub remaining_credit: Option<f64>,
    /// USD: its voucher quota pool, and what is left of it.
    pub voucher: Option<f64>,
    pub remaining_voucher: Option<f64>,
}

impl Decode for SubAgent {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            sub_agent_uin: f.unsigned("SubAgentUin"),
            name: f.text("Name"),
            remark: f.text("Remark"),
            count_of_customers: f.unsigned("CountOfCustomers"),
            credit: f.balance("Credit"),
            remaining_credit: f.balance("RemainingCredit"),
            voucher: f.balance("Voucher"),
            remaining_voucher: f.balance("RemainingVoucher"),
        })
    }
}
