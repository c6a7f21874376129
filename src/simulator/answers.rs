//! The simulator's answers: one function per action, each building the
//! `Response` object from the dataset field by field, with the names and
//! types of Tencent's SDK models (checked by `tests/sdk_conformance.rs`).

use super::dataset::{self, Dataset};
use super::{ApiError, Settings, fail};
use chrono::NaiveDateTime;
use serde_json::{Value, json};

/// One call to answer: its request body, and what the simulator answers from.
pub(super) struct Call<'a> {
    pub body: &'a Value,
    pub data: &'a Dataset,
    pub settings: &'a Settings,
    /// The simulated API's clock, UTC+8.
    pub now: NaiveDateTime,
}

/// The answer to `action`, or the error Tencent would give.
pub(super) fn answer(action: &str, call: Call<'_>) -> Result<Value, ApiError> {
    match action {
        "QueryPartnerCredit" => query_partner_credit(&call),
        "QueryCustomersCredit" => query_customers_credit(&call),
        "QueryCreditByUinList" => query_credit_by_uin_list(&call),
        "QueryCreditAllocationHistory" => query_credit_allocation_history(&call),
        "DescribeCustomerVoucherList" => describe_customer_voucher_list(&call),
        "DescribeCustomerVoucherUsageDetails" => describe_customer_voucher_usage_details(&call),
        "QueryVoucherPool" => query_voucher_pool(&call),
        "DescribeCustomerInfo" => describe_customer_info(&call),
        "QuerySubAgentsDetailV2" => query_sub_agents_detail(&call),
        "DescribeCustomerBillSummary" => describe_customer_bill_summary(&call),
        "DescribeCustomerBillDetailByDay" => describe_customer_bill_detail_by_day(&call),
        _ => Err(fail("InvalidAction", format!("The action {action} does not exist"))),
    }
}

fn query_partner_credit(call: &Call<'_>) -> Result<Value, ApiError> {
    let data = call.data;
    let allocated = data.allocated_cents();
    Ok(json!({
        "TotalCredit": dataset::usd(data.partner_total_cents),
        "AllocatedCredit": dataset::usd(allocated),
        "RemainingCredit": dataset::usd(data.partner_total_cents - allocated),
        "CustomerTotalCredit": dataset::usd(allocated),
        "CustomerRemainingCredit": dataset::usd(data.customers_remaining_cents()),
    }))
}

fn query_customers_credit(call: &Call<'_>) -> Result<Value, ApiError> {
    let body = call.body;
    let data = call.data;
    let paging = paging(body, call.settings.max_page_size, call.settings.silent_page_cap, 20)?;
    let ascending = body.get("Order").and_then(Value::as_str) == Some("asc");
    let list = data.customers_by_association(ascending);
    let rows: Vec<Value> = page_of(&list, paging)
        .into_iter()
        .map(|c| {
            json!({
                "ClientUin": c.uin,
                "Name": c.name,
                "Type": c.customer_type,
                "Mobile": "131****6789",
                "Email": "user****@example.com",
                "Arrears": "Fixed as -",
                "AssociationTime": time(&c.association_time),
                "RecentExpiry": c.recent_expiry.as_ref().map(time),
                "Credit": dataset::usd(c.credit_cents),
                "RemainingCredit": dataset::usd(c.remaining_cents),
                "IdentifyType": c.identify_type,
                "Remark": c.remark,
                "Force": c.force,
            })
        })
        .collect();
    Ok(json!({"Total": list.len(), "Data": rows}))
}

fn query_credit_by_uin_list(call: &Call<'_>) -> Result<Value, ApiError> {
    let body = call.body;
    let data = call.data;
    let uins: Vec<u64> = body
        .get("UinList")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if uins.is_empty() || uins.len() > 50 {
        return Err(fail(
            "InvalidParameterValue.UinList",
            "Invalid UinList. Array length value: 1-50.",
        ));
    }
    if let Some(stranger) = uins.iter().find(|u| !data.customers.contains_key(u)) {
        return Err(fail(
            "UnauthorizedOperation.NotCustomerUin",
            format!("The current user is not a customer: {stranger}"),
        ));
    }
    let rows: Vec<Value> = uins
        .iter()
        .map(|u| {
            let c = &data.customers[u];
            json!({"Uin": c.uin, "TotalCredit": dataset::usd(c.credit_cents), "RemainingCredit": dataset::usd(c.remaining_cents)})
        })
        .collect();
    Ok(json!({"Data": rows}))
}

fn query_credit_allocation_history(call: &Call<'_>) -> Result<Value, ApiError> {
    let body = call.body;
    let data = call.data;
    let uin = param_u64(body, "ClientUin")?.ok_or_else(|| fail("MissingParameter", "ClientUin is required"))?;
    let paging = paging(body, call.settings.max_page_size, call.settings.silent_page_cap, 20)?;
    let customer = data
        .customers
        .get(&uin)
        .ok_or_else(|| fail("InvalidParameterValue.InvalidUin", format!("{uin} is not a customer")))?;
    let mut history = customer.allocations.clone();
    if !call.settings.allocations_oldest_first {
        history.reverse();
    }
    let mut after = 0;
    let rows: Vec<Value> = history
        .iter()
        .map(|a| {
            after += a.credit_cents;
            json!({
                "AllocatedTime": time(&a.time),
                "Operator": a.operator,
                "Credit": dataset::usd(a.credit_cents),
                "AllocatedCredit": dataset::usd(a.credit_cents),
                "ClientCreditAfter": dataset::usd(after),
                "Remark": "",
            })
        })
        .collect();
    Ok(json!({"Total": history.len(), "History": page_of(&rows, paging)}))
}

