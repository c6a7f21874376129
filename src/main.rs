//! The `tencentcloud-partner-exporter` binary: flags in, exporter running
//! until SIGINT or SIGTERM. Every error ends here as one line and exit code 1
//! (2 for an unusable command line).

use clap::error::ErrorKind;
use std::process::ExitCode;
use tencentcloud_partner_exporter::config::{self, Config, Flags};
use tencentcloud_partner_exporter::{app, telemetry};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (`_RJEM_MALLOC_CONF` in the
/// environment overrides them). Freed pages go back to the system at once;
/// by default jemalloc keeps them for ten seconds or more. A refresh under
/// way frees a part of tens of megabytes every publish interval, and with the
/// default decay the peak RSS held several of them (at 2,000 customers, 56.5
/// MiB at the peak with the default, 53.6 with a 1 s decay, 42.7 with none).
// The symbol jemalloc reads its options from, as a C string: a pointer to
// the first byte of a NUL-terminated one. Nothing else names it.
#[allow(non_upper_case_globals, unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static _rjem_malloc_conf: &u8 = &b"dirty_decay_ms:0,muzzy_decay_ms:0\0"[0];

fn main() -> ExitCode {
    let flags = match config::parse_from(std::env::args_os()) {
        Ok(flags) => flags,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
            // clap adds usage and hints on further lines; one line says what matters.
            let args: Vec<String> = std::env::args().skip(1).collect();
            eprintln!("{}", config::one_line(&e, |name| std::env::var(name).ok(), &args));
            return ExitCode::from(2);
        }
    };
    match run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(flags: Flags) -> anyhow::Result<()> {
    let config = Config::from_flags(flags, |name| std::env::var(name).ok())?;
    telemetry::init(config.log_level, config.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(config.listen_address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_address))?;
        app::run(config, listener, shutdown).await?;
        Ok(())
    })
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM. The handlers are
/// installed at once, not when the future is first polled (once the
/// accounts have started): a SIGTERM during start-up is a clean shutdown,
/// not the default action's kill.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let next = |signal: &mut Option<tokio::signal::unix::Signal>| {
                let signal = signal.take();
                async move {
                    match signal {
                        Some(mut signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                }
            };
            tokio::select! {
                _ = next(&mut terminate) => {}
                _ = next(&mut interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
