//! The messages of the credit actions: the partner's credit, the customers'
//! credit (by page or by UIN) and each customer's allocation history.

use crate::api::Error;
use crate::api::decode::{Decode, Fields};
use serde::Serialize;

/// An empty request body (`{}`).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Empty {}

/// QueryPartnerCredit's answer, USD.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PartnerCredit {
    pub total_credit: Option<f64>,
    pub allocated_credit: Option<f64>,
    pub remaining_credit: Option<f64>,
    pub customer_total_credit: Option<f64>,
    pub customer_remaining_credit: Option<f64>,
}

impl Decode for PartnerCredit {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total_credit: f.balance("TotalCredit"),
            allocated_credit: f.balance("AllocatedCredit"),
            remaining_credit: f.balance("RemainingCredit"),
            customer_total_credit: f.balance("CustomerTotalCredit"),
            customer_remaining_credit: f.balance("CustomerRemainingCredit"),
        })
    }
}

/// One page of QueryCustomersCredit.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomersCreditRequest {
    pub page: u64,
    pub page_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// QueryCustomersCredit's answer: `Total` and `Data` are its envelope.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CustomersCredit {
    pub total: Option<u64>,
    pub data: Vec<CustomerCredit>,
}

impl Decode for CustomersCredit {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total: f.total("Total")?,
            data: f.list("Data")?,
        })
    }
}

/// QueryCustomersCreditData. `Mobile` and `Email` are personal data: the
/// exporter never reads them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CustomerCredit {
    pub client_uin: Option<u64>,
    pub name: Option<String>,
    pub customer_type: Option<String>,
    pub recent_expiry: Option<String>,
    pub credit: Option<f64>,
    pub remaining_credit: Option<f64>,
    pub identify_type: Option<i64>,
    pub remark: Option<String>,
    /// "Forced status": 0 normal, 2 forced service suspension (as ForceQN sets it).
    pub force: Option<i64>,
}

impl Decode for CustomerCredit {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            client_uin: f.unsigned("ClientUin"),
            name: f.text("Name"),
            customer_type: f.text("Type"),
            recent_expiry: f.time("RecentExpiry"),
            credit: f.balance("Credit"),
            remaining_credit: f.balance("RemainingCredit"),
            identify_type: f.integer("IdentifyType"),
            remark: f.text("Remark"),
            force: f.integer("Force"),
        })
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreditByUinListRequest {
    pub uin_list: Vec<u64>,
}

/// QueryCreditByUinList's answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CreditByUinList {
    pub data: Vec<UinCredit>,
}

impl Decode for CreditByUinList {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self { data: f.list("Data")? })
    }
}

/// QueryDirectCustomersCreditData.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UinCredit {
    pub uin: Option<u64>,
    pub total_credit: Option<f64>,
    pub remaining_credit: Option<f64>,
}

impl Decode for UinCredit {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            uin: f.unsigned("Uin"),
            total_credit: f.balance("TotalCredit"),
            remaining_credit: f.balance("RemainingCredit"),
        })
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocationHistoryRequest {
    pub client_uin: u64,
    pub page: u64,
    pub page_size: u64,
}

/// QueryCreditAllocationHistory's answer: `Total` and `History` are its envelope.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AllocationHistory {
    pub total: Option<u64>,
    pub history: Vec<Allocation>,
}

impl Decode for AllocationHistory {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total: f.total("Total")?,
            history: f.list("History")?,
        })
    }
}

/// QueryCreditAllocationHistoryData.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Allocation {
    pub allocated_time: Option<String>,
    pub credit: Option<f64>,
}

impl Decode for Allocation {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            allocated_time: f.time("AllocatedTime"),
            credit: f.amount("Credit"),
        })
    }
}