fn describe_customer_voucher_list(call: &Call<'_>) -> Result<Value, ApiError> {
    let body = call.body;
    let data = call.data;
    let paging = paging(body, 100, None, 20)?;
    let customer = param_u64(body, "CustomerUin")?;
    let status = body.get("VoucherStatus").and_then(Value::as_str);
    let id = param_u64(body, "VoucherId")?;
    let list: Vec<&dataset::Voucher> = data
        .vouchers
        .values()
        .filter(|v| customer.is_none_or(|c| v.customer_uin == c))
        .filter(|v| status.is_none_or(|s| v.status == s))
        .filter(|v| id.is_none_or(|id| v.id == id))
        .collect();
    let rows: Vec<Value> = page_of(&list, paging)
        .into_iter()
        .map(|v| {
            json!({
                "VoucherId": v.id,
                "CustomerUin": v.customer_uin,
                "VoucherStatus": v.status,
                "RemainingAmount": dataset::usd(v.remaining_cents),
                "TotalAmount": dataset::usd(v.total_cents),
                "Usage": v.usage,
                "PaymentMode": v.payment_mode,
                "ProductScope": v.product_scope,
                "EffectiveTime": time(&v.effective_time),
                "ExpireTime": time(&v.expire_time),
                "ApplyReason": "simulated",
            })
        })
        .collect();
    Ok(json!({"TotalCount": list.len(), "Data": rows}))
}

fn describe_customer_voucher_usage_details(call: &Call<'_>) -> Result<Value, ApiError> {
    let body = call.body;
    let data = call.data;
    let (offset, size) = paging(body, 100, None, 20)?;
    let (Some(customer), Some(id)) = (param_u64(body, "CustomerUin")?, param_u64(body, "VoucherId")?) else {
        return Err(fail("MissingParameter", "CustomerUin and VoucherId are required"));
    };
    let voucher = data
        .vouchers
        .get(&id)
        .filter(|v| v.customer_uin == customer)
        .ok_or_else(|| {
            fail(
                "InvalidParameterValue",
                format!("voucher {id} of customer {customer} not found"),
            )
        })?;
    if call.settings.refuse_withdrawn_details && voucher.status == "Invalidated" {
        return Err(fail("FailedOperation", format!("voucher {id} has been withdrawn")));
    }
    let rows: Vec<Value> = (offset as u64..voucher.usage_records.min((offset + size) as u64))
        .map(|i| {
            json!({
                "Id": id * 1000 + i, "VoucherId": id.to_string(), "DealName": format!("deal-{i}"),
                "BillId": format!("bill-{i}"), "Amount": 1.0, "PayMode": voucher.payment_mode,
                "ProductCode": "p_cvm", "SubProductCode": "sp_cvm_s5", "ProductCodeName": "Cloud Virtual Machine",
                "SubProductCodeName": "Standard S5", "PayTime": time(&voucher.effective_time),
                "CompletionTime": time(&voucher.effective_time), "OwnerUin": customer,
            })
        })
        .collect();
    Ok(json!({
        "CustomerUin": customer,
        "VoucherId": id,
        "TotalAmount": dataset::usd(voucher.total_cents),
        "RemainAmount": dataset::usd(voucher.remaining_cents),
        "TotalRecordsCount": voucher.usage_records,
        "Month": body.get("Month").cloned().unwrap_or(Value::Null),
        "RecordsCountByMonth": 0,
        "Data": rows,
    }))
}

fn query_voucher_pool(call: &Call<'_>) -> Result<Value, ApiError> {
    let data = call.data;
    Ok(json!({
        "AgentName": data.agent_name,
        "AccountType": data.account_type,
        "TotalQuota": dataset::usd(data.voucher_quota_cents),
        "RemainingQuota": dataset::usd(data.voucher_quota_cents - data.issued_voucher_cents()),
        "IssuedNum": data.vouchers.len(),
    }))
}

fn describe_customer_info(call: &Call<'_>) -> Result<Value, ApiError> {
    let uins = match call.body.get("CustomerUin") {
        Some(Value::Array(uins)) if (1..=20).contains(&uins.len()) => uins,
        _ => {
            return Err(fail(
                "InvalidParameterValue",
                "CustomerUin must be a list of 1 to 20 UINs",
            ));
        }
    };
    let rows: Vec<Value> = uins
        .iter()
        .filter_map(|uin| call.data.customers.get(&uin.as_u64()?))
        .map(|c| {
            json!({
                "CustomerUin": c.uin.to_string(),
                "Email": c.name,
                "Phone": c.phone,
                "Mark": c.remark,
                "Name": c.name,
                "BindTime": time(&c.association_time),
                "AccountStatus": c.account_status.to_string(),
                "AuthStatus": "1",
                "AuthType": c.identify_type - 1,
                "CidRegisterTime": time(&c.association_time),
                "UinRegisterTime": time(&c.association_time),
                "AuthPassTime": time(&c.association_time),
                "HasExpense": i64::from(c.has_expense()),
            })
        })
        .collect();
    Ok(json!({ "Data": rows }))
}

