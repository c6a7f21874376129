//! Reads the API's answers field by field, leniently.
//!
//! A response type reads only the fields the exporter uses. A used field whose
//! value has an unexpected type becomes absent and is reported as a
//! [`Report`] issue; it never fails the answer. Only the envelope of a listing
//! (its total and its list) can fail, with [`Error::Decode`], because without
//! them a short page cannot be told from the end of the list.
//!
//! The same decoding code also describes itself: [`schema`] runs a type's
//! decoder in probe mode and returns every field it reads, with the JSON type
//! it expects, so the conformance tests compare the decoder itself, not a
//! description of it, with Tencent's SDK models.

use super::Error;
use serde_json::{Map, Value};

/// The most USD any amount of the API can mean: a trillion. Beyond it (1e308,
/// say) a value is a decode error of its field, never exported.
pub const MOST_USD: f64 = 1e12;

/// How Tencent writes a time: in the API's zone, without an offset.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The JSON type the decoder expects of a field, in the SDK's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// A JSON string.
    String,
    /// An integer: a JSON number without a fraction, or a numeric string.
    Integer,
    /// A decimal amount: a JSON number, or a numeric string.
    Float,
    /// A JSON array of objects; the items' fields are listed under `Name.Field`.
    List,
}

/// A response type that can be read from the `Response` object of an answer.
pub trait Decode: Sized {
    /// Reads the fields the exporter uses; fails only on an unreadable envelope.
    fn decode(fields: &mut Fields<'_>) -> Result<Self, Error>;
}

/// What decoding one answer noticed besides the values themselves.
#[derive(Debug, Default)]
pub struct Report {
    /// Fields (as `Data.RemainingAmount`) whose value had an unexpected type
    /// and were read as absent.
    pub issues: Vec<String>,
    /// In probe mode, every field read and its expected type.
    schema: Option<Vec<(String, Wire)>>,
}

/// One JSON object being read, and where it sits in the answer.
pub struct Fields<'a> {
    object: Option<&'a Map<String, Value>>,
    /// The path of this object in the answer, as `Data.`; empty at the top.
    prefix: &'a str,
    report: &'a mut Report,
}

/// Reads `response` as `T`, returning the fields read as absent because of their type.
pub fn decode<T: Decode>(response: &Value) -> Result<(T, Vec<String>), Error> {
    let object = response
        .as_object()
        .ok_or_else(|| Error::Decode("the Response is not an object".into()))?;
    let mut report = Report::default();
    let value = T::decode(&mut Fields {
        object: Some(object),
        prefix: "",
        report: &mut report,
    })?;
    Ok((value, report.issues))
}

/// Every field `T`'s decoder reads, as a path (`Data.VoucherId`) and the type it expects.
pub fn schema<T: Decode>() -> Vec<(String, Wire)> {
    let mut report = Report {
        issues: Vec::new(),
        schema: Some(Vec::new()),
    };
    let _ = T::decode(&mut Fields {
        object: None,
        prefix: "",
        report: &mut report,
    });
    report.schema.unwrap_or_default()
}

