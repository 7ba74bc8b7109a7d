//! etl's control plane as a service: a REST API over a state store (the
//! SQLite file or the PostgreSQL database the workers use), for people and
//! for other systems.
//!
//! ```no_run
//! use std::sync::Arc;
//! use etl_server::{Auth, Server};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = etl_runs::open("state.sqlite", "outputs".as_ref()).await?;
//! let server = Server::new(Arc::from(store), Auth::Token(std::env::var("ETL_SERVER_TOKEN")?))
//!     .bind("127.0.0.1:8080".parse()?)
//!     .await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! The server holds no workflow code. Binaries and workers register their
//! workflows with the store ([`etl_runs::StateStore::register_workflow`]),
//! and the server reads them from there: it lists and shows them, switches
//! them on and off, deletes them with their history, and queues their runs
//! for the workers that hold their code ([`etl_runs::Worker`]).
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /api/workflows` | the registered workflows |
//! | `GET /api/workflows/{name}` | one: steps, graph, parameters, schedule, enabled |
//! | `POST /api/workflows/{name}/enable`, `/disable` | switch it |
//! | `DELETE /api/workflows/{name}[?force=true]` | delete it with its history (409 while a run runs) |
//! | `POST /api/workflows/{name}/runs` | queue a run, `{"params": {…}}` |
//! | `POST /api/workflows/{name}/trigger` | a webhook: queue a run with the workflow's own secret ([`Server::webhook`]), once per delivery id |
//! | `GET /api/runs?workflow=&status=&since=&until=&after=&limit=` | runs, newest first, by page |
//! | `GET /api/runs/{run_id}` | one run and its steps |
//! | `POST /api/runs/{run_id}/cancel` | stop a running run (its workers stop its steps within a second) |
//! | `POST /api/runs/{run_id}/resume` | queue what did not succeed of an ended run again |
//! | `POST /api/workers`, `POST`/`DELETE /api/workers/{id}` | workers through the server ([`remote::RemoteStore`]): a session, its calls (claim, record, settle…), its end |
//! | `GET /metrics` | the store's counts in Prometheus' text format |
//! | `GET /api/openapi.json` | the OpenAPI document of all of it |
//! | `GET /` | the page of runs |
//!
//! Reading is open; every other method needs the server's token
//! (`Authorization: Bearer …`, [`Auth::Token`]), and a browser's mutation
//! from another site is refused whatever it sends. Errors are JSON,
//! `{"error": {"status": 404, "message": "no workflow \"x\" is registered"}}`:
//! 4xx for the caller's mistakes, never 500 for bad input. Bodies are
//! limited to [`MAX_BODY`] bytes, requests to a timeout.
//!
//! While it runs, the server also starts runs by itself: at cron ticks
//! ([`Triggers::scheduler`]), when an upstream workflow's run succeeds, when
//! a new file arrives ([`triggers`]).

mod guard;
mod openapi;
mod page;
pub mod remote;
mod routes;
pub mod triggers;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use etl_runs::StateStore;

pub use guard::{Auth, MIN_TOKEN};
pub use openapi::openapi;
pub use routes::hooks::{DELIVERY_HEADER, SIGNATURE_HEADER};
pub use routes::runs::MAX_PAGE;
pub use routes::workers::{OpenStore, Workers};
pub use triggers::Triggers;

/// The path the OpenAPI document is served at.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The most bytes a request body may have.
pub const MAX_BODY: usize = 64 * 1024;

/// The variable the server's token is read from.
pub const TOKEN_ENV: &str = "ETL_SERVER_TOKEN";

/// What can go wrong starting a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token is too short to be one.
    #[error("the server token has {0} characters; give one of at least {MIN_TOKEN} ({TOKEN_ENV})")]
    ShortToken(usize),

    /// A webhook's secret is too short to be one.
    #[error(
        "the webhook secret of workflow {workflow:?} has {length} characters; give one of at least {MIN_TOKEN}"
    )]
    ShortWebhookSecret {
        /// The workflow.
        workflow: String,
        /// Its secret's length.
        length: usize,
    },

    /// A token or secret that a header cannot carry as given.
    #[error("{what} {why}")]
    BadToken {
        /// Which: "the server token (ETL_SERVER_TOKEN)", a webhook's secret.
        what: String,
        /// What is wrong with it (never the token itself).
        why: String,
    },

    /// No token, on an address other machines can reach.
    #[error(
        "a server on {0} with no token would let anyone who reaches it start and delete workflows: set {TOKEN_ENV}, or bind a loopback address"
    )]
    OpenOnNetwork(SocketAddr),

    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// Serving failed.
    #[error("serving on {addr}: {source}")]
    Serve {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A server to configure, then [`bind`](Server::bind).
pub struct Server {
    store: Arc<dyn StateStore>,
    auth: Auth,
    timeout: Duration,
    webhooks: std::collections::BTreeMap<String, String>,
    triggers: Triggers,
    workers: Option<Workers>,
    sessions: Arc<routes::workers::Sessions>,
    hosts: guard::Hosts,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("store", &self.store.location())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server over `store`, whose mutations need `auth`.
    pub fn new(store: Arc<dyn StateStore>, auth: Auth) -> Server {
        Server {
            store,
            auth,
            timeout: Duration::from_secs(30),
            webhooks: Default::default(),
            triggers: Triggers::default(),
            workers: None,
            sessions: Default::default(),
            hosts: Default::default(),
        }
    }

    /// The names the server is reached by (`etl.example.com`, with or
    /// without a port), besides its addresses and `localhost`, which it
    /// always answers to. A request naming any other host is refused (421):
    /// a page on another site whose name was made to resolve to this
    /// machine (DNS rebinding) cannot read or change anything. Behind a
    /// proxy that ends TLS, a page at `https://` one of these names may
    /// change things (its `Origin`).
    pub fn allow_hosts<I, S>(mut self, names: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts.0.extend(names.into_iter().map(Into::into));
        self
    }

    /// Takes workers that reach the store only through this server
    /// (`/api/workers`, [`remote::RemoteStore`]): each session gets a store
    /// handle of its own, opened by `workers`.
    pub fn workers(mut self, workers: Workers) -> Server {
        self.workers = Some(workers);
        self
    }

    /// Gives workflow `workflow` a webhook
    /// (`POST /api/workflows/{name}/trigger`) that takes `secret` (at least
    /// [`MIN_TOKEN`] characters) instead of the server's token.
    pub fn webhook(mut self, workflow: impl Into<String>, secret: impl Into<String>) -> Server {
        self.webhooks.insert(workflow.into(), secret.into());
        self
    }

    /// How the server's triggers look (cron, upstream done, file arrival):
    /// see [`triggers`].
    pub fn triggers(mut self, triggers: Triggers) -> Server {
        self.triggers = triggers;
        self
    }

    /// Answers 503 to a request not answered within `timeout` (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Server {
        self.timeout = timeout;
        self
    }

    /// The routes and their layers, to serve or to nest in an app of your
    /// own. The token is checked here too.
    pub fn router(&self) -> Result<axum::Router, Error> {
        if let Auth::Token(token) = &self.auth
            && token.chars().count() < MIN_TOKEN
        {
            return Err(Error::ShortToken(token.chars().count()));
        }
        if let Some(token) = self.workers.as_ref().and_then(|w| w.token.as_ref())
            && token.chars().count() < MIN_TOKEN
        {
            return Err(Error::ShortToken(token.chars().count()));
        }
        if let Some((workflow, secret)) = self
            .webhooks
            .iter()
            .find(|(_, secret)| secret.chars().count() < MIN_TOKEN)
        {
            return Err(Error::ShortWebhookSecret {
                workflow: workflow.clone(),
                length: secret.chars().count(),
            });
        }
        let tokens = match &self.auth {
            Auth::Token(token) => vec![(format!("the server token ({TOKEN_ENV})"), token)],
            Auth::Open => Vec::new(),
        };
        let worker = self.workers.as_ref().and_then(|w| w.token.as_ref());
        let worker = worker.map(|t| ("the worker token".to_owned(), t));
        let hooks = self.webhooks.iter().map(|(workflow, secret)| {
            (
                format!("the webhook secret of workflow {workflow:?}"),
                secret,
            )
        });
        for (what, token) in tokens.into_iter().chain(worker).chain(hooks) {
            if let Some(why) = guard::token_problem(token) {
                return Err(Error::BadToken { what, why });
            }
        }
        Ok(routes::router(
            self.store.clone(),
            self.webhooks.clone(),
            self.workers.clone(),
            self.sessions.clone(),
            guard::Guard::of(&self.auth, Arc::new(self.hosts.clone())),
            self.timeout,
        ))
    }

    /// Listens on `addr` (port 0: any free port). A server with no token is
    /// refused on an address that is not loopback.
    pub async fn bind(self, addr: SocketAddr) -> Result<Bound, Error> {
        if matches!(self.auth, Auth::Open) && !addr.ip().is_loopback() {
            return Err(Error::OpenOnNetwork(addr));
        }
        let router = self.router()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(Bound {
            listener,
            router,
            addr,
            store: self.store,
            triggers: self.triggers,
            sessions: self.sessions,
            idle: self.workers.as_ref().map(|w| w.idle),
        })
    }
}

/// A server listening: [`run`](Bound::run) it.
pub struct Bound {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    store: Arc<dyn StateStore>,
    triggers: Triggers,
    sessions: Arc<routes::workers::Sessions>,
    idle: Option<Duration>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Bound {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves, and looks for what starts runs ([`triggers`]), until
    /// `shutdown` completes; then finishes the requests under way.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let addr = self.addr;
        let stop = etl_dag::CancellationToken::new();
        let looking = tokio::spawn(self.triggers.run(self.store, stop.clone()));
        // Worker sessions that fell silent are dropped as dead processes.
        let sweeping = self.idle.map(|idle| {
            let (sessions, stop) = (self.sessions.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(idle / 4) => {}
                    }
                    sessions.sweep(idle);
                }
            })
        });
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| Error::Serve { addr, source });
        stop.cancel();
        let _ = looking.await;
        if let Some(sweeping) = sweeping {
            let _ = sweeping.await;
        }
        served
    }
}

/// 32 hex digits (128 bits) of the SHA-256 of `parts`, each ended by a NUL:
/// the run id of an event (a delivery, an upstream run, a file).
pub(crate) fn digest(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes from hex text; `None` for anything else.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
