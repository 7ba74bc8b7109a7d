//! [`RemoteStore`]: the state store as a worker sees it through a server
//! (`worker --server URL`), so that the worker's machine holds no database
//! credentials. It implements what a [`Worker`](etl_runs::Worker) calls
//! (claiming steps, recording their events as they happen, settling runs,
//! registering the workflow) over the server's `/api/workers` session; the
//! rest is refused, naming the call, with the advice to give the worker the
//! database instead.
//!
//! The session lives while the worker calls (a heartbeat when it idles):
//! its claims and lease are the server's handle's for it, the same as a
//! worker with the database URL has. A worker that dies stops calling; the
//! server drops its session, and its steps go back to the queue.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use etl_dag::{RunReport, StepEvent, StepStatus};
use etl_runs::registry::{WorkflowInfo, WorkflowRecord};
use etl_runs::state::{AttemptRecord, RunRecord, RunStart, StepRecord};
use etl_runs::{
    Claim, Error, EventRecorder, Result, RunQuery, StateStore, StoreFuture, StoreMetrics,
};
use tokio::sync::{mpsc, oneshot};

use crate::routes::workers::{
    ClaimWire, EventWire, SessionOpened, StepWire, WorkerAnswer, WorkerCall,
};

/// The variable a worker's token is read from.
pub const WORKER_TOKEN_ENV: &str = "ETL_WORKER_TOKEN";

struct Inner {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
    session: Mutex<String>,
    outputs: PathBuf,
}

/// The store through a server: see the [module docs](self).
pub struct RemoteStore {
    inner: Arc<Inner>,
    heartbeat: tokio::task::AbortHandle,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("server", &self.inner.base)
            .finish_non_exhaustive()
    }
}

fn refused(base: &str, what: &str) -> Error {
    Error::State {
        store: base.to_owned(),
        message: format!(
            "a worker through a server cannot {what}: give this command the state store (--state) instead of --server"
        ),
    }
}

impl Inner {
    fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::State {
            store: self.base.clone(),
            message: message.to_string(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String)> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(60));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.err(etl_dag::error_chain(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| self.err(etl_dag::error_chain(&e)))?;
        Ok((status, text))
    }

    fn refusal(&self, status: u16, text: &str) -> Error {
        let message = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        self.err(format!("the server answered {status}: {message}"))
    }

