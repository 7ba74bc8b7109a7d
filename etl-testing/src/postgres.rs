//! A real PostgreSQL for tests: a throw-away cluster of its own (Debian's
//! `postgresql` binaries, `initdb` into a temporary folder, a free port on
//! 127.0.0.1, password authentication), or the server `ETL_TEST_POSTGRES_URL`
//! names. Each test takes a fresh database of it ([`TestPostgres::database`]).
//!
//! Run as root, the cluster runs as the `postgres` user (PostgreSQL refuses
//! root). A cluster stops when its [`TestPostgres`] is dropped, and the
//! shared one ([`shared`]) when the test process ends, killed or not: a
//! watcher beside the server stops it once the process is gone.
//!
//! Without PostgreSQL, starting one panics with how to get it: install
//! Debian's `postgresql` (`apt-get install postgresql`; `.ci/test` does), or
//! set `ETL_TEST_POSTGRES_URL=postgres://user:password@host:port/db` to a
//! server the tests may create databases on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The password of the clusters this module starts.
pub const PASSWORD: &str = "etl-test-password";
/// Their superuser.
pub const USER: &str = "etl";

/// One PostgreSQL server for tests.
#[derive(Debug)]
pub struct TestPostgres {
    host: String,
    port: u16,
    user: String,
    password: String,
    own: Option<Own>,
}

/// What a cluster of our own needs to stop and restart.
#[derive(Debug)]
struct Own {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    server: Option<Child>,
}

/// The cluster every test of this process shares, started at the first
/// call (or the server of `ETL_TEST_POSTGRES_URL`). Panics, saying how to get
/// PostgreSQL, when it cannot be had.
pub fn shared() -> &'static TestPostgres {
    static SHARED: OnceLock<TestPostgres> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("ETL_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => TestPostgres::external(&url),
        _ => TestPostgres::start().unwrap_or_else(|e| panic!("{e}")),
    })
}

impl TestPostgres {
    /// The server at `url`, whose user may create databases.
    fn external(url: &str) -> TestPostgres {
        let config: tokio_postgres::Config = url
            .parse()
            .unwrap_or_else(|e| panic!("ETL_TEST_POSTGRES_URL is not a PostgreSQL URL: {e}"));
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => panic!("ETL_TEST_POSTGRES_URL must name a TCP host"),
        };
        TestPostgres {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().unwrap_or("postgres").to_owned(),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            own: None,
        }
    }

    /// Starts a cluster of its own, stopped when this is dropped.
    pub fn start() -> Result<TestPostgres, String> {
        let mut pg = Self::init()?;
        pg.launch()?;
        Ok(pg)
    }

    /// Starts a cluster of its own that offers TLS (`ssl = on`), with a
    /// certificate for 127.0.0.1 signed by a CA made here by `openssl`;
    /// returns the cluster and the CA's PEM file, for a client to trust.
    /// Password logins still work without TLS.
    pub fn start_with_tls() -> Result<(TestPostgres, PathBuf), String> {
        let mut pg = Self::init()?;
        let own = pg.own.as_ref().ok_or("not a cluster of our own")?;
        let dir = own.dir.path();
        let (ca, cert, key) = (
            dir.join("ca.crt"),
            dir.join("server.crt"),
            dir.join("server.key"),
        );
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .map_err(|e| format!("running openssl (apt-get install openssl): {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl could not make the certificates: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        // A CA, and the server's certificate for 127.0.0.1 signed by it.
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=etl test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ])?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
        }
        if let Some(user) = &own.run_as {
            chown(&key, user)?;
            chown(&cert, user)?;
        }
        let conf = own.dir.path().join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
        text.push_str(&format!(
            "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            cert.display(),
            key.display()
        ));
        std::fs::write(&conf, text).map_err(|e| e.to_string())?;
        pg.launch()?;
        Ok((pg, ca))
    }

    /// A cluster of its own, made but not started.
    fn init() -> Result<TestPostgres, String> {
        let how = "install Debian's postgresql (apt-get install postgresql; .ci/test does) \
                   or set ETL_TEST_POSTGRES_URL to a server the tests may create databases on";
        let bin = binaries()
            .ok_or_else(|| format!("PostgreSQL is needed and initdb was not found: {how}"))?;
        let run_as = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("etl-pg-")
            .tempdir()
            .map_err(|e| format!("a folder for the test cluster: {e}"))?;
        if let Some(user) = &run_as {
            chown(dir.path(), user).map_err(|e| format!("{e}: {how}"))?;
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        if let Some(user) = &run_as {
            chown(&pwfile, user)?;
        }
        let data = dir.path().join("data");
        let out = command(&bin, "initdb", run_as.as_deref())
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| format!("running initdb: {e}: {how}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port()?;
        Ok(TestPostgres {
            host: "127.0.0.1".into(),
            port,
            user: USER.into(),
            password: PASSWORD.into(),
            own: Some(Own {
                dir,
                bin,
                run_as,
                server: None,
            }),
        })
    }

    /// Starts the server of our own cluster, with a watcher that stops it
    /// when this process ends.
    fn launch(&mut self) -> Result<(), String> {
        let port = self.port;
        let own = self.own.as_mut().ok_or("not a cluster of our own")?;
        let data = own.dir.path().join("data");
        let postgres = own.bin.join("postgres");
        let server = format!(
            "{} {} -D {} -p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            own.run_as
                .as_ref()
                .map(|u| format!("runuser -u {u} --"))
                .unwrap_or_default(),
            postgres.display(),
            data.display(),
            own.dir.path().display(),
        );
        // The watcher: the server in the background; once this process is
        // gone (ended or killed), a fast shutdown and the folder removed.
        let script = format!(
            "{server} >{log} 2>&1 & pg=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.3; done; \
             if ! kill -0 {me} 2>/dev/null; then \
               kill -INT $(head -n1 {data}/postmaster.pid) 2>/dev/null; wait $pg; rm -rf {dir}; \
             fi",
            log = own.dir.path().join("server.log").display(),
            me = std::process::id(),
            data = data.display(),
            dir = own.dir.path().display(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        own.server = Some(child);
        let log = own.dir.path().join("server.log");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Listening; accepting logins a moment later.
                std::thread::sleep(Duration::from_millis(100));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "postgres did not listen on port {port} within 60 s: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server of our own cluster (a fast shutdown: sessions are
    /// cut) and starts it again on the same port: the server restarting
    /// under its clients.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.launch()
    }

    /// Stops the server of our own cluster.
    pub fn stop(&mut self) {
        let Some(own) = self.own.as_mut() else {
            return;
        };
        let data = own.dir.path().join("data");
        let _ = command(&own.bin, "pg_ctl", own.run_as.as_deref())
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = own.server.take() {
            let _ = child.wait();
        }
    }

    /// The server's URL for database `db`, the password in it.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{db}",
            self.user, self.password, self.host, self.port
        )
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new, empty database of its own; its URL.
    pub async fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "etl_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "connecting to the test PostgreSQL on port {}: {e}",
                        self.port
                    )
                });
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        drop(client);
        let _ = task.await;
        self.url(&name)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn command(bin: &Path, program: &str, run_as: Option<&str>) -> Command {
    match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    }
}

/// The folder of `initdb` and `postgres`: `ETL_TEST_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, or the `PATH`'s.
fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ETL_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown(path: &Path, user: &str) -> Result<(), String> {
    let status = Command::new("chown")
        .arg(user)
        .arg(path)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "could not give {} to user {user} (does the user exist?)",
            path.display()
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
