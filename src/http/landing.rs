//! The landing page at `/`: what this is, where the metrics are, how each
//! collector is doing (with a progress bar while its first refresh runs), the
//! API calls per action, and the customers closest to running out of credit. Plain server-rendered HTML with inline CSS: no
//! external assets, no JavaScript; it reloads itself (every 5 s while a
//! first refresh runs, every minute otherwise).

use super::{AppState, escape};
use crate::refresh::{Phase, StatusView};
use crate::snapshot::CustomerRow;
use crate::snapshot::{Kind, Snapshot};
use axum::extract::State;
use axum::response::Html;
use std::collections::HashMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// How many customers the page lists.
const CLOSEST: usize = 5;

fn whole_seconds(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn ago(t: Option<SystemTime>) -> String {
    match t.and_then(|t| SystemTime::now().duration_since(t).ok()) {
        Some(d) => format!("{} ago", whole_seconds(d)),
        None => "never".into(),
    }
}

fn until(t: Option<SystemTime>) -> String {
    match t.map(|t| t.duration_since(SystemTime::now()).unwrap_or_default()) {
        Some(d) if d.as_secs() == 0 => "now".into(),
        Some(d) => format!("in {}", whole_seconds(d)),
        None => "-".into(),
    }
}

fn state(v: &StatusView) -> (&'static str, &'static str) {
    match (v.phase, v.last_ok) {
        (Phase::Stopped, _) => ("stopped", "bad"),
        (Phase::Waiting, _) => ("waiting for customers", "idle"),
        (Phase::Refreshing, _) if !v.completed_once => ("first refresh", "idle"),
        (Phase::Refreshing, _) => ("refreshing", "idle"),
        (Phase::Idle, Some(true)) => ("ok", "good"),
        (Phase::Idle, Some(false)) => ("failing", "bad"),
        (Phase::Idle, None) => ("starting", "idle"),
    }
}

/// How far a refresh has come: a bar with the items read of the items due
/// and the time left at the rate limit's pace while the first refresh runs;
/// the count alone for a later one.
fn progress(v: &StatusView) -> String {
    let Some(p) = v.progress.filter(|p| p.due > 0) else {
        return String::new();
    };
    let counts = format!("{} of {}", thousands(p.read), thousands(p.due));
    if v.completed_once || v.phase != Phase::Refreshing {
        return format!("<span class=idle>{counts}</span>");
    }
    let share = p.read as f64 / p.due as f64;
    format!(
        "<div class=bar role=progressbar aria-valuemin=0 aria-valuemax={due} aria-valuenow={read}>\
         <div style=\"width:{percent:.1}%\"></div></div>\
         <span class=progress>{counts} · {percent:.0} % · about {left} left</span>",
        due = p.due,
        read = p.read,
        percent = share * 100.0,
        left = whole_seconds(p.time_left()),
    )
}

/// `n` with commas between thousands: 10,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn collectors_table(state_: &AppState) -> String {
    let mut rows = String::new();
    for (account, status) in state_
        .accounts
        .load()
        .iter()
        .flat_map(|a| a.statuses.iter().map(move |s| (a.name.clone(), s.clone())))
    {
        let v = status.view();
        let (text, class) = match status.not_answered() {
            Some(_) => ("no answer from the API", "bad"),
            None => state(&v),
        };
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class={class}>{text}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=err>{}</td></tr>",
            escape(&account),
            status.kind,
            progress(&v),
            whole_seconds(status.interval),
            ago(v.last_success),
            v.last_duration
                .map(|d| format!("{:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            until(v.next_run),
            escape(v.call_error.as_deref().or(v.last_error.as_deref()).unwrap_or("")),
        );
    }
    rows
}

fn api_table(state_: &AppState) -> String {
    let counts = state_.metrics.api.counts();
    if counts.is_empty() {
        return "<tr><td colspan=5>No calls yet.</td></tr>".into();
    }
    let mut rows = String::new();
    for ((account, action), c) in counts {
        let throttled = if c.throttled > 0 { "warn" } else { "" };
        let errors = if c.errors > 0 { "bad" } else { "" };
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{action}</td><td class=num>{}</td><td class=\"num {throttled}\">{}</td><td class=\"num {errors}\">{}</td></tr>",
            escape(&account),
            c.calls,
            c.throttled,
            c.errors
        );
    }
    rows
}

