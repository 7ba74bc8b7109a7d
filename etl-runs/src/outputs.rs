//! Where step outputs are saved, chosen by location ([`open`]): a local
//! folder (a path, or `file:///…`), or, with the `object-store` feature, a
//! bucket: `s3://bucket/prefix` (and S3-compatible servers), `gs://…`,
//! `az://container/prefix`, through the `object_store` crate.
//!
//! Each output is `<location>/<run id>/<step>.<arrow|json>`, saved all or
//! nothing: a folder renames a finished file into place; a bucket's object
//! appears only once its upload (one PUT, or a multipart upload for large
//! outputs) completes. Outputs are written to an anonymous temporary file
//! first and read back through one, so a large output is never held twice
//! in memory.
//!
//! Credentials come from the environment, as each cloud's own tools read
//! them: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT` (an S3-compatible server) and `AWS_ALLOW_HTTP`;
//! `GOOGLE_SERVICE_ACCOUNT`; `AZURE_STORAGE_ACCOUNT_NAME`,
//! `AZURE_STORAGE_ACCOUNT_KEY`. A location with a user, a password or a
//! query is refused, so that no credential is ever recorded in the state
//! store, an exported file or a log; messages name the location and have
//! the values of such variables blanked out.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let dir = tempfile::tempdir().unwrap();
//! let folder = etl_runs::outputs::open(dir.path().to_str().unwrap()).await.unwrap();
//! assert_eq!(folder.describe(), dir.path().display().to_string());
//! let err = etl_runs::outputs::open("s3://key:secret@bucket/x").await.err().unwrap();
//! assert!(!err.to_string().contains("secret"), "{err}");
//! # }
//! ```

use std::sync::Arc;

use etl_dag::{Folder, OutputStore};

use crate::{Error, Result};

/// The environment variable that names where step outputs go (`--outputs`).
pub const OUTPUTS_ENV: &str = "ETL_OUTPUTS";

/// The place `location` names: a bucket URL (`s3://`, `gs://`, `az://`),
/// `file:///path`, or a path. A bucket is checked on open: one that does
/// not exist, or that these credentials cannot list, is an error naming it.
pub async fn open(location: &str) -> Result<Arc<dyn OutputStore>> {
    open_with(location, Vec::new()).await
}

/// [`open`], with `object_store` options (`aws_endpoint`,
/// `aws_secret_access_key`, `google_service_account`, …) over the
/// environment's: for a program that holds its credentials itself. Their
/// values are blanked out of messages as the environment's are.
pub async fn open_with(
    location: &str,
    options: Vec<(String, String)>,
) -> Result<Arc<dyn OutputStore>> {
    let Some((scheme, _)) = location.split_once("://") else {
        return folder(location);
    };
    let shown = shown(location);
    let refuse = |message: String| Error::Outputs {
        location: shown.clone(),
        message,
    };
    match scheme {
        "file" => {
            let url = parse(location).map_err(refuse)?;
            let path = url
                .to_file_path()
                .map_err(|()| refuse("is not a local file URL (file:///path)".into()))?;
            folder(path.to_str().ok_or_else(|| refuse("is not UTF-8".into()))?)
        }
        "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" => {
            #[cfg(feature = "object-store")]
            {
                Ok(Arc::new(bucket::Bucket::open(location, options).await?))
            }
            #[cfg(not(feature = "object-store"))]
            {
                let _ = options;
                Err(refuse(
                    "this program was built without object storage (etl's `object-store` feature)"
                        .into(),
                ))
            }
        }
        other => Err(refuse(format!(
            "{other}:// is not a place for outputs: give a folder, s3://bucket/prefix, \
             gs://bucket/prefix or az://container/prefix"
        ))),
    }
}

/// Checks `location` without reaching it: a URL with a user, a password,
/// a query or a fragment is refused (what [`open`] refuses first), so that
/// what is written into an exported file holds no credential.
pub fn check(location: &str) -> Result<()> {
    if location.contains("://") {
        parse(location).map_err(|message| Error::Outputs {
            location: shown(location),
            message,
        })?;
    }
    Ok(())
}

