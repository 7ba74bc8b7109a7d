//! Step outputs in a bucket of a real S3-compatible server (moto's, on
//! 127.0.0.1): saved whole or not at all, read back by another process's
//! runs, and no credential in any message or record.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Arc;

use etl_dag::{OutputStore, StepStatus};
use etl_runs::{NewRun, NoObserver, Runs, StepRun, state::Trigger};
use etl_testing::s3;

async fn bucket(prefix: &str) -> (String, Arc<dyn OutputStore>) {
    let server = s3::shared();
    let name = server.bucket();
    let url = format!("s3://{name}{prefix}");
    let outputs = etl_runs::outputs::open_with(&url, server.options())
        .await
        .unwrap();
    (name, outputs)
}

async fn read(outputs: &dyn OutputStore, location: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    outputs
        .open(location)
        .await
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

#[tokio::test]
async fn outputs_round_trip_through_a_bucket_small_and_multipart() {
    let (name, outputs) = bucket("/nightly/outputs/").await;
    assert_eq!(outputs.describe(), format!("s3://{name}/nightly/outputs"));
    let at = outputs
        .save(
            "run-1",
            "small.json",
            Box::new(|out| Ok(out.write_all(b"[1,2,3]")?)),
        )
        .await
        .unwrap();
    assert_eq!(at, format!("s3://{name}/nightly/outputs/run-1/small.json"));
    assert_eq!(read(&*outputs, &at).await, b"[1,2,3]");
    assert!(outputs.exists(&at).await.unwrap());
    let missing = format!("s3://{name}/nightly/outputs/run-1/other.json");
    assert!(!outputs.exists(&missing).await.unwrap());
    let err = outputs.open(&missing).await.err().unwrap().to_string();
    assert!(err.contains("other.json"), "{err}");

    // 24 MiB: more than one part of a multipart upload.
    let big: Vec<u8> = (0..24 << 20).map(|i: u32| (i % 251) as u8).collect();
    let written = big.clone();
    let at = outputs
        .save(
            "run-1",
            "big.arrow",
            Box::new(move |out| Ok(out.write_all(&written)?)),
        )
        .await
        .unwrap();
    assert!(read(&*outputs, &at).await == big, "24 MiB read back whole");
    assert_eq!(
        s3::shared().keys(&name),
        [
            "nightly/outputs/run-1/big.arrow",
            "nightly/outputs/run-1/small.json"
        ]
    );
}

#[tokio::test]
async fn a_save_that_fails_leaves_nothing_in_the_bucket() {
    let (name, outputs) = bucket("").await;
    // Fails after writing 12 MiB: past the first part of an upload.
    let err = outputs
        .save(
            "run-1",
            "half.arrow",
            Box::new(|out| {
                out.write_all(&vec![7_u8; 12 << 20])?;
                Err("the codec broke halfway".into())
            }),
        )
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("the codec broke halfway"), "{err}");
    assert!(s3::shared().keys(&name).is_empty());
    // A run id or name that could point elsewhere is refused.
    for (run, file) in [("../up", "a.json"), ("r", "../a.json"), ("r", "a/b.json")] {
        let write: etl_dag::WriteFn = Box::new(|_| Ok(()));
        assert!(
            outputs.save(run, file, write).await.is_err(),
            "{run} {file}"
        );
    }
    // A location outside the bucket's prefix is not read.
    let err = outputs
        .open("s3://another-bucket/run-1/a.json")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is not under"), "{err}");
    assert!(
        !outputs
            .exists("s3://another-bucket/run-1/a.json")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_missing_bucket_or_unreachable_server_is_one_clear_error_without_the_secret() {
    let server = s3::shared();
    let err = etl_runs::outputs::open_with("s3://no-such-bucket-etl/x", server.options())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("step outputs s3://no-such-bucket-etl/x: cannot be listed"),
        "{err}"
    );
    assert!(err.contains("NoSuchBucket"), "{err}");
    assert!(!err.contains(server.secret_key()), "{err}");

    let mut options = server.options();
    options.retain(|(k, _)| k != "aws_endpoint");
    options.push(("aws_endpoint".into(), "http://127.0.0.1:9".into()));
    let started = std::time::Instant::now();
    let err = etl_runs::outputs::open_with("s3://b/x", options)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("step outputs s3://b/x: cannot be listed"),
        "{err}"
    );
    assert!(!err.contains(server.secret_key()), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));

    let err =
        etl_runs::outputs::open_with("s3://b/x", vec![("aws_no_such_option".into(), "1".into())])
            .await
            .err()
            .unwrap()
            .to_string();
    assert!(
        err.contains("\"aws_no_such_option\" is not an option"),
        "{err}"
    );
}

#[tokio::test]
async fn runs_save_to_the_bucket_and_a_step_elsewhere_reads_from_it() {
    let (name, outputs) = bucket("/runs").await;
    let (_dir, store, counted) = crate::setup();
    let dag = crate::dag(&counted);
    let runs = Runs::new(&dag, &store, "1").outputs(outputs.clone());
    let (report, run_id) = runs
        .start(NewRun::new(Trigger::Run), Arc::new(NoObserver))
        .await
        .unwrap();
    assert!(report.succeeded());
    let steps = store.steps(&run_id).unwrap();
    for step in &steps {
        let output = step.output.as_deref().unwrap();
        assert!(
            output.starts_with(&format!("s3://{name}/runs/{run_id}/")),
            "{output}"
        );
    }
    assert_eq!(s3::shared().keys(&name).len(), 3);

    // Another "machine": its own store file, the same bucket; one step of
    // a shared run at a time, each input read from the bucket.
    let (_other, elsewhere, counted) = crate::setup();
    let dag = crate::dag(&counted);
    let runs = Runs::new(&dag, &elsewhere, "1").outputs(outputs.clone());
    for step in ["numbers", "doubled", "total"] {
        let ran = runs
            .run_step(step, "shared-1", BTreeMap::new(), Arc::new(NoObserver))
            .await
            .unwrap();
        let StepRun::Ran { report, .. } = ran else {
            panic!("{step}: {ran:?}")
        };
        assert!(report.succeeded(), "{step}: {report:?}");
        if step == "total" {
            assert_eq!(report.output::<u64>("total"), Some(&12));
        }
    }
    assert_eq!(crate::count(&counted, 0), 1);

    // Resume finds the outputs still in the bucket: only what failed runs.
    counted
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (report, failed) = runs
        .start(NewRun::new(Trigger::Run), Arc::new(NoObserver))
        .await
        .unwrap();
    assert!(!report.succeeded());
    counted
        .broken
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let plan = runs.plan_resume(&failed).await.unwrap();
    assert_eq!(plan.steps, ["total"]);
    let report = runs
        .resume(plan, Arc::new(NoObserver))
        .await
        .unwrap()
        .unwrap();
    assert!(report.succeeded());
    assert_eq!(
        elsewhere.run(&failed).unwrap().unwrap().status,
        StepStatus::Succeeded
    );
}