/// Customers with credit, by the share of it left, lowest first.
pub fn closest_to_running_out(customers: &[CustomerRow], n: usize) -> Vec<(&CustomerRow, f64)> {
    let mut with_credit: Vec<(&CustomerRow, f64)> = customers
        .iter()
        .filter_map(|c| match (c.credit, c.remaining) {
            (Some(credit), Some(remaining)) if credit > 0.0 => Some((c, remaining / credit)),
            _ => None,
        })
        .collect();
    with_credit.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.uin.cmp(&b.0.uin)));
    with_credit.truncate(n);
    with_credit
}

/// Days of credit left at the pace of the last 7 days, as the
/// `tencentcloud_partner:customer_credit_days_left` rule works it out; a
/// dash where the week is not known or nothing was spent in it.
fn days_left(remaining: Option<f64>, week: Option<f64>) -> String {
    match (remaining, week) {
        (Some(remaining), Some(week)) if week > 0.0 => format!("{:.1}", remaining / (week / 7.0)),
        _ => "–".to_owned(),
    }
}

/// A customer's remark; a dash, greyed, where the partner set none.
fn remark(text: &str) -> String {
    if text.trim().is_empty() {
        "<span class=idle title=\"No remark set\">–</span>".to_owned()
    } else {
        escape(text)
    }
}

/// Whether `/-/ready` answers 200, and why, as the page says it; and how
/// often the page reloads itself: every few seconds while a first refresh
/// runs, so that its progress moves, every minute otherwise.
fn readiness(state_: &AppState) -> (String, u32) {
    let accounts = state_.accounts.load();
    let first_refresh = accounts
        .iter()
        .flat_map(|a| a.statuses.iter())
        .any(|s| !s.completed_once() && s.view().phase == Phase::Refreshing);
    let reload = if first_refresh { 5 } else { 60 };
    if accounts.iter().any(|a| a.is_ready()) {
        let text = "<p><b class=good>Ready</b>: every collector serves values, and <code>/-/ready</code> answers 200. \
             A first refresh serves what it has read as it goes: until it completes, its Last success says never.</p>";
        return (text.to_owned(), reload);
    }
    let waiting = super::failing(state_, |s| !s.is_ready());
    let text = format!(
        "<p><b class=warn>Not ready yet</b>: <code>/-/ready</code> answers 503 until every collector serves values; \
         waiting for {}.</p>",
        escape(&waiting.join(", "))
    );
    (text, reload)
}

fn customers_table(state_: &AppState) -> String {
    let accounts = state_.accounts.load();
    let lists: Vec<_> = accounts
        .iter()
        .filter_map(|a| Some((a.name.clone(), a.snapshots.latest(Kind::Customers)?)))
        .collect();
    if lists.is_empty() {
        return "<tr><td colspan=7>No customer list yet.</td></tr>".into();
    }
    let weeks: HashMap<(&str, u64), f64> = accounts
        .iter()
        .filter_map(|a| Some((&*a.name, a.snapshots.latest(Kind::Spend)?)))
        .flat_map(|(account, published)| match &*published.snapshot {
            Snapshot::Spend(spend) => spend
                .rows
                .iter()
                .filter_map(|r| Some(((account, r.uin), r.last_7_days()?)))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut closest: Vec<(&str, &CustomerRow, f64)> = lists
        .iter()
        .filter_map(|(account, published)| match &*published.snapshot {
            Snapshot::Customers(list) => Some((account, list)),
            _ => None,
        })
        .flat_map(|(account, list)| {
            closest_to_running_out(&list.customers, CLOSEST)
                .into_iter()
                .map(move |(c, left)| (&**account, c, left))
        })
        .collect();
    closest.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.uin.cmp(&b.1.uin)));
    closest.truncate(CLOSEST);
    let mut rows = String::new();
    for (account, c, left) in closest {
        let class = if left <= 0.0 {
            "bad"
        } else if left < 0.1 {
            "warn"
        } else {
            ""
        };
        let days = days_left(c.remaining, weeks.get(&(account, c.uin)).copied());
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=num>{:.2}</td><td class=num>{:.2}</td><td class=\"num {class}\">{:.1} %</td><td class=num>{days}</td></tr>",
            escape(account),
            c.uin,
            remark(&c.remark),
            c.credit.unwrap_or_default(),
            c.remaining.unwrap_or_default(),
            left * 100.0
        );
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=7>No customer has credit.</td></tr>");
    }
    rows
}

