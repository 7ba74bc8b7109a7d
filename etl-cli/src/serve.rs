//! `serve`: the REST API over the state store ([`etl_server`]), until
//! SIGTERM or Ctrl-C. The token comes from `ETL_SERVER_TOKEN` only, never
//! from the command line (where `ps` would show it).

use std::process::ExitCode;

use clap::ArgMatches;

use super::Program;
use super::schedule::Signals;
use crate::{Error, Result};

impl Program {
    #[cfg(feature = "server")]
    pub(super) async fn serve(
        &self,
        state: &str,
        m: &ArgMatches,
        mut signals: Signals,
    ) -> Result<ExitCode> {
        use etl_server::{Auth, Server, TOKEN_ENV};
        let bind = *m
            .get_one::<std::net::SocketAddr>("bind")
            .expect("has a default");
        let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
        let auth = match (token, m.get_flag("no-token")) {
            (Some(token), false) => Auth::Token(token),
            (None, true) => Auth::Open,
            (Some(_), true) => {
                return Err(Error::Argument(format!(
                    "--no-token, yet {TOKEN_ENV} is set: give one or the other"
                )));
            }
            (None, false) => {
                return Err(Error::Argument(format!(
                    "serve needs a token for what changes things: set {TOKEN_ENV} (at least {} characters), or pass --no-token on a loopback address",
                    etl_server::MIN_TOKEN
                )));
            }
        };
        let poll = etl_rules::parse_duration(m.get_one::<String>("poll").expect("has a default"))
            .map_err(|e| Error::Argument(format!("--poll: {e}")))?;
        let webhooks = match m.get_one::<std::path::PathBuf>("webhooks") {
            Some(path) => webhook_secrets(path)?,
            None => Default::default(),
        };
        let store = self.store(state).await?;
        self.register(&*store, None).await?;
        let location = store.location();
        let triggers = etl_server::Triggers::default()
            .poll(poll)
            .scheduler(m.get_flag("scheduler"));
        let open = matches!(auth, Auth::Open);
        let hosts = m
            .get_many::<String>("allow-host")
            .into_iter()
            .flatten()
            .cloned();
        let mut server = Server::new(std::sync::Arc::from(store), auth)
            .triggers(triggers)
            .allow_hosts(hosts);
        if m.get_flag("workers") {
            server = server.workers(self.worker_sessions(state, open)?);
        }
        for (workflow, secret) in webhooks {
            server = server.webhook(workflow, secret);
        }
        let bound = server.bind(bind).await?;
        eprintln!(
            "serving the runs in {location} on http://{} (API under /api, described at {}); SIGTERM or Ctrl-C stops it",
            bound.local_addr(),
            etl_server::OPENAPI_PATH
        );
        bound.run(async move { signals.next().await }).await?;
        eprintln!("stopped");
        Ok(ExitCode::SUCCESS)
    }

    /// How `serve --workers` opens a store handle per worker session: as a
    /// worker process would, with this command's `--lease`.
    #[cfg(feature = "server")]
    fn worker_sessions(&self, state: &str, open: bool) -> Result<etl_server::Workers> {
        use etl_server::remote::WORKER_TOKEN_ENV;
        let location = state.to_owned();
        let lease = self.lease;
        let opener: etl_server::OpenStore = std::sync::Arc::new(move || {
            let location = location.clone();
            Box::pin(async move {
                // Two connections a session: a worker claims and records
                // one call at a time.
                let store = etl_runs::open_sized(
                    &location,
                    std::path::Path::new(crate::DEFAULT_OUTPUTS),
                    lease,
                    Some(2),
                )
                .await?;
                Ok(std::sync::Arc::from(store))
            })
        });
        let mut workers = etl_server::Workers::new(opener)
            .idle(lease.unwrap_or(std::time::Duration::from_secs(30)));
        match std::env::var(WORKER_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
        {
            Some(token) => workers = workers.token(token),
            None if open => {}
            None => {
                return Err(Error::Argument(format!(
                    "--workers needs a token the workers send: set {WORKER_TOKEN_ENV} (at least {} characters)",
                    etl_server::MIN_TOKEN
                )));
            }
        }
        Ok(workers)
    }

    /// `worker --server URL`: the worker, through the server's session.
    #[cfg(feature = "server")]
    pub(super) async fn remote_worker(
        &self,
        server: &str,
        concurrency: usize,
        signals: Signals,
    ) -> Result<ExitCode> {
        use etl_server::remote::{RemoteStore, WORKER_TOKEN_ENV};
        let token = std::env::var(WORKER_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty());
        let remote = RemoteStore::connect(server, token, crate::DEFAULT_OUTPUTS).await?;
        if let Some(at) = &self.outputs_at
            && self.outputs.get().is_none()
        {
            let _ = self.outputs.set(etl_runs::outputs::open(at).await?);
        }
        self.register(&remote, None).await?;
        let code = self.worker(&remote, concurrency, signals).await;
        if let Err(e) = remote.close().await {
            eprintln!("warning: ending the session with the server: {e}");
        }
        code
    }

    #[cfg(not(feature = "server"))]
    pub(super) async fn remote_worker(
        &self,
        _server: &str,
        _concurrency: usize,
        _signals: Signals,
    ) -> Result<ExitCode> {
        Err(Error::Argument(
            "this program was built without the server (etl's `server` feature)".into(),
        ))
    }

    #[cfg(not(feature = "server"))]
    pub(super) async fn serve(
        &self,
        _state: &str,
        _m: &ArgMatches,
        _signals: Signals,
    ) -> Result<ExitCode> {
        Err(Error::Argument(
            "this program was built without the server (etl's `server` feature)".into(),
        ))
    }
}

/// The webhook secrets in `path`: `workflow = "secret"` lines. An error
/// names the file and the line, never a value.
#[cfg(feature = "server")]
fn webhook_secrets(path: &std::path::Path) -> Result<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Argument(format!("--webhooks {}: {e}", path.display())))?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: --webhooks {}: other users may read it (chmod 600 it)",
                path.display()
            );
        }
    }
    toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(", line {line}, column {column}")
        });
        Error::Argument(format!(
            "--webhooks {}{}: not `workflow = \"secret\"` lines",
            path.display(),
            at.unwrap_or_default()
        ))
    })
}
