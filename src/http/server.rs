//! Accepts connections and serves the router on them, plain or TLS as the
//! web configuration in force says when each connection arrives, so a reload
//! changes certificates without closing the listener.
//!
//! It bounds what a slow or hostile client can hold: request headers must
//! arrive within [`HEADER_READ_TIMEOUT`] and fit in [`MAX_HEADER_BYTES`], a
//! TLS handshake must finish within [`HANDSHAKE_TIMEOUT`], and a response the
//! client stops reading is dropped after [`WRITE_STALL_TIMEOUT`]. On shutdown
//! it stops accepting, lets requests in flight finish, and closes idle
//! connections.

use super::connections::{AcceptErrors, Connections};
use super::guard::Guard;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Time for a client to send a request's headers, counted from when the
/// connection is ready for a request (so it also closes idle keep-alive
/// connections): a slowloris client is cut off here.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may wait for a client that stopped reading.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head (request line and headers) read; larger gets 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(4);

/// How long a connection asked to close (the oldest beyond
/// `--web.max-connections`, or every one at shutdown) is given to finish the
/// response it is sending; one that never sent a request is closed at once.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Serves `router` behind `guard` on `listener`, at most `connections` open
/// at once, until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    guard: Arc<Guard>,
    connections: Connections,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let protocols = Arc::new(Protocols {
        http1: builder().http1_only(),
        http2: builder().http2_only(),
    });
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut accept_errors = AcceptErrors::default();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    accept_errors.record(&error, connections.open());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let place = connections.admit(&stop);
        let tls = guard.active().config.tls.clone();
        let (protocols, router) = (protocols.clone(), router.clone());
        tasks.spawn(async move {
            if let Err(error) = connection(stream, peer, tls, &protocols, router, &place.close).await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(place);
        });
    }
    drop(listener);
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tasks.wait()).await.is_err() {
        tracing::warn!("some requests did not finish before shutdown");
    }
    Ok(())
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(Some(HEADER_READ_TIMEOUT))
        .keep_alive_timeout(HEADER_READ_TIMEOUT);
    builder
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The two ways of speaking HTTP on a connection.
struct Protocols {
    /// Plain connections and TLS without ALPN `h2`: HTTP/1 only, as in Go's
    /// servers (no h2c).
    http1: auto::Builder<TokioExecutor>,
    /// TLS connections that agreed on `h2`.
    http2: auto::Builder<TokioExecutor>,
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    protocols: &Protocols,
    router: Router,
    close: &CancellationToken,
) -> Result<(), BoxError> {
    // The exposition goes out in several chunks; without TCP_NODELAY the last
    // small one can wait 40 ms for a delayed ACK (Nagle's algorithm).
    stream.set_nodelay(true)?;
    if tls.is_some() && speaks_plain_http(&stream, close).await {
        // As Go's servers answer, and node_exporter's with them.
        let mut stream = stream;
        let answer = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
        let answered = async {
            stream.write_all(answer).await?;
            stream.shutdown().await?;
            // What the client sent is read and dropped: closed with it
            // unread, the socket would reset and lose the answer.
            let mut unread = [0_u8; 4096];
            let mut left = MAX_HEADER_BYTES;
            while left > 0 {
                match stream.read(&mut unread).await? {
                    0 => break,
                    n => left = left.saturating_sub(n),
                }
            }
            Ok::<(), std::io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
        return Ok(());
    }
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(WRITE_STALL_TIMEOUT));
    let stream = Box::pin(stream);
    // The guard holds wrong passwords against the address that sent them.
    let requested = Arc::new(AtomicBool::new(false));
    let seen = requested.clone();
    let service = TowerToHyperService::new(router.map_request(move |mut request: Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }));
    let stop = Stop {
        close,
        requested: &requested,
    };
    match tls {
        None => drive(protocols.http1.serve_connection(TokioIo::new(stream), service), stop).await,
        Some(config) => {
            let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
            let stream = tokio::select! {
                accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept) => {
                    accepted.map_err(|_| "TLS handshake timed out")??
                }
                () = close.cancelled() => return Ok(()),
            };
            let http = match stream.get_ref().1.alpn_protocol() {
                Some(b"h2") => &protocols.http2,
                _ => &protocols.http1,
            };
            drive(http.serve_connection(TokioIo::new(stream), service), stop).await
        }
    }
}

/// Whether a client connected to the TLS listener opened with plain HTTP: a
/// TLS client's first byte is 22 (a handshake record), an HTTP client's a
/// method's first letter.
async fn speaks_plain_http(stream: &TcpStream, close: &CancellationToken) -> bool {
    let mut first = [0_u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)) => {
            matches!(peeked, Ok(Ok(1))) && first[0].is_ascii_uppercase()
        }
        () = close.cancelled() => false,
    }
}

/// When a connection is to close, and whether it ever sent a request.
#[derive(Clone, Copy)]
struct Stop<'a> {
    close: &'a CancellationToken,
    requested: &'a AtomicBool,
}

/// Runs a connection to its end. Asked to close, one that never sent a
/// request (still sending its first headers, or never will) is dropped at
/// once; another is closed gracefully, its response given [`CLOSE_GRACE`].
async fn drive<I, S, B>(conn: auto::Connection<'_, I, S, TokioExecutor>, stop: Stop<'_>) -> Result<(), BoxError>
where
    S: hyper::service::Service<axum::http::Request<hyper::body::Incoming>, Response = axum::http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    let mut conn = pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result,
        () = stop.close.cancelled() => {
            if !stop.requested.load(Ordering::Relaxed) {
                return Ok(());
            }
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(CLOSE_GRACE, conn).await.unwrap_or(Ok(()))
        }
    }
}
