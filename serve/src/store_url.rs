//! What `--store URL` opens: a store of the `object_store` crate chosen by the URL's
//! scheme (object_store's [`ObjectStoreScheme`]), configured from the environment as
//! object_store reads it, with the server's timeout and retries.
//!
//! | URL                                   | store                   | configured by            |
//! |---------------------------------------|-------------------------|--------------------------|
//! | `s3://BUCKET[/PREFIX]` (also `s3a://`, `https://…amazonaws.com/…`) | Amazon S3 or an S3-compatible server | `AWS_*`: keys, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, … |
//! | `gs://BUCKET[/PREFIX]`                | Google Cloud Storage    | `GOOGLE_*`, `SERVICE_ACCOUNT` |
//! | `az://CONTAINER[/PREFIX]` (also `azure://`, `abfs[s]://`, `adl://`, `https://…blob.core.windows.net/…`) | Azure Blob Storage | `AZURE_*` |
//! | `file:///DIR`                         | the files beneath `DIR` | nothing; `DIR` must exist |
//! | `memory:///`                          | an empty store in memory | nothing                 |
//!
//! The timeout and retries apply to the network stores; a local directory and memory
//! have no client to time out. Plain `http(s)://` URLs (object_store's WebDAV store)
//! are refused. Unlike `--root`, which never leaves its directory, `file:///DIR`
//! follows symbolic links wherever they point, as object_store's `LocalFileSystem` does.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

/// How a network store's client asks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client {
    /// How long one store request may take, its body included.
    pub(crate) timeout: Duration,
    /// Retries of a failed store request.
    pub(crate) retries: usize,
}

/// Why `--store URL` could not be opened.
#[derive(Debug)]
pub(crate) struct OpenError {
    url: String,
    reason: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--store {}: {}", self.url, self.reason)
    }
}

impl std::error::Error for OpenError {}

/// Opens the store `url` names, its objects' keys relative to the URL's path.
pub(crate) fn open(url: &str, client: Client) -> Result<Arc<dyn ObjectStore>, OpenError> {
    let fail = |reason: String| OpenError {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|err| fail(format!("not a URL ({err})")))?;
    // `memory://` has an empty host, which object_store's parser refuses.
    if parsed.scheme() == "memory" && parsed.host_str().is_none_or(str::is_empty) {
        return Ok(Arc::new(InMemory::new()));
    }
    let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|_| {
        fail(
            "not a store URL: s3://BUCKET[/PREFIX], gs://…, az://…, file:///DIR or memory:///"
                .into(),
        )
    })?;
    // object_store's HTTP client is built on rustls without a default crypto provider.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let timeout = format!("{}ms", client.timeout.as_millis());
    let retry = RetryConfig {
        max_retries: client.retries,
        ..RetryConfig::default()
    };
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(url)
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), timeout)
                .with_retry(retry)
                .build()
                .map_err(|err| fail(err.to_string()))?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), timeout)
                .with_retry(retry)
                .build()
                .map_err(|err| fail(err.to_string()))?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), timeout)
                .with_retry(retry)
                .build()
                .map_err(|err| fail(err.to_string()))?,
        ),
        ObjectStoreScheme::Local => {
            let dir = parsed
                .to_file_path()
                .map_err(|()| fail("not a local path".into()))?;
            if !dir.is_dir() {
                return Err(fail(format!("{} is not a directory", dir.display())));
            }
            // The directory is the store's root: no prefix left to add.
            return LocalFileSystem::new_with_prefix(&dir)
                .map(|fs| Arc::new(fs) as Arc<dyn ObjectStore>)
                .map_err(|err| fail(err.to_string()));
        }
        ObjectStoreScheme::Memory => Arc::new(InMemory::new()),
        _ => return Err(fail("HTTP stores are not supported".into())),
    };
    Ok(if prefix.as_ref().is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Client = Client {
        timeout: Duration::from_secs(30),
        retries: 10,
    };

    #[test]
    fn each_scheme_opens_its_store_with_the_path_as_prefix() {
        for (url, store) in [
            ("s3://bucket", "AmazonS3(bucket)"),
            ("s3://bucket/videos/2024", "PrefixObjectStore(videos/2024)"),
            ("s3a://bucket/videos/", "PrefixObjectStore(videos)"),
            ("memory:///", "InMemory"),
            ("memory://", "InMemory"),
        ] {
            let opened = open(url, CLIENT).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(opened.to_string(), store, "{url}");
        }
        let dir = std::env::temp_dir();
        let url = Url::from_directory_path(&dir).unwrap();
        let opened = open(url.as_str(), CLIENT).unwrap();
        assert!(opened.to_string().starts_with("LocalFileSystem(file://"));
    }

    #[test]
    fn a_bad_url_says_what_is_wrong() {
        for (url, reason) in [
            ("bucket/videos", "not a URL"),
            ("ftp://host/dir", "not a store URL"),
            ("s3:///videos", "not a store URL"),
            ("http://example.com/videos", "HTTP stores are not supported"),
            ("file:///no/such/directory", "is not a directory"),
        ] {
            let err = open(url, CLIENT)
                .err()
                .unwrap_or_else(|| panic!("{url} opened"));
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("--store {url}: ")) && text.contains(reason),
                "{text}"
            );
        }
    }
}