    async fn open_session(&self) -> Result<SessionOpened> {
        let (status, text) = self
            .send(reqwest::Method::POST, "/api/workers", None)
            .await?;
        if status != 201 {
            return Err(self.refusal(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| self.err(format!("a session answer: {e}")))
    }

    /// `call` through the session. A session the server dropped (it heard
    /// nothing for too long) is opened again for a heartbeat or a claim: what
    /// the old one held went back to the queue.
    async fn call(&self, call: &WorkerCall) -> Result<WorkerAnswer> {
        let body = serde_json::to_string(call).map_err(|e| self.err(e))?;
        for _ in 0..2 {
            let session = self.session.lock().expect("session").clone();
            let (status, text) = self
                .send(
                    reqwest::Method::POST,
                    &format!("/api/workers/{session}"),
                    Some(body.clone()),
                )
                .await?;
            if status == 200 {
                return serde_json::from_str(&text)
                    .map_err(|e| self.err(format!("an answer: {e}")));
            }
            // No such session: 404 (an older server said 410 Gone).
            if matches!(status, 404 | 410)
                && matches!(call, WorkerCall::Heartbeat | WorkerCall::Claim { .. })
            {
                tracing::warn!(server = %self.base, "the server dropped this worker's session; opening another");
                let opened = self.open_session().await?;
                *self.session.lock().expect("session") = opened.worker_id;
                continue;
            }
            return Err(self.refusal(status, &text));
        }
        Err(self.err("the server dropped this worker's session twice"))
    }
}

impl RemoteStore {
    /// Opens a worker session on the server at `base` (`http://host:port`),
    /// with `token` (the server's worker token). Step outputs default to
    /// `outputs/<run id>/` on this machine (give the runs a bucket instead,
    /// `--outputs`, for workers on several machines).
    pub async fn connect(
        base: &str,
        token: Option<String>,
        outputs: impl Into<PathBuf>,
    ) -> Result<RemoteStore> {
        let base = base.trim_end_matches('/').to_owned();
        // What messages say of it: never the credentials a URL may carry.
        let shown = etl_runs::outputs::without_secrets(&base);
        let url = url::Url::parse(&base).map_err(|e| Error::State {
            store: shown.clone(),
            message: format!("not a server's URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https")
            || url.password().is_some()
            || !url.username().is_empty()
        {
            return Err(Error::State {
                store: shown,
                message: "a server's URL is http:// or https://, with no user or password in it (the token comes from ETL_WORKER_TOKEN)".into(),
            });
        }
        let inner = Arc::new(Inner {
            base,
            token,
            client: reqwest::Client::new(),
            session: Mutex::new(String::new()),
            outputs: outputs.into(),
        });
        let opened = inner.open_session().await?;
        *inner.session.lock().expect("session") = opened.worker_id;
        let every = Duration::from_millis(opened.heartbeat_ms.max(50));
        let weak = Arc::downgrade(&inner);
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = inner.call(&WorkerCall::Heartbeat).await {
                    tracing::warn!(error = %e, "a heartbeat to the server failed");
                }
            }
        })
        .abort_handle();
        Ok(RemoteStore { inner, heartbeat })
    }

    /// Ends the session: the server closes its handle, and what it held is
    /// given up at once.
    pub async fn close(self) -> Result<()> {
        self.heartbeat.abort();
        let session = self.inner.session.lock().expect("session").clone();
        let (status, text) = self
            .inner
            .send(
                reqwest::Method::DELETE,
                &format!("/api/workers/{session}"),
                None,
            )
            .await?;
        if matches!(status, 200 | 404 | 410) {
            Ok(())
        } else {
            Err(self.inner.refusal(status, &text))
        }
    }
}

impl Drop for RemoteStore {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Sends a worker's step events to the server as they come, in order, a
/// batch per call.
struct RemoteRecorder {
    queue: mpsc::UnboundedSender<Message>,
}

enum Message {
    Event(EventWire),
    Flush(oneshot::Sender<Option<String>>),
}

impl RemoteRecorder {
    fn start(inner: Arc<Inner>) -> RemoteRecorder {
        let (queue, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            let mut failed: Option<String> = None;
            while let Some(first) = rx.recv().await {
                let mut events = Vec::new();
                let mut flushes = Vec::new();
                let mut next = Some(first);
                while let Some(message) = next {
                    match message {
                        Message::Event(e) => events.push(e),
                        Message::Flush(reply) => flushes.push(reply),
                    }
                    next = rx.try_recv().ok();
                }
                if !events.is_empty()
                    && let Err(e) = inner.call(&WorkerCall::Events { events }).await
                {
                    failed.get_or_insert(e.to_string());
                }
                for reply in flushes {
                    let _ = reply.send(failed.take());
                }
            }
        });
        RemoteRecorder { queue }
    }
}

impl EventRecorder for RemoteRecorder {
    fn record(&self, event: &StepEvent<'_>) {
        if event.status == StepStatus::Pending {
            return;
        }
        let _ = self.queue.send(Message::Event(EventWire {
            run_id: event.run_id.to_owned(),
            step: event.step.to_owned(),
            status: event.status.as_str().to_owned(),
            attempt: event.attempt,
            error: event.error.map(str::to_owned),
            rows: event.rows,
            output: event.output.map(str::to_owned),
        }));
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let (reply, done) = oneshot::channel();
            self.queue
                .send(Message::Flush(reply))
                .map_err(|_| Error::Internal("the recorder's task is gone".into()))?;
            match done.await {
                Ok(None) => Ok(()),
                Ok(Some(message)) => Err(Error::State {
                    store: "the server".into(),
                    message,
                }),
                Err(_) => Err(Error::Internal("the recorder's task is gone".into())),
            }
        })
    }
}