fn describe_customer_bill_summary(call: &Call<'_>) -> Result<Value, ApiError> {
    let uin = param_u64(call.body, "CustomerUin")?.ok_or_else(|| {
        fail(
            "MissingParameter",
            "The request is missing a required parameter `CustomerUin`",
        )
    })?;
    let month = call.body.get("Month").and_then(Value::as_str).unwrap_or_default();
    let valid_month = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_ok();
    if month.len() != 7 || !valid_month {
        return Err(fail("InvalidParameterValue", "Month must be YYYY-MM"));
    }
    let customer = call.data.customers.get(&uin).ok_or_else(|| {
        fail(
            "InvalidParameterValue.CustomerUin",
            format!("{uin} is not your customer"),
        )
    })?;
    let cost = customer.month_cents(month);
    Ok(json!({ "TotalCost": dataset::usd(cost) }))
}

/// The first bill day DescribeCustomerBillDetailByDay answers for.
const FIRST_BILL_DAY: &str = "2025-06-01";

fn describe_customer_bill_detail_by_day(call: &Call<'_>) -> Result<Value, ApiError> {
    let uin = param_u64(call.body, "CustomerUin")?.ok_or_else(|| {
        fail(
            "MissingParameter",
            "The request is missing a required parameter `CustomerUin`",
        )
    })?;
    let text = call.body.get("Date").and_then(Value::as_str).unwrap_or_default();
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| fail("InvalidParameterValue.Date", "Date must be YYYY-MM-DD"))?;
    if text < FIRST_BILL_DAY {
        return Err(fail(
            "InvalidParameterValue.Date",
            "Historical daily bill dated before 2025-06-01 cannot be queried",
        ));
    }
    if day > call.now.date() {
        return Err(fail("InvalidParameterValue.Date", "Date cannot be in the future"));
    }
    let customer = call.data.customers.get(&uin).ok_or_else(|| {
        fail(
            "InvalidParameterValue.CustomerUin",
            format!("{uin} is not your customer"),
        )
    })?;
    // The SDK types TotalCost as a string; Tencent's bills carry 8 decimals.
    Ok(json!({ "TotalCost": format!("{:.8}", dataset::usd(customer.day_cents(day))) }))
}

fn query_sub_agents_detail(call: &Call<'_>) -> Result<Value, ApiError> {
    let data = call.data;
    if data.account_type != 2 {
        return Err(fail(
            "UnauthorizedOperation.NotDistributor",
            "Only a distributor may query second-level resellers",
        ));
    }
    let subagents: Vec<&dataset::SubAgent> = data.subagents.values().collect();
    let window = paging(call.body, 100, call.settings.silent_page_cap, 10)?;
    let rows: Vec<Value> = page_of(&subagents, window)
        .into_iter()
        .map(|a| {
            json!({
                "SubAgentUin": a.uin,
                "Name": a.name,
                "Remark": a.remark,
                "Mobile": a.mobile,
                "Email": a.email,
                "CountOfCustomers": a.customers,
                "BindTime": time(&super::china_now()),
                "Credit": dataset::usd(a.credit_cents),
                "RemainingCredit": dataset::usd(a.remaining_credit_cents),
                "Voucher": dataset::usd(a.voucher_cents),
                "RemainingVoucher": dataset::usd(a.remaining_voucher_cents),
            })
        })
        .collect();
    Ok(json!({ "Total": subagents.len(), "Data": rows }))
}

fn param_u64(body: &Value, name: &str) -> Result<Option<u64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            fail(
                "InvalidParameterValue",
                format!("{name} must be a non-negative integer"),
            )
        }),
    }
}

/// Reads Page and PageSize, rejecting what Tencent rejects and serving at
/// most `cap` items a page.
fn paging(body: &Value, max: u64, cap: Option<u64>, default_size: u64) -> Result<(usize, usize), ApiError> {
    let page = param_u64(body, "Page")?.unwrap_or(1);
    let asked = param_u64(body, "PageSize")?.unwrap_or(default_size);
    let size = cap.map_or(asked, |cap| asked.min(cap));
    if page == 0 {
        return Err(fail("InvalidParameterValue", "Page starts at 1"));
    }
    if asked == 0 || asked > max {
        return Err(fail(
            "InvalidParameterValue",
            format!("PageSize must be between 1 and {max}"),
        ));
    }
    Ok(((page - 1) as usize * size as usize, size as usize))
}

fn page_of<T: Clone>(items: &[T], (offset, size): (usize, usize)) -> Vec<T> {
    items.iter().skip(offset).take(size).cloned().collect()
}

fn time(t: &NaiveDateTime) -> String {
    t.format(dataset::TIME_FORMAT).to_string()
}
