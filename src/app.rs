//! Wires the exporter together: the API client, the cache, one task per
//! enabled collector and the HTTP server, and stops them all on shutdown.

use crate::api::{self, Credentials, Provider};
use crate::cache::Snapshots;
use crate::collectors::{self, Collector, Kind, Schedule, Status};
use crate::config::{Config, CredentialSource};
use crate::http::web_config::{self, WebConfig};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::metrics::exposition::Renderer;
use crate::reload::Reloader;
use crate::simulator::{self, Simulator};
use crate::store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The account of the flags; every series carries it in `account`.
pub const ACCOUNT: &str = "default";

/// How long shutdown waits for refresh tasks before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Why the exporter could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the API client: {0}")]
    Client(#[from] api::Error),
    #[error("cannot start the demo API: {0}")]
    Demo(std::io::Error),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error(
        "missing credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, give --api.secret-id-file and \
         --api.secret-key-file, write ~/.tencentcloud/credentials, run on a CVM with a CAM role, or use --demo"
    )]
    MissingCredentials,
    #[error("{0}")]
    Credentials(api::Error),
    #[error("--cache.snapshot-dir: {0}")]
    Store(crate::store::Error),
    #[error("--web.config.file: {0}")]
    WebConfig(web_config::Error),
}

/// How long start-up waits for the metadata service before concluding this
/// is not a CVM with a role.
const METADATA_PROBE: Duration = Duration::from_secs(3);