fn when(text: Option<String>) -> Option<SystemTime> {
    text.as_deref().and_then(etl_runs::state::time::from_text)
}

impl StateStore for RemoteStore {
    fn location(&self) -> String {
        self.inner.base.clone()
    }

    fn outputs_dir(&self, run_id: &str) -> Result<PathBuf> {
        etl_dag::check_run_id(run_id)?;
        Ok(self.inner.outputs.join(run_id))
    }

    fn recorder(&self) -> Result<Arc<dyn EventRecorder>> {
        Ok(Arc::new(RemoteRecorder::start(self.inner.clone())))
    }

    fn claim_steps<'a>(&'a self, workflow: &'a str, limit: usize) -> StoreFuture<'a, Vec<Claim>> {
        Box::pin(async move {
            let call = WorkerCall::Claim {
                workflow: workflow.to_owned(),
                limit,
            };
            match self.inner.call(&call).await? {
                WorkerAnswer::Claims { claims } => Ok(claims
                    .into_iter()
                    .map(
                        |ClaimWire {
                             run_id,
                             step,
                             params,
                             attempts,
                         }| Claim::new(run_id, step, params, attempts),
                    )
                    .collect()),
                other => Err(self.inner.err(format!("an unexpected answer: {other:?}"))),
            }
        })
    }

    fn steps<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<StepRecord>> {
        Box::pin(async move {
            let call = WorkerCall::Steps {
                run_id: run_id.to_owned(),
            };
            match self.inner.call(&call).await? {
                WorkerAnswer::Steps { steps } => steps
                    .into_iter()
                    .map(|s: StepWire| {
                        let status = StepStatus::parse(&s.status).ok_or_else(|| {
                            self.inner.err(format!("unknown status {:?}", s.status))
                        })?;
                        let mut record = StepRecord::new(s.step, status);
                        record.attempts = s.attempts;
                        record.started_at = when(s.started_at);
                        record.finished_at = when(s.finished_at);
                        record.rows = s.rows;
                        record.output = s.output;
                        record.reused_from = s.reused_from;
                        record.error = s.error;
                        Ok(record)
                    })
                    .collect(),
                other => Err(self.inner.err(format!("an unexpected answer: {other:?}"))),
            }
        })
    }

    fn settle_run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, StepStatus> {
        Box::pin(async move {
            let call = WorkerCall::Settle {
                run_id: run_id.to_owned(),
            };
            match self.inner.call(&call).await? {
                WorkerAnswer::Status { status } => StepStatus::parse(&status)
                    .ok_or_else(|| self.inner.err(format!("unknown status {status:?}"))),
                other => Err(self.inner.err(format!("an unexpected answer: {other:?}"))),
            }
        })
    }