fn folder(path: &str) -> Result<Arc<dyn OutputStore>> {
    if path.is_empty() {
        return Err(Error::Outputs {
            location: "\"\"".into(),
            message: "an empty path is not a folder".into(),
        });
    }
    // Absolute, so that the locations recorded hold from any directory.
    let root = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    Ok(Arc::new(Folder::new(root)))
}

/// `location` as a URL with no user, password, query or fragment: none of
/// those may carry credentials into what is recorded.
fn parse(location: &str) -> std::result::Result<url::Url, String> {
    let url = url::Url::parse(location).map_err(|e| format!("is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "has a user or password in it: credentials come from the environment \
             (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, AZURE_STORAGE_ACCOUNT_KEY), \
             never from the location, which is recorded with every output"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or fragment: a bucket URL is scheme://bucket/prefix".into());
    }
    Ok(url)
}

/// `location` as messages show it: no user, password, query or fragment.
fn shown(location: &str) -> String {
    let bare = location.split(['?', '#']).next().unwrap_or_default();
    without_secrets(bare.trim_end_matches('/'))
}

/// `text` with the user and password of any URL in it, and the value of
/// any credential variable in the environment, blanked out.
pub fn without_secrets(text: &str) -> String {
    let mut out = etl_rules::text::without_userinfo(text);
    for (name, value) in std::env::vars() {
        if secret_variable(&name) && value.len() >= 4 {
            out = out.replace(&value, "***");
        }
    }
    out
}

/// A variable whose value is a credential: AWS, Google and Azure keys,
/// tokens and passwords.
fn secret_variable(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    let cloud = ["AWS_", "GOOGLE_", "GCS_", "AZURE_", "ETL_"]
        .iter()
        .any(|p| name.starts_with(p));
    let secret = [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "ACCOUNT_KEY",
        "ACCESS_KEY",
        "SAS",
        "SERVICE_ACCOUNT_KEY",
    ]
    .iter()
    .any(|s| name.contains(s));
    cloud && secret
}

/// An object in a bucket ([`Lister::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Object {
    /// Its URL: `scheme://bucket/key`.
    pub location: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: std::time::SystemTime,
}

/// What is under a bucket's prefix, listed again and again (what a server
/// watches for new files in): see [`Lister::open`].
#[cfg(feature = "object-store")]
#[derive(Debug)]
pub struct Lister(bucket::Bucket);

#[cfg(feature = "object-store")]
impl Lister {
    /// The bucket prefix `url` names (`s3://bucket/incoming`, and `gs://`,
    /// `az://`), with `object_store` options over the environment's, as
    /// [`open_with`]; checked as it is.
    pub async fn open(url: &str, options: Vec<(String, String)>) -> Result<Lister> {
        Ok(Lister(bucket::Bucket::open(url, options).await?))
    }

    /// Every object under the prefix, at any depth, in key order; more than
    /// `limit` is an error naming the bound.
    pub async fn list(&self, limit: usize) -> Result<Vec<Object>> {
        self.0.list(limit).await
    }
}

#[cfg(feature = "object-store")]
mod bucket {
    use std::io::{BufReader, Seek, Write};
    use std::sync::Arc;
    use std::time::Duration;

    use etl_dag::{BoxError, OutputFuture, OutputStore, ReadSeek, WriteFn};
    use futures::StreamExt as _;
    use object_store::path::Path as Key;
    use object_store::{ObjectStore, ObjectStoreExt as _, RetryConfig};
    use tokio::io::AsyncWriteExt as _;

    use super::{parse, secret_variable, shown, without_secrets};
    use crate::{Error, Result};

    /// Outputs in a bucket: `<url>/<run id>/<name>`.
    pub(super) struct Bucket {
        /// `scheme://bucket/prefix`, no trailing slash.
        url: String,
        /// `scheme://bucket`.
        base: String,
        prefix: Key,
        store: Arc<dyn ObjectStore>,
        /// Credentials given as options, blanked out of messages.
        secrets: Vec<String>,
    }

    fn scrubbed(secrets: &[String], text: &str) -> String {
        secrets.iter().fold(without_secrets(text), |text, s| {
            text.replace(s.as_str(), "***")
        })
    }

