//! A real S3-compatible server for tests: moto's server mode (from PyPI,
//! `pip install 'moto[server]'`; `.ci/test` installs it into
//! `~/.cache/etl-moto-venv`), started on a free port of 127.0.0.1, or the
//! server `ETL_TEST_S3_ENDPOINT` names (with the credentials in the usual
//! `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`). Each test takes a fresh
//! bucket of it ([`TestS3::bucket`]).
//!
//! The server stops when the test process ends, killed or not: a watcher
//! beside it stops it once the process is gone. Without moto, starting one
//! panics with how to get it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The secret key the tests give the server they start: a distinctive
/// value, so that a test can check it appears in no log, file or record.
pub const SECRET_KEY: &str = "etl-test-s3-secret-Zq8vW3";
/// Its access key id.
pub const ACCESS_KEY: &str = "etl-test-access-key";

/// One S3-compatible server for tests.
#[derive(Debug)]
pub struct TestS3 {
    endpoint: String,
    access_key: String,
    secret_key: String,
    _server: Option<Child>,
}

/// The server every test of this process shares, started at the first
/// call (or the one of `ETL_TEST_S3_ENDPOINT`). Panics, saying how to get
/// moto, when it cannot be had.
pub fn shared() -> &'static TestS3 {
    static SHARED: OnceLock<TestS3> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("ETL_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => TestS3 {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            access_key: std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            secret_key: std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            _server: None,
        },
        _ => TestS3::start().unwrap_or_else(|e| panic!("{e}")),
    })
}

/// moto's server: `ETL_TEST_MOTO_SERVER`, the `.ci/test` virtualenv's, or
/// one on the `PATH`.
fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ETL_TEST_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let venv = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/etl-moto-venv/bin/moto_server"))
        .filter(|p| p.exists());
    venv.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("moto_server"))
                .find(|p| p.exists())
        })
    })
}

impl TestS3 {
    /// Starts a moto server of our own on a free port.
    pub fn start() -> Result<TestS3, String> {
        let how = "an S3-compatible server is needed: install moto's server \
                   (python3 -m venv ~/.cache/etl-moto-venv && ~/.cache/etl-moto-venv/bin/pip install 'moto[server]'; \
                   .ci/test does), set ETL_TEST_MOTO_SERVER to its moto_server, or set \
                   ETL_TEST_S3_ENDPOINT (with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to a server of your own";
        let server = moto_server().ok_or_else(|| format!("moto_server not found: {how}"))?;
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(|e| format!("finding a free port: {e}"))?;
            listener
                .local_addr()
                .map_err(|e| format!("finding a free port: {e}"))?
                .port()
        };
        // The watcher: the server in the background, stopped once this
        // process is gone (ended or killed).
        let script = format!(
            "'{server}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & s=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.3; done; \
             kill $s 2>/dev/null; wait $s",
            server = server.display().to_string().replace('\'', "'\\''"),
            me = std::process::id(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}: {how}", server.display()))?;
        let s3 = TestS3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            _server: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while s3.request("GET", "/", b"").is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "moto did not answer on port {port} within 60 s: {how}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(s3)
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The secret key its clients use.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// What a client of it needs in its environment: the endpoint,
    /// plain HTTP allowed, a region and the keys.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
        ]
    }

    /// The same as `object_store` options (`aws_endpoint`, …), for a client
    /// in this process, whose environment tests must not change.
    pub fn options(&self) -> Vec<(String, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    }

    /// A new, empty bucket of its own; its name.
    pub fn bucket(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "etl-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let (status, body) = self
            .request("PUT", &format!("/{name}"), b"")
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}"));
        assert!(status == 200, "creating bucket {name}: {status} {body}");
        name
    }

    /// Writes object `key` of `bucket` with `body`.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let (status, text) = self
            .request("PUT", &format!("/{bucket}/{key}"), body)
            .unwrap_or_else(|e| panic!("writing {bucket}/{key}: {e}"));
        assert!(status == 200, "writing {bucket}/{key}: {status} {text}");
    }

    /// The names of the objects in `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self
            .request("GET", &format!("/{bucket}?list-type=2&max-keys=1000"), b"")
            .unwrap_or_else(|e| panic!("listing bucket {bucket}: {e}"));
        assert!(status == 200, "listing bucket {bucket}: {status} {body}");
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }

    /// One unsigned HTTP/1.1 request (moto does not check signatures); the
    /// status and body.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> Result<(u16, String), String> {
        let authority = self
            .endpoint
            .strip_prefix("http://")
            .ok_or("only an http:// endpoint is reached by the test client")?;
        let mut stream = TcpStream::connect(authority).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP response: {text:.200}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}
