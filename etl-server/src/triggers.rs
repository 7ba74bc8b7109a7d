//! The server's triggers: what starts runs without a caller. While a server
//! leads (one among the servers over a store, [`StateStore::lead`]), it
//! looks every poll at each enabled workflow:
//!
//! - **cron** (when the server schedules, [`Triggers::scheduler`]): the
//!   latest tick of its schedule that passed since the last look is queued
//!   once (a tick is run once whatever happens: another scheduler that took
//!   it wins); ticks that passed while it was disabled are not;
//! - **upstream done** ([`StartOn::Success`]): each run of the upstream
//!   workflow that succeeded since this workflow was registered starts one
//!   run, given the upstream run's id when asked;
//! - **file arrival** ([`StartOn::File`]): each file that matches the glob,
//!   unchanged for a second, starts one run with its path; a pattern that
//!   is a bucket URL (`s3://bucket/in/*.csv`, feature `object-store`) is
//!   matched against the objects under its prefix, each object's URL the
//!   parameter.
//!
//! Each event's run id is derived from the event (`up-…`, `file-…` from a
//! SHA-256 of the workflow and the upstream run, or the file's path, size
//! and modification time): a second server, or this one restarted, finds
//! the run there and starts none. A failed upstream run starts nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etl_dag::{CancellationToken, Cron, StepStatus};
use etl_runs::registry::{StartOn, WorkflowRecord};
use etl_runs::state::Trigger;
use etl_runs::{RunQuery, StateStore};

/// The name the servers' leadership is held under.
pub const LEADER: &str = "(etl-server triggers)";

/// The most new files one workflow's glob starts runs for in one look; the
/// rest wait for the next.
pub const MAX_FILES_PER_LOOK: usize = 1000;

/// How long a file must be unchanged before it starts a run (one being
/// written is not taken half-way).
pub const FILE_SETTLE: Duration = Duration::from_secs(1);

/// How the server's triggers look.
#[derive(Debug, Clone)]
pub struct Triggers {
    poll: Duration,
    scheduler: bool,
    bucket_options: Vec<(String, String)>,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            poll: Duration::from_secs(1),
            scheduler: false,
            bucket_options: Vec::new(),
        }
    }
}

impl Triggers {
    /// Looks every `poll` (default 1 s).
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// Queues the runs of scheduled workflows at their ticks (default off:
    /// a workflow's own `schedule` process may run them instead; both on
    /// run each tick once).
    pub fn scheduler(mut self, yes: bool) -> Self {
        self.scheduler = yes;
        self
    }

    /// Reads buckets (for [`StartOn::File`] patterns such as
    /// `s3://bucket/in/*.csv`) with these `object_store` options over the
    /// environment's credentials.
    pub fn bucket_options(mut self, options: Vec<(String, String)>) -> Self {
        self.bucket_options = options;
        self
    }

