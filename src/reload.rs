//! Re-reading configuration files while running, as Prometheus does: on
//! SIGHUP, on `POST /-/reload` (with `--web.enable-lifecycle`), and when the
//! accounts file, the customer thresholds file, the web configuration file
//! or a certificate it names changes on disk. Files that fail to load, or accounts that fail to start,
//! leave the running configuration in force, say why in the log, and set
//! `tencentcloud_partner_config_last_reload_successful` to 0. This module
//! decides when and whether to swap; what the files mean belongs to
//! [`crate::config::accounts`] and [`crate::http::web_config`].

use crate::account::{self, Fleet};
use crate::config::{self, Config};
use crate::http::guard::Guard;
use crate::http::web_config::{self, WebConfig};
use crate::metrics::instrumentation::ReloadMetrics;
use crate::thresholds::Thresholds;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Each watched file's modification time and size when last loaded: a
/// change to either means reload.
type Stamps = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// Why a reload kept the running configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--web.config.file: {0}")]
    Web(web_config::Error),
    #[error("--web.config.file {path}: refused on reload: {why}")]
    Weakens { path: PathBuf, why: &'static str },
    #[error("--config.file: {0}")]
    Accounts(config::accounts::Error),
    #[error("--customers.thresholds-file: {0}")]
    Thresholds(config::file::Error),
    #[error("{0}")]
    Account(account::Error),
}

/// The files a reload reads.
pub struct Sources {
    pub web_config_file: Option<PathBuf>,
    pub accounts_file: Option<PathBuf>,
    pub thresholds_file: Option<PathBuf>,
    /// The flags, for what the accounts file leaves out.
    pub flags: Config,
}

/// Loads the configuration files and swaps them in.
pub struct Reloader {
    sources: Sources,
    fleet: Arc<Fleet>,
    guard: Arc<Guard>,
    metrics: ReloadMetrics,
    /// The customer thresholds in force.
    thresholds: Arc<ArcSwap<Thresholds>>,
    /// The files as last loaded, or last failed to load, so a bad file is
    /// reported once rather than every [`WATCH_INTERVAL`].
    seen: Mutex<Stamps>,
    /// One reload at a time: SIGHUP and `/-/reload` can race.
    running: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// Puts `web`, loaded at start, in force, beside the accounts `fleet`
    /// was started with.
    pub fn new(
        sources: Sources,
        web: WebConfig,
        probes_without_auth: bool,
        metrics: ReloadMetrics,
        fleet: Arc<Fleet>,
        thresholds: Arc<ArcSwap<Thresholds>>,
    ) -> Self {
        describe(&web, &metrics);
        let seen = stamps(&watched(&sources, &web));
        Self {
            sources,
            fleet,
            guard: Arc::new(Guard::new(web, probes_without_auth)),
            metrics,
            thresholds,
            seen: Mutex::new(seen),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// The guard the HTTP server puts before every handler.
    pub fn guard(&self) -> Arc<Guard> {
        self.guard.clone()
    }

    /// Reads every configuration file again and puts them in force, or keeps
    /// the running configuration if one cannot be used.
    pub async fn reload(&self) -> Result<(), Error> {
        let _one_at_a_time = self.running.lock().await;
        // Stamped before they are read: a file changed while the reload runs
        // is then seen as changed, and read again.
        let before = stamps(&watched(&self.sources, &self.guard.active().config));
        let outcome = self.load_and_apply().await;
        let web = self.guard.active();
        let seen = stamps(&watched(&self.sources, &web.config))
            .into_iter()
            .map(|(path, now)| match before.iter().find(|(p, _)| *p == path) {
                Some((_, stamp)) => (path, *stamp),
                None => (path, now),
            })
            .collect();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = seen;
        match &outcome {
            Ok(()) => {
                self.metrics.record(true);
                tracing::info!("configuration reloaded");
            }
            Err(error) => {
                self.metrics.record(false);
                tracing::error!(%error, "configuration reload failed; keeping the running configuration");
            }
        }
        outcome
    }

    async fn load_and_apply(&self) -> Result<(), Error> {
        let web = match self.sources.web_config_file.clone() {
            // Loading hashes a decoy password with bcrypt: keep it off the async workers.
            Some(path) => Some(
                tokio::task::spawn_blocking(move || WebConfig::load(&path))
                    .await
                    .expect("loading the web configuration does not panic")
                    .map_err(Error::Web)?,
            ),
            None => None,
        };
        if let (Some(web), Some(path)) = (&web, &self.sources.web_config_file)
            && let Some(why) = web.weakens(&self.guard.active().config)
        {
            return Err(Error::Weakens {
                path: path.clone(),
                why,
            });
        }
        // Read before anything is applied: a bad file keeps everything as it is.
        let thresholds = match &self.sources.thresholds_file {
            Some(path) => Some(Thresholds::load(path).map_err(Error::Thresholds)?),
            None => None,
        };
        if let Some(path) = &self.sources.accounts_file {
            let accounts = config::accounts::load(path, &self.sources.flags, |name| std::env::var(name).ok())
                .map_err(Error::Accounts)?;
            self.fleet.apply(accounts).await.map_err(Error::Account)?;
        }
        if let Some(web) = web {
            describe(&web, &self.metrics);
            self.guard.replace(web);
        }
        if let Some(thresholds) = thresholds {
            self.thresholds.store(Arc::new(thresholds));
        }
        Ok(())
    }

    /// Reloads on SIGHUP and when a watched file changes, until `cancel`.
    pub async fn watch(self: Arc<Self>, cancel: CancellationToken) {
        let mut hangup = hangups();
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                Some(()) = next_hangup(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    let _ = self.reload().await;
                }
                _ = tick.tick() => {
                    if self.changed_on_disk() {
                        let _ = self.reload().await;
                    }
                }
            }
        }
    }

