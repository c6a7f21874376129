//! The decoder and the simulator against Tencent's SDK models
//! (`tests/data/sdk/`), for every action the exporter declares. The simulator
//! cannot catch a misreading of the API that it shares with the decoder; the
//! SDK's models can.

mod support;

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use support::{SECRET_ID, SECRET_KEY, start_api};
use tencentcloud_partner_exporter::api::actions::{self, Declared};
use tencentcloud_partner_exporter::api::decode::Wire;
use tencentcloud_partner_exporter::api::signing;
use tencentcloud_partner_exporter::simulator::{Settings, Shape};

/// What the SDK declares: models by name, and each action's two models.
struct Sdk {
    models: BTreeMap<String, Vec<SdkField>>,
    actions: BTreeMap<String, (String, String)>,
}

struct SdkField {
    name: String,
    ty: String,
}

impl Sdk {
    fn load() -> Self {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sdk/intlpartnersmgt-2022-09-28.json"
        );
        let text = std::fs::read_to_string(path).expect("the SDK models are checked in");
        let doc: Value = serde_json::from_str(&text).expect("the SDK models are JSON");
        assert_eq!(doc["service"], "intlpartnersmgt");
        assert_eq!(doc["api_version"], "2022-09-28");
        let models = doc["models"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, model)| {
                let fields = model["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| SdkField {
                        name: f["name"].as_str().unwrap().to_owned(),
                        ty: f["type"].as_str().unwrap().to_owned(),
                    })
                    .collect();
                (name.clone(), fields)
            })
            .collect();
        let actions = doc["actions"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, a)| {
                let model = |k: &str| a[k].as_str().unwrap().to_owned();
                (name.clone(), (model("request"), model("response")))
            })
            .collect();
        Self { models, actions }
    }

    fn action(&self, name: &str) -> &(String, String) {
        self.actions
            .get(name)
            .unwrap_or_else(|| panic!("{name} is declared in api/actions but Tencent's SDK has no such action"))
    }

    fn field(&self, model: &str, name: &str) -> Option<&SdkField> {
        self.models[model].iter().find(|f| f.name == name)
    }

    /// The SDK type of a field path (`Data.VoucherId`) in `model`.
    fn type_of(&self, model: &str, path: &str) -> Result<String, String> {
        let (head, rest) = match path.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let field = self
            .field(model, head)
            .ok_or_else(|| format!("{model} has no field {head}"))?;
        match rest {
            None => Ok(field.ty.clone()),
            Some(rest) => {
                let inner = field.ty.strip_prefix("list of ").unwrap_or(&field.ty);
                if !self.models.contains_key(inner) {
                    return Err(format!("{model}.{head} is a {}, not a model", field.ty));
                }
                self.type_of(inner, rest)
            }
        }
    }

    /// Whether a field the decoder reads as `wire` can hold the SDK's `ty`.
    fn compatible(&self, wire: Wire, ty: &str) -> bool {
        match wire {
            Wire::String => ty == "string",
            Wire::Integer => ty == "integer",
            // An integer is a valid amount; a string is not what the SDK declares.
            Wire::Float => ty == "float" || ty == "integer",
            Wire::List => ty
                .strip_prefix("list of ")
                .is_some_and(|item| self.models.contains_key(item)),
        }
    }

    /// Problems of `value` as the SDK type `ty`, recursively; `null` is always allowed.
    fn check(&self, value: &Value, ty: &str, path: &str, problems: &mut Vec<String>) {
        let fits = match (ty, value) {
            (_, Value::Null) => true,
            ("string", v) => v.is_string(),
            ("integer", v) => v.is_i64() || v.is_u64(),
            ("float", v) => v.is_number(),
            ("bool", v) => v.is_boolean(),
            (list, Value::Array(items)) if list.starts_with("list of ") => {
                for (i, item) in items.iter().enumerate() {
                    self.check(item, &list["list of ".len()..], &format!("{path}[{i}]"), problems);
                }
                true
            }
            (model, Value::Object(object)) if self.models.contains_key(model) => {
                for (name, value) in object {
                    match self.field(model, name) {
                        Some(field) => self.check(value, &field.ty, &format!("{path}.{name}"), problems),
                        None => problems.push(format!("{path}.{name}: {model} has no such field")),
                    }
                }
                true
            }
            _ => false,
        };
        if !fits {
            problems.push(format!("{path}: {value} is not of the SDK type {ty}"));
        }
    }

    /// A value of the SDK type `ty` with everything filled in: lists of
    /// three, nested models complete, plus a field the SDK does not know.
    fn maximal(&self, ty: &str, seed: u64) -> Value {
        match ty {
            // Digits: a valid string, and a valid value for the strings the
            // SDK uses to carry a number (DescribeCustomerInfo's CustomerUin).
            "string" => json!((200_000 + seed).to_string()),
            "integer" => json!(100_000 + seed),
            "float" => json!(seed as f64 + 0.25),
            "bool" => json!(seed.is_multiple_of(2)),
            list if list.starts_with("list of ") => {
                let item = &list["list of ".len()..];
                json!((0..3).map(|i| self.maximal(item, seed * 10 + i)).collect::<Vec<_>>())
            }
            model => {
                let mut object: Map<String, Value> = self.models[model]
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        // A time is a string in Tencent's format: the decoder
                        // reads no other text as one.
                        let time = f.ty == "string" && (f.name.ends_with("Time") || f.name == "RecentExpiry");
                        let value = if time {
                            json!("2022-10-13 20:09:03")
                        } else {
                            self.maximal(&f.ty, seed + i as u64)
                        };
                        (f.name.clone(), value)
                    })
                    .collect();
                object.insert("FieldTencentAddsLater".into(), json!({"Nested": [1, "two", null]}));
                Value::Object(object)
            }
        }
    }

    /// The response model with every field `null`, recursively into nothing.
    fn nulls(&self, model: &str) -> Value {
        Value::Object(
            self.models[model]
                .iter()
                .map(|f| (f.name.clone(), Value::Null))
                .collect(),
        )
    }
}

