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