    fn changed_on_disk(&self) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.is_empty() {
            return false;
        }
        let files: Vec<PathBuf> = seen.iter().map(|(path, _)| path.clone()).collect();
        *seen != stamps(&files)
    }
}

impl crate::http::Reload for Reloader {
    fn reload(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { Reloader::reload(self).await.map_err(|e| e.to_string()) })
    }
}

/// The files whose change triggers a reload.
fn watched(sources: &Sources, web: &WebConfig) -> Vec<PathBuf> {
    let mut files = web.files.clone();
    if let Some(path) = &sources.web_config_file
        && !files.contains(path)
    {
        files.push(path.clone());
    }
    files.extend(sources.accounts_file.clone());
    files.extend(sources.thresholds_file.clone());
    files
}

fn stamps(files: &[PathBuf]) -> Stamps {
    files
        .iter()
        .map(|path| {
            let stamp = std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (path.clone(), stamp)
        })
        .collect()
}

/// How long before its expiry a certificate is warned about.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

fn describe(web: &WebConfig, metrics: &ReloadMetrics) {
    for warning in &web.warnings {
        tracing::warn!("{warning}");
    }
    metrics.certificate_expires(web.certificate_expires);
    if let Some(expires) = web.certificate_expires {
        let left = expires.duration_since(SystemTime::now());
        let at = humantime::format_rfc3339_seconds(expires);
        match left {
            Err(_) => tracing::warn!(expired = %at, "the TLS certificate served has expired: clients will refuse it"),
            Ok(left) if left < EXPIRY_WARNING => {
                let left = humantime::format_duration(Duration::from_secs(left.as_secs()));
                tracing::warn!(expires = %at, %left, "the TLS certificate served expires soon");
            }
            Ok(_) => {}
        }
    }
    if web.files.is_empty() {
        return;
    }
    tracing::info!(
        tls = web.tls.is_some(),
        basic_auth_users = web.users.len(),
        headers = web.headers.len(),
        rate_limit = web.rate_limit.is_some(),
        "web configuration in force"
    );
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

#[cfg(unix)]
async fn next_hangup(signal: &mut Hangups) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}