    impl std::fmt::Debug for Bucket {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Bucket").field("url", &self.url).finish()
        }
    }

    /// Bounded, so that an unreachable endpoint is an error within a minute,
    /// not the crate's default three.
    fn retry() -> RetryConfig {
        RetryConfig {
            backoff: Default::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
        }
    }

    impl Bucket {
        pub(super) async fn open(location: &str, options: Vec<(String, String)>) -> Result<Bucket> {
            // The option values that are credentials, blanked out of messages.
            let secrets: Vec<String> = options
                .iter()
                .filter(|(key, value)| secret_variable(key) && value.len() >= 4)
                .map(|(_, value)| value.clone())
                .collect();
            let scrub = |text: &str| scrubbed(&secrets, text);
            let shown = scrub(&shown(location));
            let fail = |message: String| Error::Outputs {
                location: shown.clone(),
                message: scrub(&message),
            };
            let url = parse(location).map_err(fail)?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(fail("names no bucket: give scheme://bucket/prefix".into()));
            }
            let base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
            let unknown =
                |key: &str| fail(format!("{key:?} is not an option of this kind of bucket"));
            // The three builders share no trait: the same steps for each.
            macro_rules! build {
                ($builder:ty) => {{
                    let mut builder = <$builder>::from_env();
                    for (key, value) in &options {
                        builder =
                            builder.with_config(key.parse().map_err(|_| unknown(key))?, value);
                    }
                    let built = builder.with_url(&base).with_retry(retry()).build();
                    Arc::new(built.map_err(|e| fail(e.to_string()))?) as Arc<dyn ObjectStore>
                }};
            }
            let store = match url.scheme() {
                "s3" | "s3a" => build!(object_store::aws::AmazonS3Builder),
                "gs" => build!(object_store::gcp::GoogleCloudStorageBuilder),
                _ => build!(object_store::azure::MicrosoftAzureBuilder),
            };
            let prefix = Key::parse(url.path().trim_matches('/'))
                .map_err(|e| fail(format!("is not a prefix of object names: {e}")))?;
            // One listing: a bucket that is not there, or credentials that
            // cannot read it, fail now, naming it, not at the first step.
            let listed = store.list_with_delimiter(Some(&prefix)).await;
            if let Err(e) = listed {
                return Err(fail(format!(
                    "cannot be listed (does the bucket exist, and may these credentials read it?): {}",
                    etl_dag::error_chain(&e)
                )));
            }
            let url = if prefix.as_ref().is_empty() {
                base.clone()
            } else {
                format!("{base}/{prefix}")
            };
            Ok(Bucket {
                url,
                base,
                prefix,
                store,
                secrets,
            })
        }

        /// Every object under the prefix: see [`super::Lister::list`].
        pub(super) async fn list(&self, limit: usize) -> Result<Vec<super::Object>> {
            let mut listed = self.store.list(Some(&self.prefix));
            let mut objects = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta.map_err(|e| Error::Outputs {
                    location: self.url.clone(),
                    message: scrubbed(
                        &self.secrets,
                        &format!("listing: {}", etl_dag::error_chain(&e)),
                    ),
                })?;
                if objects.len() >= limit {
                    return Err(Error::Outputs {
                        location: self.url.clone(),
                        message: format!(
                            "holds more than {limit} objects, the most listed at once"
                        ),
                    });
                }
                objects.push(super::Object {
                    location: format!("{}/{}", self.base, meta.location),
                    size: meta.size,
                    modified: meta.last_modified.into(),
                });
            }
            objects.sort_by(|a, b| a.location.cmp(&b.location));
            Ok(objects)
        }

        /// The object at `location`, which must be in this bucket, under its prefix.
        fn key(&self, location: &str) -> std::result::Result<Key, BoxError> {
            let relative = location
                .strip_prefix(&self.url)
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| {
                    format!(
                        "{} is not under {}, where this program's outputs are (give it the same outputs URL as the run that saved it)",
                        without_secrets(location),
                        self.url
                    )
                })?;
            let relative = Key::parse(relative).map_err(|e| format!("{location}: {e}"))?;
            if relative.parts().any(|p| p.as_ref() == "..") {
                return Err(format!("{location} points outside {}", self.url).into());
            }
            Ok(self.prefix.parts().chain(relative.parts()).collect())
        }

        fn fail(&self, what: &str, e: &(dyn std::error::Error + 'static)) -> BoxError {
            scrubbed(
                &self.secrets,
                &format!("{what}: {}", etl_dag::error_chain(e)),
            )
            .into()
        }
    }

    impl OutputStore for Bucket {
        fn describe(&self) -> String {
            self.url.clone()
        }

        fn save<'a>(
            &'a self,
            run_id: &'a str,
            name: &'a str,
            write: WriteFn,
        ) -> OutputFuture<'a, String> {
            Box::pin(async move {
                etl_dag::check_run_id(run_id)?;
                etl_dag::outputs::check_name(name)?;
                let location = format!("{}/{run_id}/{name}", self.url);
                let key = self.prefix.clone().join(run_id).join(name);
                // The codec writes synchronously: to an anonymous file, off
                // the async threads, then the file is uploaded.
                let file = tokio::task::spawn_blocking(move || {
                    let mut file = tempfile::tempfile()?;
                    {
                        let mut out = std::io::BufWriter::new(&mut file);
                        write(&mut out)?;
                        out.flush()?;
                    }
                    file.rewind()?;
                    Ok::<_, BoxError>(file)
                })
                .await??;
                let mut file = tokio::fs::File::from_std(file);
                // One PUT when small, a multipart upload when not; the
                // object is there only once either completes.
                let mut upload = object_store::buffered::BufWriter::new(self.store.clone(), key);
                let copied = async {
                    tokio::io::copy(&mut file, &mut upload).await?;
                    upload.shutdown().await
                }
                .await;
                if let Err(e) = copied {
                    let _ = upload.abort().await;
                    return Err(self.fail(&format!("uploading {location}"), &e));
                }
                Ok(location)
            })
        }

        fn open<'a>(&'a self, location: &'a str) -> OutputFuture<'a, Box<dyn ReadSeek>> {
            Box::pin(async move {
                let key = self.key(location)?;
                let got = self
                    .store
                    .get(&key)
                    .await
                    .map_err(|e| self.fail(&format!("reading {location}"), &e))?;
                let mut stream = got.into_stream();
                let mut file = tokio::fs::File::from_std(tempfile::tempfile()?);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| self.fail(&format!("reading {location}"), &e))?;
                    file.write_all(&chunk).await?;
                }
                file.flush().await?;
                let mut file = file.into_std().await;
                file.rewind()?;
                Ok(Box::new(BufReader::new(file)) as Box<dyn ReadSeek>)
            })
        }

        fn exists<'a>(&'a self, location: &'a str) -> OutputFuture<'a, bool> {
            Box::pin(async move {
                let key = match self.key(location) {
                    Ok(key) => key,
                    // Saved elsewhere: not here, so run again.
                    Err(_) => return Ok(false),
                };
                match self.store.head(&key).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(self.fail(&format!("looking for {location}"), &e)),
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_blanked_out_of_urls() {
        assert_eq!(
            without_secrets("PUT http://AKIA:s3cr3t@127.0.0.1:9000/b/k failed"),
            "PUT http://***@127.0.0.1:9000/b/k failed"
        );
        assert_eq!(without_secrets("s3://bucket/a@b"), "s3://bucket/a@b");
        assert_eq!(without_secrets("no url"), "no url");
        assert!(secret_variable("AWS_SECRET_ACCESS_KEY"));
        assert!(secret_variable("AZURE_STORAGE_ACCOUNT_KEY"));
        assert!(!secret_variable("AWS_REGION"));
        assert!(!secret_variable("PATH"));
    }

    #[tokio::test]
    async fn locations_that_could_carry_credentials_are_refused() {
        for bad in [
            "s3://AKIA:hunter22@bucket/prefix",
            "s3://bucket/prefix?X-Amz-Signature=hunter22",
            "az://container/x#hunter22",
        ] {
            let err = open(bad).await.err().unwrap().to_string();
            assert!(!err.contains("hunter22"), "{err}");
            assert!(err.starts_with("step outputs"), "{err}");
        }
        let err = open("ftp://host/x").await.err().unwrap().to_string();
        assert!(err.contains("not a place for outputs"), "{err}");
        assert!(open("").await.is_err());
    }

    #[tokio::test]
    async fn a_folder_or_file_url_is_a_local_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(open(path).await.unwrap().describe(), path);
        let url = format!("file://{path}");
        assert_eq!(open(&url).await.unwrap().describe(), path);
    }
}
