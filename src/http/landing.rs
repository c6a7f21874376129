//! The landing page at `/`: what this is, where the metrics are, and how each
//! collector is doing. Plain server-rendered HTML, no external assets.

use super::{AppState, escape};
use axum::extract::State;
use axum::response::Html;
use std::fmt::Write;
use std::time::SystemTime;

fn ago(t: Option<SystemTime>) -> String {
    match t.and_then(|t| SystemTime::now().duration_since(t).ok()) {
        Some(d) => format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs()))
        ),
        None => "never".into(),
    }
}

fn until(t: Option<SystemTime>) -> String {
    match t.and_then(|t| t.duration_since(SystemTime::now()).ok()) {
        Some(d) => format!(
            "in {}",
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs()))
        ),
        None => "-".into(),
    }
}

pub(super) async fn page(State(state): State<AppState>) -> Html<String> {
    let mut rows = String::new();
    for status in state.statuses.iter() {
        let v = status.view();
        let state_text = match (v.stopped, v.waiting, v.running, v.last_ok) {
            (true, ..) => "stopped",
            (_, true, ..) => "waiting for customers",
            (_, _, true, _) => "refreshing",
            (.., Some(true)) => "ok",
            (.., Some(false)) => "failing",
            _ => "starting",
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            status.kind,
            state_text,
            humantime::format_duration(status.interval),
            ago(v.last_success),
            until(v.next_run),
            escape(v.last_error.as_deref().unwrap_or("")),
        );
    }
    let path = escape(&state.telemetry_path);
    let demo = if state.demo {
        "<p class=demo>Demo mode: the numbers come from a built-in simulated partner, not from Tencent Cloud.</p>"
    } else {
        ""
    };
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Tencent Cloud Partner Exporter</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.demo{{background:#fff3cd;padding:.5em}}</style>
</head><body>
<h1>Tencent Cloud Partner Exporter</h1>
<p>Partner and customer credit, credit allocations and customer vouchers of a Tencent Cloud International partner, for Prometheus. Version {version}.</p>
{demo}
<ul><li><a href="{path}">Metrics</a></li><li><a href="/-/healthy">Health</a></li><li><a href="/-/ready">Readiness</a></li></ul>
<h2>Collectors</h2>
<table><tr><th>Collector</th><th>State</th><th>Interval</th><th>Last success</th><th>Next run</th><th>Last error</th></tr>
{rows}</table>
</body></html>
"#,
        version = crate::metrics::VERSION,
    ))
}
