//! Runs queued for workers: one command queues a run, any number of
//! `worker` processes (on one machine, or on many sharing a PostgreSQL state
//! store) claim its steps as they become runnable and run each once.
//!
//! ```text
//! cargo run --example queued_work -- run --queue                 # prints the run's id
//! cargo run --example queued_work -- worker --concurrency 4      # Ctrl-C stops it after what it holds
//! cargo run --example queued_work -- show <run id>
//!
//! # Many machines: one PostgreSQL, the same ETL_STATE everywhere.
//! export ETL_STATE=postgres://etl@db.internal/etl                # the password in PGPASSWORD
//! ```
//!
//! The workflow fans out: `numbers` feeds `squares` and `cubes`, which
//! `total` adds up. `--param pause_ms=N` makes each step take N ms, to watch
//! workers share the work; `QUEUED_WORK_LOG=FILE` appends a line per step
//! attempt (`run step pid`), which shows who ran what.

use std::io::Write as _;
use std::time::Duration;

use etl::{StepContext, workflow};

struct QueuedWork;

impl QueuedWork {
    /// Notes the attempt, then takes `pause_ms` (default 0).
    async fn work(&self, cx: &StepContext) -> etl::Result<()> {
        if let Some(path) = std::env::var_os("QUEUED_WORK_LOG") {
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| etl::Error::io(&path, e))?;
            let line = format!("{} {} {}\n", cx.run_id(), cx.step(), std::process::id());
            log.write_all(line.as_bytes())
                .map_err(|e| etl::Error::io(&path, e))?;
        }
        let pause = match cx.param("pause_ms") {
            Some(ms) => ms
                .parse()
                .map_err(|_| etl::Error::Config(format!("pause_ms={ms:?} is not a number")))?,
            None => 0,
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        Ok(())
    }
}

// A step takes its inputs as references to the outputs' own types.
#[allow(clippy::ptr_arg)]
#[workflow(name = "queued_work")]
impl QueuedWork {
    #[step(retries = 1)]
    async fn numbers(&self, cx: &StepContext) -> etl::Result<Vec<u64>> {
        self.work(cx).await?;
        Ok((1..=100).collect())
    }

    #[step]
    async fn squares(&self, cx: &StepContext, numbers: &Vec<u64>) -> etl::Result<Vec<u64>> {
        self.work(cx).await?;
        Ok(numbers.iter().map(|n| n * n).collect())
    }

    #[step]
    async fn cubes(&self, cx: &StepContext, numbers: &Vec<u64>) -> etl::Result<Vec<u64>> {
        self.work(cx).await?;
        Ok(numbers.iter().map(|n| n * n * n).collect())
    }

    #[step]
    async fn total(
        &self,
        cx: &StepContext,
        squares: &Vec<u64>,
        cubes: &Vec<u64>,
    ) -> etl::Result<u64> {
        self.work(cx).await?;
        Ok(squares.iter().chain(cubes).sum())
    }
}

etl::main!(QueuedWork);
