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
        let store = self.store(state).await?;
        self.register(&*store, None).await?;
        let location = store.location();
        let bound = Server::new(std::sync::Arc::from(store), auth)
            .bind(bind)
            .await?;
        eprintln!(
            "serving the runs in {location} on http://{} (API under /api, described at {}); SIGTERM or Ctrl-C stops it",
            bound.local_addr(),
            etl_server::OPENAPI_PATH
        );
        bound.run(async move { signals.next().await }).await?;
        eprintln!("stopped");
        Ok(ExitCode::SUCCESS)
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