impl<'a> Fields<'a> {
    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The value of `name`, recording in probe mode that it is read as `wire`;
    /// `None` when absent or `null`.
    fn get(&mut self, name: &str, wire: Wire) -> Option<&'a Value> {
        if let Some(schema) = &mut self.report.schema {
            schema.push((format!("{}{name}", self.prefix), wire));
        }
        self.object?.get(name).filter(|v| !v.is_null())
    }

    fn unexpected(&mut self, name: &str) {
        let path = self.path(name);
        self.report.issues.push(path);
    }

    /// A string field.
    pub fn text(&mut self, name: &str) -> Option<String> {
        let value = self.get(name, Wire::String)?;
        match value.as_str() {
            Some(text) => Some(text.to_owned()),
            None => {
                self.unexpected(name);
                None
            }
        }
    }

    /// A non-negative integer field: an id, a UIN or a count.
    pub fn unsigned(&mut self, name: &str) -> Option<u64> {
        self.integer_in_range(name)
    }

    /// An integer field that may be negative: a code.
    pub fn integer(&mut self, name: &str) -> Option<i64> {
        self.integer_in_range(name)
    }

    fn integer_in_range<T: TryFrom<i128>>(&mut self, name: &str) -> Option<T> {
        let value = self.get(name, Wire::Integer)?;
        let read = as_integer(value).and_then(|n| T::try_from(n).ok());
        if read.is_none() {
            self.unexpected(name);
        }
        read
    }

    /// A string field holding an integer, as the SDK types some UINs and
    /// codes (`"100001"`, `"2"`); a number is read too.
    pub fn integer_text(&mut self, name: &str) -> Option<i64> {
        let value = self.get(name, Wire::String)?;
        let read = match value {
            Value::String(s) => s.trim().parse::<i64>().ok(),
            other => as_integer(other).and_then(|n| i64::try_from(n).ok()),
        };
        if read.is_none() {
            self.unexpected(name);
        }
        read
    }

    /// An amount of money (USD) that may be negative, as a credit reclaimed:
    /// finite and within what any account can hold ([`MOST_USD`]).
    pub fn amount(&mut self, name: &str) -> Option<f64> {
        self.amount_within(name, -MOST_USD)
    }

    /// An amount the SDK calls a balance, a quota or a total: as
    /// [`Fields::amount`], and never negative.
    pub fn balance(&mut self, name: &str) -> Option<f64> {
        self.amount_within(name, 0.0)
    }

    /// An amount the SDK types as a string (`"12.34"`), as
    /// DescribeCustomerBillDetailByDay's `TotalCost`: as [`Fields::amount`];
    /// a JSON number is read too.
    pub fn amount_text(&mut self, name: &str) -> Option<f64> {
        self.read_amount(name, Wire::String, -MOST_USD)
    }

    fn amount_within(&mut self, name: &str, least: f64) -> Option<f64> {
        self.read_amount(name, Wire::Float, least)
    }

    fn read_amount(&mut self, name: &str, wire: Wire, least: f64) -> Option<f64> {
        let value = self.get(name, wire)?;
        let read = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite() && (least..=MOST_USD).contains(n));
        if read.is_none() {
            self.unexpected(name);
        }
        read
    }

    /// A time string, `YYYY-MM-DD hh:mm:ss` in the API's zone as Tencent
    /// writes it, or RFC 3339 with its own offset. Empty, or the all-zero
    /// time some answers use for "none", is absent; any other text is
    /// reported, never dropped silently.
    pub fn time(&mut self, name: &str) -> Option<String> {
        let text = self.text(name)?;
        let text = text.trim();
        if text.is_empty() || text.starts_with("0000-00-00") {
            return None;
        }
        let readable = chrono::NaiveDateTime::parse_from_str(text, TIME_FORMAT).is_ok()
            || chrono::DateTime::parse_from_rfc3339(text).is_ok();
        if !readable {
            self.unexpected(name);
            return None;
        }
        Some(text.to_owned())
    }

    /// The total of a listing, part of its envelope: absent or `null` is
    /// `None` (the caller decides what that means), any other type fails.
    pub fn total(&mut self, name: &str) -> Result<Option<u64>, Error> {
        match self.get(name, Wire::Integer) {
            None => Ok(None),
            Some(value) => as_integer(value)
                .and_then(|n| u64::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| Error::Decode(format!("{} is not a count: {}", self.path(name), kind(value)))),
        }
    }

    /// The list of a listing, part of its envelope: absent or `null` is
    /// empty; anything but an array fails. An item that is not an object is
    /// reported and read with every field absent.
    pub fn list<T: Decode>(&mut self, name: &str) -> Result<Vec<T>, Error> {
        let path = self.path(name);
        let prefix = format!("{path}.");
        let value = self.get(name, Wire::List);
        if self.report.schema.is_some() {
            // Probe the items' fields once, as if the list held one empty item.
            T::decode(&mut Fields {
                object: None,
                prefix: &prefix,
                report: self.report,
            })?;
        }
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        let items = value
            .as_array()
            .ok_or_else(|| Error::Decode(format!("{path} is not a list: {}", kind(value))))?;
        items
            .iter()
            .map(|item| {
                // An item that is not an object still counts as an item of the
                // listing; all its fields are absent.
                let object = item.as_object();
                if object.is_none() {
                    self.report.issues.push(path.clone());
                }
                T::decode(&mut Fields {
                    object,
                    prefix: &prefix,
                    report: self.report,
                })
            })
            .collect()
    }
}

/// An integer from a JSON number without a fraction or from a numeric string.
fn as_integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i128)
            }),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    }
}