pub(super) async fn page(State(state_): State<AppState>) -> Html<String> {
    let path = escape(&state_.telemetry_path);
    let demo = if state_.demo {
        "<p class=demo>Demo mode: these numbers come from a built-in simulated partner, not from Tencent Cloud.</p>"
    } else {
        ""
    };
    let (ready, reload) = readiness(&state_);
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="{reload}">
<title>Tencent Cloud Partner Exporter</title>
<style>
body{{font:15px/1.45 system-ui,sans-serif;color:#1f2328;max-width:64em;margin:1.5em auto;padding:0 1em}}
h1{{font-size:1.5em;margin-bottom:.2em}} h2{{font-size:1.1em;margin-top:1.6em}}
nav a{{margin-right:1.2em}} table{{border-collapse:collapse;width:100%}} .scroll{{overflow-x:auto}}
th,td{{border-bottom:1px solid #d0d7de;padding:.35em .6em;text-align:left;vertical-align:top}}
th{{background:#f6f8fa}} .num{{text-align:right;font-variant-numeric:tabular-nums}}
.good{{color:#1a7f37;font-weight:600}} .bad{{color:#cf222e;font-weight:600}} .warn{{color:#9a6700;font-weight:600}}
.idle{{color:#57606a}} .bar{{height:.6em;background:#eaeef2;border-radius:.3em;overflow:hidden;min-width:10em}}
.bar div{{height:100%;background:#1f883d}} .progress{{font-size:.85em;color:#57606a;white-space:nowrap}} .err{{color:#cf222e;font-size:.9em}} .demo{{background:#fff8c5;border:1px solid #d4a72c;padding:.5em .8em}}
footer{{margin-top:2em;color:#57606a;font-size:.9em}}
</style></head><body>
<h1>Tencent Cloud Partner Exporter</h1>
<p>Partner and customer credit, allocations, vouchers, account status and daily spend of a Tencent Cloud International partner, for Prometheus.</p>
{demo}
<nav><a href="{path}">Metrics</a><a href="/-/healthy">Health</a><a href="/-/ready">Readiness</a></nav>
<h2>Collectors</h2>
{ready}
<div class=scroll><table><tr><th>Account</th><th>Collector</th><th>State</th><th>Progress</th><th>Interval</th><th>Last success</th><th>Took</th><th>Next run</th><th>Last error</th></tr>
{collectors}</table></div>
<h2>Customers closest to running out of credit</h2>
<div class=scroll><table><tr><th>Account</th><th>UIN</th><th>Remark</th><th class=num>Credit (USD)</th><th class=num>Left (USD)</th><th class=num>Left</th><th class=num title="At the pace of the 7 complete days before today">Days left</th></tr>
{customers}</table></div>
<h2>API calls since start</h2>
<div class=scroll><table><tr><th>Account</th><th>Action</th><th class=num>Calls</th><th class=num>Throttled</th><th class=num>Errors</th></tr>
{api}</table></div>
<footer>tencentcloud-partner-exporter {version} ({revision})</footer>
</body></html>
"#,
        collectors = collectors_table(&state_),
        customers = customers_table(&state_),
        api = api_table(&state_),
        version = crate::metrics::VERSION,
        revision = crate::metrics::REVISION,
    ))
}