/// Turns the configured source into a provider, checking that it yields a key.
async fn credential_provider(source: CredentialSource, http: &reqwest::Client) -> Result<Provider, Error> {
    let provider = match source {
        CredentialSource::Environment(credentials) => Provider::Fixed {
            credentials,
            source: "the environment (TENCENTCLOUD_SECRET_ID)".into(),
        },
        CredentialSource::Files { secret_id, secret_key } => {
            let files = api::credentials::Files::new(secret_id, secret_key);
            files.current().map_err(Error::Credentials)?;
            Provider::Files(files)
        }
        CredentialSource::Discover { profile, metadata_url } => {
            let from_profile = match &profile {
                Some(path) => api::credentials::from_profile(path, "default")
                    .map_err(Error::Credentials)?
                    .map(|c| (c, path.display().to_string())),
                None => None,
            };
            match from_profile {
                Some((credentials, path)) => Provider::Fixed {
                    credentials,
                    source: format!("the profile [default] of {path}"),
                },
                None => {
                    let role = api::credentials::InstanceRole::new(metadata_url.as_str());
                    match tokio::time::timeout(METADATA_PROBE, role.current(http)).await {
                        Ok(Ok(_)) => Provider::InstanceRole(role),
                        _ => return Err(Error::MissingCredentials),
                    }
                }
            }
        }
        CredentialSource::Demo => unreachable!("the demo makes its own key"),
    };
    Ok(provider)
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

/// Runs the exporter on `listener` until `shutdown` completes.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // reqwest is built without a default TLS crypto provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // An unusable web configuration is the operator's first mistake to hear about.
    let web = match &config.web.config_file {
        Some(path) => WebConfig::load(path).map_err(Error::WebConfig)?,
        None => WebConfig::default(),
    };
    let probe = reqwest::Client::builder()
        .timeout(config.api.timeout)
        .build()
        .map_err(|e| Error::Client(api::Error::Network(e.to_string())))?;
    let credentials = match config.credentials.clone() {
        CredentialSource::Demo => {
            let (endpoint, credentials) = start_demo().await?;
            config.api.endpoint = endpoint;
            Provider::Fixed {
                credentials,
                source: "the demo".into(),
            }
        }
        source => credential_provider(source, &probe).await?,
    };
    tracing::info!(source = %credentials.describe(), endpoint = %config.api.endpoint, "API credentials");

    let mut statuses = vec![
        Arc::new(Status::new(Kind::Partner, config.intervals.partner)),
        Arc::new(Status::new(Kind::Customers, config.intervals.customers)),
    ];
    if config.allocations {
        statuses.push(Arc::new(Status::new(Kind::Allocations, config.intervals.allocations)));
    }
    if config.vouchers {
        statuses.push(Arc::new(Status::new(Kind::Vouchers, config.intervals.vouchers)));
    }
    let renderer = Renderer::new(
        statuses.iter().map(|s| (s.kind, s.interval)).collect(),
        config.export_names,
    );
    let snapshots = Snapshots::new(renderer);
    let metrics = Arc::new(Metrics::new(snapshots.clone(), statuses.clone()));
    let reloader = Arc::new(Reloader::new(
        config.web.config_file.clone(),
        web,
        config.web.probes_without_auth,
        metrics.reload.clone(),
    ));
    let client = api::Client::new(config.api.clone(), credentials, Arc::new(metrics.api.clone()))?;
    let store = match &config.snapshot_dir {
        Some(dir) => Some(Store::open(dir, ACCOUNT).map_err(Error::Store)?),
        None => None,
    };
    let shared = collectors::Shared {
        api: client,
        snapshots: snapshots.clone(),
        timezone: config.timezone,
        customer_uins: config.customer_uins.clone().map(Into::into),
        store: store.clone(),
        store_errors: metrics.store_errors.clone(),
    };
    let max_age = |status: &Status| {
        // A value stays exported until it is older than --cache.max-age, or
        // than two of its own intervals if that is longer: a slow collector's
        // series must not blink out between two good refreshes.
        config.max_age.max(status.interval * 2)
    };
    let mut restored_allocations = None;
    if let Some(store) = &store {
        for status in &statuses {
            if let Some(snapshot) = restore(store, status, max_age(status), &snapshots)
                && let collectors::Snapshot::Allocations(allocations) = &*snapshot
            {
                restored_allocations = Some(collectors::allocations::Allocations::seeded(allocations));
            }
        }
    }

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    for status in &statuses {
        let schedule = Schedule {
            interval: status.interval,
            max_age: max_age(status),
        };
        let (shared, status, cancel) = (shared.clone(), status.clone(), cancel.clone());
        match status.kind {
            Kind::Partner => spawn(&tasks, collectors::partner::Partner, shared, status, schedule, cancel),
            Kind::Customers => spawn(
                &tasks,
                collectors::customers::Customers,
                shared,
                status,
                schedule,
                cancel,
            ),
            Kind::Allocations => spawn(
                &tasks,
                restored_allocations.take().unwrap_or_default(),
                shared,
                status,
                schedule,
                cancel,
            ),
            Kind::Vouchers => spawn(&tasks, collectors::vouchers::Vouchers, shared, status, schedule, cancel),
        }
    }
    tasks.spawn(reloader.clone().watch(cancel.clone()));
    tasks.close();

    let state = AppState {
        metrics,
        statuses: statuses.into(),
        telemetry_path: config.telemetry_path.clone(),
        snapshots,
        demo: config.demo,
        reloader: reloader.clone(),
        lifecycle: config.web.enable_lifecycle,
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(address = %addr, path = %config.telemetry_path, "listening");
    }
    let served = http::server::serve(listener, http::router(state), reloader.guard(), shutdown).await;
    cancel.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait()).await.is_err() {
        tracing::warn!("refresh tasks did not stop in time");
    }
    tracing::info!("stopped");
    served.map_err(Error::Serve)
}

/// Serves the snapshot of `status`'s collector kept by an earlier run, if
/// there is a usable one; says why not otherwise.
fn restore(
    store: &Store,
    status: &Status,
    max_age: Duration,
    snapshots: &Snapshots,
) -> Option<Arc<collectors::Snapshot>> {
    match store.load(status.kind, max_age, SystemTime::now()) {
        Ok(Some(restored)) => {
            let published = snapshots.publish_taken_at(restored.snapshot, restored.taken_at, max_age);
            status.restored(restored.taken_at);
            let age = SystemTime::now().duration_since(restored.taken_at).unwrap_or_default();
            tracing::info!(collector = %status.kind, age = %humantime::format_duration(Duration::from_secs(age.as_secs())), "serving the snapshot kept on disk until the first refresh");
            Some(published.snapshot.clone())
        }
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(collector = %status.kind, %error, "ignoring the snapshot kept on disk");
            None
        }
    }
}

fn spawn<C: Collector>(
    tasks: &TaskTracker,
    collector: C,
    shared: collectors::Shared,
    status: Arc<Status>,
    schedule: Schedule,
    cancel: CancellationToken,
) {
    tasks.spawn(collectors::run(collector, shared, status, schedule, cancel));
}
