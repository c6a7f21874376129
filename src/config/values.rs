//! The parsers of flag and accounts-file values: each checks one value and
//! says what is wrong with it in a few words.

use chrono::FixedOffset;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;
use url::Url;

pub(super) fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.to_socket_addrs()
        .map_err(|e| format!("not a HOST:PORT address ({e})"))?
        .next()
        .ok_or_else(|| "the host resolves to no address".to_owned())
}

pub(super) fn parse_telemetry_path(text: &str) -> Result<String, String> {
    match text {
        "/" | "/-/healthy" | "/-/ready" | "/-/reload" => Err(format!("{text} is taken by another endpoint")),
        p if p.starts_with('/') && !p.contains(char::is_whitespace) => Ok(p.to_owned()),
        _ => Err("must be a path starting with /".into()),
    }
}

pub(super) fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

pub(super) fn parse_fraction(text: &str) -> Result<f64, String> {
    check_fraction(text.trim().parse().map_err(|_| "not a number".to_owned())?)
}

/// A share of the documented rate limits, from a flag or the accounts file.
pub(super) fn check_fraction(value: f64) -> Result<f64, String> {
    if !(value.is_finite() && value > 0.0 && value <= 100.0) {
        return Err("must be above 0 and at most 100".into());
    }
    Ok(value)
}

/// A duration, from a flag or the accounts file: `30s`, `5m`, `1h30m`, above zero.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(text.trim()).map_err(|e| format!("not a duration like 30s, 5m or 1h ({e})"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

pub(super) fn parse_timezone(text: &str) -> Result<FixedOffset, String> {
    let text = text.trim();
    if matches!(text, "UTC" | "utc" | "Z") {
        return Ok(FixedOffset::east_opt(0).expect("zero is a valid offset"));
    }
    text.parse::<FixedOffset>()
        .map_err(|_| "must be a UTC offset like +08:00, -05:00 or UTC".to_owned())
}

pub(super) fn parse_uin(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a UIN (a positive integer)"))
}