#[test]
fn every_response_field_the_decoder_reads_is_in_the_sdk_model_with_a_compatible_type() {
    let sdk = Sdk::load();
    let mut problems = Vec::new();
    for action in actions::declared() {
        let (_, response) = sdk.action(action.name);
        assert!(!action.reads.is_empty(), "{} reads nothing", action.name);
        for (path, wire) in &action.reads {
            match sdk.type_of(response, path) {
                Ok(ty) if sdk.compatible(*wire, &ty) => {}
                Ok(ty) => problems.push(format!(
                    "{}: {path} is read as {wire:?} but the SDK declares {ty}",
                    action.name
                )),
                Err(e) => problems.push(format!("{}: {path}: {e}", action.name)),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the decoder disagrees with the SDK:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_request_the_exporter_sends_is_in_the_sdk_request_model() {
    let sdk = Sdk::load();
    let mut problems = Vec::new();
    for action in actions::declared() {
        let (request, _) = sdk.action(action.name);
        sdk.check(&action.example, request, action.name, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "requests disagree with the SDK:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_maximal_answer_of_every_action_decodes_with_every_value_read() {
    let sdk = Sdk::load();
    for action in actions::declared() {
        let (_, response) = sdk.action(action.name);
        let answer = sdk.maximal(response, 1);
        let odd = (action.decode)(&answer)
            .unwrap_or_else(|e| panic!("{}: a maximal answer fails to decode: {e}\n{answer:#}", action.name));
        assert!(
            odd.is_empty(),
            "{}: SDK-typed fields read as absent: {odd:?}",
            action.name
        );
    }
}

#[test]
fn a_minimal_answer_of_every_action_decodes() {
    let sdk = Sdk::load();
    for action in actions::declared() {
        let (_, response) = sdk.action(action.name);
        for answer in [json!({}), json!({"RequestId": "r"}), sdk.nulls(response)] {
            let odd =
                (action.decode)(&answer).unwrap_or_else(|e| panic!("{}: {answer} fails to decode: {e}", action.name));
            assert!(odd.is_empty(), "{}: {answer}: {odd:?}", action.name);
        }
    }
}

/// A valid request for `action` against the simulator's data. A new action
/// must be given one here, so its answers get checked too.
fn simulator_request(action: &Declared, customer: u64, voucher: u64) -> Value {
    match action.name {
        "QueryPartnerCredit" | "QueryVoucherPool" => json!({}),
        "QueryCustomersCredit" => json!({"Page": 1, "PageSize": 100, "Order": "asc"}),
        "QueryCreditByUinList" => json!({"UinList": [customer]}),
        "DescribeCustomerInfo" => json!({"CustomerUin": [customer]}),
        "QuerySubAgentsDetailV2" => json!({"Page": 1, "PageSize": 100}),
        "QueryCreditAllocationHistory" => json!({"ClientUin": customer, "Page": 1, "PageSize": 100}),
        "DescribeCustomerVoucherList" => json!({"Page": 1, "PageSize": 100}),
        "DescribeCustomerBillSummary" => {
            let month = tencentcloud_partner_exporter::simulator::china_now()
                .format("%Y-%m")
                .to_string();
            json!({"CustomerUin": customer, "Month": month})
        }
        "DescribeCustomerVoucherUsageDetails" => {
            json!({"Page": 1, "PageSize": 100, "CustomerUin": customer, "VoucherId": voucher})
        }
        "DescribeCustomerBillDetailByDay" => {
            let yesterday = tencentcloud_partner_exporter::simulator::china_now().date() - chrono::Days::new(1);
            json!({"CustomerUin": customer, "Date": yesterday.format("%Y-%m-%d").to_string()})
        }
        other => panic!("no simulator request for {other}: add one to this test"),
    }
}

/// Calls the simulator as Tencent's SDK would and returns the `Response` object.
async fn call(endpoint: &str, action: &str, body: &Value) -> Value {
    let body = serde_json::to_vec(body).unwrap();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let request = signing::Request {
        host: &host,
        content_type: "application/json",
        body: &body,
        timestamp,
    };
    let answer: Value = reqwest::Client::new()
        .post(endpoint)
        .header("Content-Type", "application/json")
        .header("Authorization", signing::authorization(SECRET_ID, SECRET_KEY, &request))
        .header("X-TC-Action", action)
        .header("X-TC-Version", "2022-09-28")
        .header("X-TC-Timestamp", timestamp.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["Response"].clone()
}

#[tokio::test]
async fn the_simulator_answers_every_action_as_the_sdk_declares() {
    let sdk = Sdk::load();
    let api = start_api(
        Shape {
            customers: 30,
            vouchers_per_customer: 2.0,
            seed: 3,
        },
        Settings {
            rate_limit_scale: None,
            ..Settings::default()
        },
    )
    .await;
    // A customer with allocations and a voucher with usage records, so that
    // lists hold items to check.
    let (customer, voucher) = api.sim.with_data(|d| {
        let v = d
            .vouchers
            .values()
            .find(|v| v.usage_records > 3)
            .expect("a used voucher");
        (v.customer_uin, v.id)
    });
    let mut problems = Vec::new();
    for action in actions::declared() {
        let (_, model) = sdk.action(action.name);
        let answer = call(
            &api.endpoint,
            action.name,
            &simulator_request(&action, customer, voucher),
        )
        .await;
        assert!(answer.get("Error").is_none(), "{}: {answer}", action.name);
        sdk.check(&answer, model, action.name, &mut problems);
        // Every field the decoder reads is sent, so the simulator exercises it.
        for (path, _) in &action.reads {
            let present = match path.split_once('.') {
                None => answer.get(path.as_str()).is_some(),
                Some((list, field)) => answer[list]
                    .as_array()
                    .is_some_and(|items| !items.is_empty() && items.iter().all(|item| item.get(field).is_some())),
            };
            if !present {
                problems.push(format!("{}: the simulator does not send {path}", action.name));
            }
        }
        let odd = (action.decode)(&answer).unwrap();
        assert!(odd.is_empty(), "{}: {odd:?}", action.name);
    }
    assert!(
        problems.is_empty(),
        "the simulator disagrees with the SDK:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn the_simulator_refuses_an_action_the_exporter_does_not_declare() {
    let api = start_api(
        Shape {
            customers: 1,
            vouchers_per_customer: 0.0,
            seed: 1,
        },
        Settings::default(),
    )
    .await;
    let answer = call(&api.endpoint, "QueryDirectCustomersCredit", &json!({})).await;
    assert_eq!(answer["Error"]["Code"], "InvalidAction");
}

#[tokio::test]
async fn the_simulators_days_add_up_to_its_month_and_no_day_before_june_2025_is_answered() {
    let api = start_api(
        Shape {
            customers: 10,
            vouchers_per_customer: 0.0,
            seed: 5,
        },
        Settings {
            rate_limit_scale: None,
            ..Settings::default()
        },
    )
    .await;
    let today = tencentcloud_partner_exporter::simulator::china_now().date();
    let month = today.format("%Y-%m").to_string();
    let customers: Vec<u64> = api.sim.with_data(|d| d.customers.keys().copied().collect());
    let mut spenders = 0;
    for customer in customers {
        let mut days = 0.0;
        for day in today
            .iter_days()
            .rev()
            .take_while(|d| d.format("%Y-%m").to_string() == month)
        {
            let date = day.format("%Y-%m-%d").to_string();
            let answer = call(
                &api.endpoint,
                "DescribeCustomerBillDetailByDay",
                &json!({"CustomerUin": customer, "Date": date}),
            )
            .await;
            let cost = answer["TotalCost"]
                .as_str()
                .expect("TotalCost is a string, as the SDK says");
            days += cost.parse::<f64>().unwrap();
        }
        let summary = call(
            &api.endpoint,
            "DescribeCustomerBillSummary",
            &json!({"CustomerUin": customer, "Month": month}),
        )
        .await;
        let month_cost = summary["TotalCost"].as_f64().unwrap();
        assert!(
            (days - month_cost).abs() < 0.005,
            "{customer}: {days} by day, {month_cost} by month"
        );
        spenders += usize::from(month_cost > 0.0);
    }
    assert!(spenders > 0, "some customers spend");
    for date in ["2025-05-31", "2024-12-01"] {
        let answer = call(
            &api.endpoint,
            "DescribeCustomerBillDetailByDay",
            &json!({"CustomerUin": 100000000000u64, "Date": date}),
        )
        .await;
        assert!(
            answer["Error"]["Code"]
                .as_str()
                .unwrap_or_default()
                .starts_with("InvalidParameter"),
            "{date}: {answer}"
        );
    }
}