    fn skip_steps<'a>(
        &'a self,
        run_id: &'a str,
        steps: &'a [String],
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner
                .call(&WorkerCall::Skip {
                    run_id: run_id.to_owned(),
                    steps: steps.to_vec(),
                    why: why.to_owned(),
                })
                .await
                .map(|_| ())
        })
    }

    fn fail_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner
                .call(&WorkerCall::FailStep {
                    run_id: run_id.to_owned(),
                    step: step.to_owned(),
                    why: why.to_owned(),
                })
                .await
                .map(|_| ())
        })
    }

    fn release_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner
                .call(&WorkerCall::Release {
                    run_id: run_id.to_owned(),
                    step: step.to_owned(),
                    why: why.to_owned(),
                })
                .await
                .map(|_| ())
        })
    }

    fn cancel_requested<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            match self
                .inner
                .call(&WorkerCall::CancelRequested {
                    run_id: run_id.to_owned(),
                })
                .await?
            {
                WorkerAnswer::Flag { value } => Ok(value),
                other => Err(self.inner.err(format!("an unexpected answer: {other:?}"))),
            }
        })
    }

    fn fail_unfinished<'a>(&'a self, why: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            match self
                .inner
                .call(&WorkerCall::FailUnfinished {
                    why: why.to_owned(),
                })
                .await?
            {
                WorkerAnswer::Runs { runs } => Ok(runs),
                other => Err(self.inner.err(format!("an unexpected answer: {other:?}"))),
            }
        })
    }

    fn register_workflow<'a>(&'a self, info: &'a WorkflowInfo) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner
                .call(&WorkerCall::Register {
                    name: info.name.clone(),
                    version: info.version.clone(),
                    graph: info.graph_json(),
                    schedule: info.schedule.clone(),
                    zone: info.zone.clone(),
                })
                .await
                .map(|_| ())
        })
    }

    // What a worker does not do: refused, naming the call.
    fn begin_run<'a>(&'a self, _run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(async move { Err(refused(&self.inner.base, "start a run of its own")) })
    }
    fn join_run<'a>(&'a self, _run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(async move { Err(refused(&self.inner.base, "run one step of a shared run")) })
    }
    fn resume_run<'a>(&'a self, _run_id: &'a str, _steps: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "resume a run (the server's API does)",
            ))
        })
    }
    fn mark_reused<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { Err(refused(&self.inner.base, "reuse outputs")) })
    }
    fn finish_run<'a>(&'a self, _report: &'a RunReport) -> StoreFuture<'a, ()> {
        Box::pin(async move { Err(refused(&self.inner.base, "end a run of its own")) })
    }
    fn runs<'a>(&'a self, _workflow: &'a str, _limit: usize) -> StoreFuture<'a, Vec<RunRecord>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "list runs (the server's API does)",
            ))
        })
    }
    fn run<'a>(&'a self, _run_id: &'a str) -> StoreFuture<'a, Option<RunRecord>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "read a run (the server's API does)",
            ))
        })
    }
    fn attempts<'a>(&'a self, _run_id: &'a str) -> StoreFuture<'a, Vec<AttemptRecord>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "read a run's attempts (the server's API does)",
            ))
        })
    }
    fn latest_output<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> StoreFuture<'a, Option<(String, String)>> {
        Box::pin(async move { Err(refused(&self.inner.base, "look for earlier outputs")) })
    }
    fn last_scheduled<'a>(&'a self, _workflow: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "schedule (the server's --scheduler does)",
            ))
        })
    }
    fn recover_abandoned(&self) -> StoreFuture<'_, Vec<String>> {
        // The server's handles recover what dead processes held.
        Box::pin(async move { Ok(Vec::new()) })
    }
    fn settle_ended_runs(&self) -> StoreFuture<'_, Vec<String>> {
        // The server settles them itself, at each poll of its triggers.
        Box::pin(async move { Ok(Vec::new()) })
    }
    fn enqueue_run<'a>(&'a self, _run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "queue a run (the server's API does)",
            ))
        })
    }
    fn lead<'a>(&'a self, _name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { Err(refused(&self.inner.base, "lead a schedule")) })
    }
    fn list_runs<'a>(&'a self, _query: &'a RunQuery) -> StoreFuture<'a, Vec<RunRecord>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "list runs (the server's API does)",
            ))
        })
    }
    fn workflows(&self) -> StoreFuture<'_, Vec<WorkflowRecord>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "list workflows (the server's API does)",
            ))
        })
    }
    fn workflow<'a>(&'a self, _name: &'a str) -> StoreFuture<'a, Option<WorkflowRecord>> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "read a workflow (the server's API does)",
            ))
        })
    }
    fn set_enabled<'a>(&'a self, _name: &'a str, _enabled: bool) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "switch a workflow (the server's API does)",
            ))
        })
    }
    fn delete_workflow<'a>(&'a self, _name: &'a str, _force: bool) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "delete a workflow (the server's API does)",
            ))
        })
    }
    fn cancel_run<'a>(&'a self, _run_id: &'a str, _why: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "cancel a run (the server's API does)",
            ))
        })
    }
    fn requeue_run<'a>(&'a self, _run_id: &'a str, _steps: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "queue a run again (the server's API does)",
            ))
        })
    }
    fn metrics(&self) -> StoreFuture<'_, StoreMetrics> {
        Box::pin(async move {
            Err(refused(
                &self.inner.base,
                "count runs (the server's /metrics does)",
            ))
        })
    }
}