    pub(crate) async fn run(self, store: Arc<dyn StateStore>, stop: CancellationToken) {
        let mut state = Looking {
            store,
            options: self,
            since: HashMap::new(),
            floor: HashMap::new(),
            seen: HashSet::new(),
            warned: HashSet::new(),
            started: SystemTime::now(),
            #[cfg(feature = "object-store")]
            listers: HashMap::new(),
        };
        let mut leading = false;
        while !stop.is_cancelled() {
            // Runs a fault left RUNNING though their steps have ended: every
            // server settles them, leading or not.
            match state.store.settle_ended_runs().await {
                Ok(ended) if !ended.is_empty() => {
                    tracing::info!(?ended, "settled runs whose steps had all ended")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "settling ended runs failed; trying again"),
            }
            match state.store.lead(LEADER).await {
                Ok(leads) => {
                    if leads != leading {
                        tracing::info!(
                            leads,
                            "the server's triggers: {}",
                            if leads {
                                "this server leads"
                            } else {
                                "another server leads"
                            }
                        );
                        leading = leads;
                    }
                    if leads && let Err(e) = state.look().await {
                        tracing::warn!(error = %e, "the server's triggers could not look; trying again");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the server's triggers could not reach the store")
                }
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(state.options.poll) => {}
            }
        }
    }
}

struct Looking {
    store: Arc<dyn StateStore>,
    options: Triggers,
    /// Per workflow, the time cron ticks were looked at up to.
    since: HashMap<String, SystemTime>,
    /// Per workflow and upstream, the last look while it was disabled:
    /// upstream runs that ended before start nothing.
    floor: HashMap<String, SystemTime>,
    /// Events already turned into runs (or found run) by this server.
    seen: HashSet<String>,
    /// Problems already said, said once.
    warned: HashSet<String>,
    started: SystemTime,
    /// The buckets file patterns name, opened once.
    #[cfg(feature = "object-store")]
    listers: HashMap<String, Arc<etl_runs::outputs::Lister>>,
}

impl Looking {
    async fn look(&mut self) -> etl_runs::Result<()> {
        let now = SystemTime::now();
        for workflow in self.store.workflows().await? {
            let name = workflow.info.name.clone();
            if !workflow.enabled {
                // Ticks and upstream runs that pass while it is disabled
                // start nothing when it is enabled again; files wait.
                for start in &workflow.info.start_on {
                    if let StartOn::Success { workflow: up, .. } = start {
                        self.floor.insert(format!("{name}\n{up}"), now);
                    }
                }
                self.since.insert(name, now);
                continue;
            }
            if self.options.scheduler {
                self.cron(&workflow, now).await?;
            }
            for start in &workflow.info.start_on {
                match start {
                    StartOn::Success {
                        workflow: upstream,
                        run_id_param,
                    } => {
                        self.upstream(&workflow, upstream, run_id_param.as_deref())
                            .await?
                    }
                    StartOn::File { pattern, param } => {
                        self.files(&workflow, pattern, param, now).await?;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn warn_once(&mut self, key: String, message: &str) {
        if self.warned.insert(key) {
            tracing::warn!("{message}");
        }
    }

    /// Queues run `run_id` of `workflow`; whether it is new (a run already
    /// there, or a tick another scheduler took, is not).
    async fn queue(
        &mut self,
        workflow: &WorkflowRecord,
        run_id: String,
        params: BTreeMap<String, String>,
        started_by: String,
        tick: Option<SystemTime>,
    ) -> etl_runs::Result<bool> {
        let name = &workflow.info.name;
        let params = match workflow.info.check_params(&params) {
            Ok(params) => params,
            Err(e) => {
                self.warn_once(
                    format!("params {name} {started_by}"),
                    &format!("{started_by} cannot start a run: {e}"),
                );
                return Ok(false);
            }
        };
        let mut start = workflow
            .info
            .run_start(&run_id, Trigger::Queue, params)
            .started_by(&started_by);
        start.scheduled_for = tick;
        match self.store.enqueue_run(&start).await {
            Ok(()) => {
                tracing::info!(workflow = %name, run_id, started_by, "run started by a trigger");
                Ok(true)
            }
            Err(etl_runs::Error::RunExists { .. } | etl_runs::Error::TickTaken { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn cron(&mut self, workflow: &WorkflowRecord, now: SystemTime) -> etl_runs::Result<()> {
        let name = &workflow.info.name;
        let Some(expression) = &workflow.info.schedule else {
            return Ok(());
        };
        let (cron, zone) = match (
            Cron::parse(expression),
            workflow
                .info
                .zone
                .as_deref()
                .unwrap_or("UTC")
                .parse::<chrono_tz::Tz>(),
        ) {
            (Ok(cron), Ok(zone)) => (cron, zone),
            (Err(e), _) => {
                self.warn_once(
                    format!("cron {name}"),
                    &format!("workflow {name:?}: its schedule: {e}"),
                );
                return Ok(());
            }
            (_, Err(e)) => {
                self.warn_once(
                    format!("zone {name}"),
                    &format!("workflow {name:?}: its time zone: {e}"),
                );
                return Ok(());
            }
        };
        let from = *self.since.entry(name.clone()).or_insert(self.started);
        let Some(missed) = etl_runs::schedule::missed_ticks(&cron, zone, from, now) else {
            return Ok(());
        };
        self.since.insert(name.clone(), missed.latest);
        let run_id = format!(
            "tick-{}",
            crate::digest(&[name, &etl_runs::state::time::to_text(missed.latest)])
        );
        self.queue(
            workflow,
            run_id,
            BTreeMap::new(),
            "schedule".into(),
            Some(missed.latest),
        )
        .await?;
        Ok(())
    }

    /// The upstream runs that succeeded since the last look (a few seconds
    /// back, for clocks a little apart), every page of them; after a
    /// restart, since the workflow was registered.
    async fn upstream(
        &mut self,
        workflow: &WorkflowRecord,
        upstream: &str,
        run_id_param: Option<&str>,
    ) -> etl_runs::Result<()> {
        let mark = format!(
            "{}
{upstream}",
            workflow.info.name
        );
        let looked = SystemTime::now();
        let since = self
            .since
            .get(&mark)
            .map(|t| t.checked_sub(Duration::from_secs(5)).unwrap_or(*t))
            .unwrap_or(workflow.registered_at)
            .max(workflow.registered_at)
            .max(
                self.floor
                    .get(&mark)
                    .copied()
                    .unwrap_or(workflow.registered_at),
            );
        let query = RunQuery::default()
            .workflow(upstream)
            .status(StepStatus::Succeeded)
            .started(Some(workflow.registered_at), None)
            .finished_since(since)
            .limit(500);
        let mut ended = Vec::new();
        let mut page = self.store.list_runs(&query).await?;
        while page.len() == 500 {
            let last = page[page.len() - 1].run_id.clone();
            ended.append(&mut page);
            page = self.store.list_runs(&query.clone().after(last)).await?;
        }
        ended.append(&mut page);
        if self.seen.len() > 100_000 {
            // Bounded: a run id derived from the event still starts it once.
            self.seen.clear();
        }
        for run in ended {
            let key = format!("up\n{}\n{}", workflow.info.name, run.run_id);
            if self.seen.contains(&key) {
                continue;
            }
            let mut params = BTreeMap::new();
            if let Some(param) = run_id_param {
                params.insert(param.to_owned(), run.run_id.clone());
            }
            let run_id = format!("up-{}", crate::digest(&[&workflow.info.name, &run.run_id]));
            self.queue(
                workflow,
                run_id,
                params,
                format!("upstream:{}", run.run_id),
                None,
            )
            .await?;
            self.seen.insert(key);
        }
        self.since.insert(mark, looked);
        Ok(())
    }

    async fn files(
        &mut self,
        workflow: &WorkflowRecord,
        pattern: &str,
        param: &str,
        now: SystemTime,
    ) -> etl_runs::Result<()> {
        let name = workflow.info.name.clone();
        let found = if pattern.contains("://") && !pattern.starts_with("file://") {
            self.objects(pattern).await
        } else {
            let glob_pattern = pattern
                .strip_prefix("file://")
                .unwrap_or(pattern)
                .to_owned();
            tokio::task::spawn_blocking(move || list(&glob_pattern))
                .await
                .map_err(|e| etl_runs::Error::Internal(e.to_string()))?
        };
        let files = match found {
            Ok(files) => files,
            Err(e) => {
                self.warn_once(
                    format!("glob {name} {pattern}"),
                    &format!("workflow {name:?}: files {pattern:?}: {e}"),
                );
                return Ok(());
            }
        };
        let mut started = 0;
        for file in files {
            if started >= MAX_FILES_PER_LOOK {
                self.warn_once(
                    format!("many {name}"),
                    &format!("workflow {name:?}: more than {MAX_FILES_PER_LOOK} new files match {pattern:?}; the rest start runs at the next looks"),
                );
                break;
            }
            if now.duration_since(file.modified).unwrap_or_default() < FILE_SETTLE {
                continue;
            }
            let stamp = file
                .modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_string();
            let key = format!("file\n{name}\n{}\n{}\n{stamp}", file.path, file.len);
            if self.seen.contains(&key) {
                continue;
            }
            if file.path.len() > etl_runs::registry::MAX_PARAM_VALUE {
                self.warn_once(
                    key.clone(),
                    &format!(
                        "workflow {name:?}: a file path of {} bytes is too long to pass",
                        file.path.len()
                    ),
                );
                self.seen.insert(key);
                continue;
            }
            let run_id = format!(
                "file-{}",
                crate::digest(&[&name, &file.path, &file.len.to_string(), &stamp])
            );
            let params = BTreeMap::from([(param.to_owned(), file.path.clone())]);
            if self
                .queue(
                    workflow,
                    run_id,
                    params,
                    format!("file:{}", file.path),
                    None,
                )
                .await?
            {
                started += 1;
            }
            self.seen.insert(key);
        }
        Ok(())
    }
}

impl Looking {
    /// The objects of a bucket that `pattern` (`s3://bucket/in/*.csv`)
    /// matches: its prefix up to the first wildcard is listed, and each key
    /// matched whole (`*` does not cross a `/`).
    #[cfg(feature = "object-store")]
    async fn objects(&mut self, pattern: &str) -> Result<Vec<Found>, String> {
        let matcher = glob::Pattern::new(pattern).map_err(|e| e.to_string())?;
        let wild = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
        let prefix = match pattern[..wild].rfind('/') {
            Some(slash) if wild < pattern.len() => &pattern[..slash],
            _ => pattern.trim_end_matches('/'),
        };
        let lister = match self.listers.get(prefix) {
            Some(lister) => lister.clone(),
            None => {
                let opened =
                    etl_runs::outputs::Lister::open(prefix, self.options.bucket_options.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                let opened = Arc::new(opened);
                self.listers.insert(prefix.to_owned(), opened.clone());
                opened
            }
        };
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let whole = wild == pattern.len();
        Ok(lister
            .list(MAX_LISTED)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|o| whole || matcher.matches_with(&o.location, options))
            .map(|o| Found {
                path: o.location,
                len: o.size,
                modified: o.modified,
            })
            .collect())
    }

    #[cfg(not(feature = "object-store"))]
    async fn objects(&mut self, _pattern: &str) -> Result<Vec<Found>, String> {
        Err("this program was built without object storage (etl's `object-store` feature)".into())
    }
}

/// The most objects one look lists under a bucket prefix.
pub const MAX_LISTED: usize = 100_000;

struct Found {
    path: String,
    len: u64,
    modified: SystemTime,
}

/// The regular files `pattern` matches, in path order; paths that are not
/// UTF-8 are left out (a parameter is text).
fn list(pattern: &str) -> Result<Vec<Found>, String> {
    let paths = glob::glob(pattern).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for path in paths.flatten() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let Some(text) = path.to_str() else {
            continue;
        };
        if meta.is_file() {
            found.push(Found {
                path: text.to_owned(),
                len: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
    Ok(found)
}