/// The JSON type of `value`, for error messages that must not echo data.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq)]
    struct Item {
        id: Option<u64>,
        amount: Option<f64>,
        name: Option<String>,
    }

    impl Decode for Item {
        fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
            Ok(Self {
                id: f.unsigned("Id"),
                amount: f.amount("Amount"),
                name: f.text("Name"),
            })
        }
    }

    #[derive(Debug, PartialEq)]
    struct Listing {
        total: Option<u64>,
        data: Vec<Item>,
    }

    impl Decode for Listing {
        fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
            Ok(Self {
                total: f.total("Total")?,
                data: f.list("Data")?,
            })
        }
    }

    #[test]
    fn numbers_and_numeric_strings_are_both_read() {
        let (listing, issues) = decode::<Listing>(&json!({
            "Total": "2",
            "Data": [{"Id": 7, "Amount": "12.50", "Name": "a"}, {"Id": "8", "Amount": 3, "Name": null}]
        }))
        .unwrap();
        assert!(issues.is_empty());
        assert_eq!(listing.total, Some(2));
        assert_eq!(listing.data[0].amount, Some(12.5));
        assert_eq!(listing.data[1].id, Some(8));
        assert_eq!(listing.data[1].amount, Some(3.0));
        assert_eq!(listing.data[1].name, None);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_absent_and_reported() {
        let (listing, issues) = decode::<Listing>(&json!({
            "Total": 1,
            "Data": [{"Id": "x7", "Amount": {"Value": 1}, "Name": 5, "Extra": [1, 2]}]
        }))
        .unwrap();
        assert_eq!(
            listing.data,
            vec![Item {
                id: None,
                amount: None,
                name: None
            }]
        );
        assert_eq!(issues, ["Data.Id", "Data.Amount", "Data.Name"]);
    }

    #[test]
    fn negative_fractional_and_non_finite_values_are_not_ids_or_amounts() {
        let (listing, issues) =
            decode::<Listing>(&json!({"Data": [{"Id": -1, "Amount": "NaN"}, {"Id": 1.5, "Amount": "inf"}]})).unwrap();
        assert!(listing.data.iter().all(|i| i.id.is_none() && i.amount.is_none()));
        assert_eq!(issues.len(), 4);
    }

    #[test]
    fn an_unreadable_envelope_fails_the_answer() {
        for body in [
            json!({"Total": "many", "Data": []}),
            json!({"Total": 1, "Data": {"Id": 1}}),
            json!({"Total": 1, "Data": "[]"}),
            json!([]),
        ] {
            assert!(matches!(decode::<Listing>(&body), Err(Error::Decode(_))), "{body}");
        }
    }

    #[test]
    fn an_item_that_is_not_an_object_is_an_item_with_nothing_readable() {
        let (listing, issues) = decode::<Listing>(&json!({"Total": 2, "Data": [null, {"Id": 3}]})).unwrap();
        assert_eq!(listing.data.len(), 2);
        assert_eq!((listing.data[0].id, listing.data[1].id), (None, Some(3)));
        assert_eq!(issues, ["Data"]);
    }

    #[test]
    fn an_absent_envelope_is_an_empty_answer_for_the_caller_to_judge() {
        let (listing, issues) = decode::<Listing>(&json!({"Total": null})).unwrap();
        assert_eq!((listing.total, listing.data.len(), issues.len()), (None, 0, 0));
    }

    #[test]
    fn the_schema_lists_every_field_the_decoder_reads() {
        assert_eq!(
            schema::<Listing>(),
            vec![
                ("Total".to_owned(), Wire::Integer),
                ("Data".to_owned(), Wire::List),
                ("Data.Id".to_owned(), Wire::Integer),
                ("Data.Amount".to_owned(), Wire::Float),
                ("Data.Name".to_owned(), Wire::String),
            ]
        );
    }

    #[derive(Debug, PartialEq)]
    struct Money {
        balance: Option<f64>,
        change: Option<f64>,
        at: Option<String>,
    }

    impl Decode for Money {
        fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
            Ok(Self {
                balance: f.balance("Balance"),
                change: f.amount("Change"),
                at: f.time("At"),
            })
        }
    }

    #[test]
    fn amounts_the_api_cannot_mean_and_unreadable_times_are_reported_not_read() {
        let read = |v: Value| decode::<Money>(&v).unwrap();
        let (money, issues) = read(json!({"Balance": 12.5, "Change": -3, "At": "2022-10-13 20:09:03"}));
        assert_eq!(money.balance, Some(12.5));
        assert_eq!(money.change, Some(-3.0), "a credit reclaimed is negative");
        assert!(issues.is_empty());
        let (money, issues) = read(json!({"Balance": -5, "Change": 1e308, "At": "1665662943"}));
        assert_eq!(
            money,
            Money {
                balance: None,
                change: None,
                at: None
            }
        );
        assert_eq!(issues, ["Balance", "Change", "At"]);
        let (money, issues) = read(json!({"Balance": "2e12", "At": "2022-10-13T20:09:03+08:00"}));
        assert_eq!(money.balance, None);
        assert_eq!(money.at.as_deref(), Some("2022-10-13T20:09:03+08:00"));
        assert_eq!(issues, ["Balance"]);
        let (money, issues) = read(json!({"At": "0000-00-00 00:00:00"}));
        assert_eq!((money.at, issues.len()), (None, 0), "Tencent's none");
    }
}
