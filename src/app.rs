//! Wires the exporter together: the accounts (each with its API client,
//! cache and collectors), the HTTP server and the reloader, and stops them
//! all on shutdown.

use crate::account::{self, Accounts, Fleet};
use crate::api::Credentials;
use crate::config::{self, Config};
use crate::http::web_config::{self, WebConfig};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::reload::{self, Reloader};
use crate::simulator::{self, Simulator};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for refresh tasks before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Why the exporter could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the demo API: {0}")]
    Demo(std::io::Error),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Account(account::Error),
    #[error("--config.file: {0}")]
    Accounts(config::accounts::Error),
    #[error("--web.config.file: {0}")]
    WebConfig(web_config::Error),
    #[error("--customers.thresholds-file: {0}")]
    Thresholds(config::file::Error),
}

/// Starts the built-in simulated partner and returns where it listens and its key.
async fn start_demo() -> Result<(url::Url, Credentials), Error> {
    let simulator = Simulator::new(
        simulator::Dataset::generate(simulator::Shape::demo()),
        Default::default(),
    );
    let secret_id = format!("AKIDdemo{:016x}", rand::random::<u64>());
    let secret_key = format!("{:032x}", rand::random::<u128>());
    simulator.add_key(&secret_id, &secret_key);
    let addr = simulator.spawn().await.map_err(Error::Demo)?;
    simulator.spawn_drift(Duration::from_secs(10));
    let endpoint = url::Url::parse(&format!("http://{addr}")).expect("a socket address makes a valid URL");
    tracing::info!(%endpoint, "demo mode: serving a simulated partner API");
    Ok((endpoint, Credentials::new(secret_id, secret_key, None)))
}

/// The address a person opens for a server on `addr`: `localhost` for a
/// server on every address.
fn url_of(scheme: &str, addr: std::net::SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => format!("{scheme}://localhost:{}/", addr.port()),
        std::net::IpAddr::V6(ip) => format!("{scheme}://[{ip}]:{}/", addr.port()),
        ip => format!("{scheme}://{ip}:{}/", addr.port()),
    }
}

/// Logs once when the exporter becomes ready: an account's every collector
/// serves values, and `/-/ready` answers 200.
async fn announce_ready(accounts: Accounts, cancel: CancellationToken) {
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        if accounts.load().iter().any(|a| a.is_ready()) {
            let after = humantime::format_duration(Duration::from_millis(started.elapsed().as_millis() as u64));
            tracing::info!(%after, "ready: every collector serves values, and /-/ready answers 200");
            return;
        }
    }
}

/// Runs the exporter on `listener` until `shutdown` completes.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    crate::api::install_crypto_provider();
    // Unusable configuration files are the operator's first mistakes to hear about.
    let web = match &config.web.config_file {
        Some(path) => WebConfig::load(path).map_err(Error::WebConfig)?,
        None => WebConfig::default(),
    };
    let thresholds = match &config.thresholds_file {
        Some(path) => crate::thresholds::Thresholds::load(path).map_err(Error::Thresholds)?,
        None => crate::thresholds::Thresholds::default(),
    };
    let account_configs = match &config.config_file {
        Some(path) => {
            config::accounts::load(path, &config, |name| std::env::var(name).ok()).map_err(Error::Accounts)?
        }
        None => Vec::new(),
    };
    let demo_key = if config.demo {
        let (endpoint, credentials) = start_demo().await?;
        config.api.endpoint = endpoint;
        Some(credentials)
    } else {
        None
    };
    let account_configs = if config.config_file.is_some() {
        account_configs
    } else {
        vec![config.flag_account()]
    };

    let accounts = Accounts::default();
    let metrics = Arc::new(Metrics::new(
        accounts.clone(),
        Box::new(crate::refresh::metrics::RefreshMetrics(accounts.clone())),
        crate::refresh::counters(),
    ));
    metrics.thresholds.store(Arc::new(thresholds));
    let fleet = Arc::new(Fleet::new(
        account::Setup {
            common: config.common(),
            api_metrics: metrics.api.clone(),
            store_errors: metrics.store_errors.clone(),
            counters: metrics.counters.clone(),
            demo_key,
        },
        accounts.clone(),
    ));
    fleet.apply(account_configs).await.map_err(Error::Account)?;

    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let reloader = Arc::new(Reloader::new(
        reload::Sources {
            web_config_file: config.web.config_file.clone(),
            accounts_file: config.config_file.clone(),
            thresholds_file: config.thresholds_file.clone(),
            flags: config.clone(),
        },
        web,
        config.web.probes_without_auth,
        metrics.reload.clone(),
        fleet.clone(),
        metrics.thresholds.clone(),
    ));
    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(reloader.clone().watch(cancel.clone()));
    tokio::spawn(announce_ready(accounts.clone(), cancel.clone()));

    let state = AppState {
        metrics,
        accounts,
        telemetry_path: config.telemetry_path.clone(),
        demo: config.demo,
        guard: reloader.guard(),
        reloader: reloader.clone(),
        lifecycle: config.web.enable_lifecycle,
    };
    if let Ok(addr) = listener.local_addr() {
        let page = url_of(scheme, addr);
        tracing::info!(address = %addr, "listening: open {page} (metrics at {})", config.telemetry_path);
    }
    let open_files = http::connections::raise_open_file_limit();
    let connections =
        http::connections::Connections::new(http::connections::cap(config.web.max_connections, open_files));
    let served = http::server::serve(listener, http::router(state), reloader.guard(), connections, shutdown).await;
    cancel.cancel();
    let _ = watcher.await;
    fleet.stop(SHUTDOWN_GRACE).await;
    tracing::info!("stopped");
    served.map_err(Error::Serve)
}
