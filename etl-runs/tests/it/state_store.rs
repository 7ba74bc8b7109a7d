//! The state-store conformance suite, passed by both stores: the embedded
//! SQLite one and PostgreSQL (a real server: a throw-away cluster, or
//! `ETL_TEST_POSTGRES_URL`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etl_runs::StateStore;
use etl_runs::postgres::{PgOptions, PgStore};
use etl_runs::state::SqliteStore;
use etl_testing::state::{BoxFuture, Subject};

/// One SQLite file; each handle opens it anew, as a process would.
struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    async fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Subject for Sqlite {
    fn open(&self) -> BoxFuture<'_, Arc<dyn StateStore>> {
        let path = self.dir.path().join("state.sqlite");
        Box::pin(async move { Arc::new(SqliteStore::open(path).unwrap()) as Arc<dyn StateStore> })
    }
    fn kill(&self, store: Arc<dyn StateStore>) -> BoxFuture<'_, ()> {
        // A dead process's lock file is free at once.
        Box::pin(async move { drop(store) })
    }
}

mod sqlite {
    etl_testing::state_store_conformance!(super::Sqlite::new);
}

/// The lease of the PostgreSQL handles the suite opens: short, so that a
/// killed one is seen dead soon.
pub(crate) const LEASE: Duration = Duration::from_secs(2);

/// A fresh database of the shared test server; outputs in a folder.
pub(crate) struct Postgres {
    pub(crate) url: String,
    pub(crate) outputs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Postgres {
    pub(crate) async fn new() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        Postgres {
            url: etl_testing::postgres::shared().database().await,
            outputs: dir.path().join("outputs"),
            _dir: dir,
        }
    }

    pub(crate) async fn store(&self) -> PgStore {
        PgStore::connect_with(&self.url, &self.outputs, PgOptions::default().lease(LEASE))
            .await
            .unwrap()
    }
}

impl Subject for Postgres {
    fn open(&self) -> BoxFuture<'_, Arc<dyn StateStore>> {
        Box::pin(async move { Arc::new(self.store().await) as Arc<dyn StateStore> })
    }
    fn kill(&self, store: Arc<dyn StateStore>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // No goodbye: the lease is not renewed and runs out.
            drop(store);
            tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
        })
    }
}

mod postgres {
    etl_testing::state_store_conformance!(super::Postgres::new);
}
