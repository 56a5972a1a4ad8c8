//! Starting and stopping a server: its own tokio runtime on its own threads, so the caller (a
//! Python program, say) keeps running while it serves.

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use aidot_core::serving::ModelTable;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::routes::router;
use crate::state::{AppState, ModelLoader};

/// Runs an HTTP thread's whole life (`body`), so that bindings can set up per-thread state
/// once rather than per request: models run on these threads (see
/// [`aidot_core::serving::PendingRun::run_here`]), and a Python model needs a thread state.
pub type ThreadSetup = Arc<dyn Fn(&mut (dyn FnMut() + Send)) + Send + Sync>;

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `config.host:config.port` and starts serving the models of `table` in the
    /// background; returns once the socket is bound.
    ///
    /// Thread per core: each HTTP thread runs its own single-threaded tokio runtime and accepts
    /// from the same listening socket, so a request is parsed, queued and answered on one
    /// thread with no work stealing between them (measured on 2 cores, 64 connections, against
    /// one multi-threaded runtime: 38,000-42,000 instead of 37,000-38,000 requests/s for the MLP,
    /// 42,000-45,000 instead of 37,000-40,000 for the identity model).
    pub fn start(
        table: Arc<ModelTable>,
        loader: Option<Arc<dyn ModelLoader>>,
        config: ServerConfig,
        thread_setup: Option<&ThreadSetup>,
    ) -> Result<Self, String> {
        config.validate()?;
        let listener = bind(&config)?;
        let addr = listener
            .local_addr()
            .map_err(|err| format!("cannot read the bound address: {err}"))?;
        let count = match config.threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let state = Arc::new(AppState::new(table, loader, config));
        let app = router(Arc::clone(&state));
        let (shutdown, stopped) = watch::channel(false);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let listener = listener
                .try_clone()
                .map_err(|err| format!("cannot share the listening socket: {err}"))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| format!("cannot start the HTTP runtime: {err}"))?;
            let (app, state, stopped) = (app.clone(), Arc::clone(&state), stopped.clone());
            let setup = thread_setup.cloned();
            let thread = std::thread::Builder::new()
                .name(format!("aidot-http-{index}"))
                .spawn(move || {
                    let mut serve = Some(move || {
                        runtime.block_on(accept_loop(listener, app, &state, stopped));
                    });
                    let mut body = || {
                        if let Some(serve) = serve.take() {
                            serve();
                        }
                    };
                    match setup {
                        Some(setup) => setup(&mut body),
                        None => body(),
                    }
                })
                .map_err(|err| format!("cannot start an HTTP thread: {err}"))?;
            threads.push(thread);
        }
        Ok(Self {
            addr,
            state,
            shutdown,
            threads,
        })
    }

    /// The address the server is bound to (with the port picked when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the drain timeout),
    /// then returns. Blocks: call it off any async runtime.
    pub fn stop(&mut self) {
        self.state.draining.store(true, Ordering::Release);
        let _ = self.shutdown.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// The state the handlers share (models, settings, error counters).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Whether the server is still serving.
    pub fn is_running(&self) -> bool {
        !self.threads.is_empty() && self.threads.iter().all(|t| !t.is_finished())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(config: &ServerConfig) -> Result<StdListener, String> {
    let target = format!("{}:{}", config.host, config.port);
    let addr = target
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {target}: {err}"))?
        .next()
        .ok_or_else(|| format!("{target} resolves to no address"))?;
    let fail = |action: &str, err: std::io::Error| format!("cannot {action} {addr}: {err}");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|err| fail("open a socket for", err))?;
    socket
        .set_reuse_address(true)
        .map_err(|err| fail("set SO_REUSEADDR on", err))?;
    if config.reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(|err| fail("set SO_REUSEPORT on", err))?;
    }
    socket.bind(&addr.into()).map_err(|err| fail("bind", err))?;
    socket.listen(1024).map_err(|err| fail("listen on", err))?;
    socket
        .set_nonblocking(true)
        .map_err(|err| fail("configure", err))?;
    Ok(socket.into())
}

async fn accept_loop(
    listener: StdListener,
    app: Router,
    state: &AppState,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = TcpListener::from_std(listener).expect("a non-blocking listener");
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout)
        .keep_alive(true);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or a connection reset before accept: back off
                    // briefly instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = stopped.wait_for(|stop| *stop) => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(state.config.drain_timeout) => {}
    }
}
