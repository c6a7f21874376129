//! Faults the simulator can inject, to prove the exporter survives them.

use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What goes wrong with one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this Tencent error code (HTTP 200, `Response.Error`).
    Error(String),
    /// Answer with this HTTP status and an HTML body.
    Status(u16),
    /// Answer HTTP 200 with a body that is not JSON.
    Malformed,
    /// Answer with the first half of the correct JSON body.
    Truncated,
    /// Answer correctly, but only after this delay.
    Latency(Duration),
    /// Answer with every field of the `Response` set to `null`.
    Nulls,
    /// Close the connection without an answer, as a reset by the network or
    /// a proxy in between does.
    Reset,
    /// Answer with the correct `Response` object changed by this function:
    /// a field of another type, an extra field, records added.
    Rewrite(Rewrite),
}

/// A change to the `Response` object of an answer.
#[derive(Clone)]
pub struct Rewrite(Arc<dyn Fn(&mut Value) + Send + Sync>);

impl Rewrite {
    pub fn new(f: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(crate) fn apply(&self, response: &mut Value) {
        (self.0)(response)
    }
}

impl fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rewrite(..)")
    }
}

impl PartialEq for Rewrite {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Fault {
    /// One of each kind of upstream fault the exporter must survive: the
    /// retryable error codes, 502 and 503, bodies that are not JSON or cut
    /// short, `null`s, a reset connection, and latency beyond a 2 s timeout.
    pub fn every_kind() -> Vec<Fault> {
        vec![
            Fault::Error("InternalError".into()),
            Fault::Error("OperationDenied.ServiceBusy".into()),
            Fault::Status(502),
            Fault::Status(503),
            Fault::Malformed,
            Fault::Truncated,
            Fault::Nulls,
            Fault::Reset,
            Fault::Latency(Duration::from_secs(3)),
        ]
    }
}

/// A fault applied to matching requests.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The action it applies to; `None` for every action.
    pub action: Option<String>,
    pub fault: Fault,
    /// Chance of applying to a matching request.
    pub probability: f64,
    /// How many more times it may apply; `None` for no end.
    pub remaining: Option<u64>,
    /// Matching calls to let through untouched before the rule starts applying.
    pub skip: u64,
    /// A field the request must set, as `VoucherId` does for a voucher
    /// listed by its id, and, when given, the value it must hold; `None` for
    /// any request of the action.
    pub asking: Option<(String, Option<u64>)>,
}

impl Rule {
    /// A fault on every call of every action, until removed.
    pub fn always(fault: Fault) -> Self {
        Self {
            action: None,
            fault,
            probability: 1.0,
            remaining: None,
            skip: 0,
            asking: None,
        }
    }

    /// Restricts the rule to one action.
    pub fn on(mut self, action: &str) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Applies the rule only to this share of matching calls.
    pub fn sometimes(mut self, probability: f64) -> Self {
        self.probability = probability;
        self
    }

    /// Applies the rule to the next `n` matching calls only.
    pub fn times(mut self, n: u64) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Lets the next `n` matching calls through first: a refresh then fails part-way.
    pub fn after(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Restricts the rule to requests that set `field`.
    pub fn asking(mut self, field: &str) -> Self {
        self.asking = Some((field.into(), None));
        self
    }

    /// Restricts the rule to requests that set `field` to `value`: one
    /// customer's or one voucher's.
    pub fn asking_for(mut self, field: &str, value: u64) -> Self {
        self.asking = Some((field.into(), Some(value)));
        self
    }

    pub(crate) fn matches(&self, action: &str, body: &[u8]) -> bool {
        let asks = || {
            let field = |(name, value): &(String, Option<u64>)| {
                serde_json::from_slice::<Value>(body).is_ok_and(|b| {
                    let asked = &b[name.as_str()];
                    !asked.is_null() && value.is_none_or(|value| asked.as_u64() == Some(value))
                })
            };
            self.asking.as_ref().is_none_or(field)
        };
        self.remaining != Some(0) && self.action.as_deref().is_none_or(|a| a == action) && asks()
    }
}
