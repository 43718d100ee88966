//! The real `tower-range-serve` binary, started on 127.0.0.1 with its request log read.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `tower-range-serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// The server binary, which `cargo test` builds for the tests of its crate.
pub const BINARY: &str = env!("CARGO_BIN_EXE_tower-range-serve");

impl Server {
    /// Serves `root` on a free port with `args` on top of `--root` and `--addr`.
    pub fn start(root: &Path, args: &[&str]) -> Self {
        Self::start_under(&[], root, args)
    }

    /// As [`Server::start`], run by a `wrapper` command such as
    /// `["prlimit", "--nofile=64", "--"]`.
    pub fn start_under(wrapper: &[&str], root: &Path, args: &[&str]) -> Self {
        let root = root.to_str().unwrap();
        let mut all = vec!["--root", root, "--addr", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::launch(wrapper, &all, &[])
    }

    /// Starts the server with `args` and `env`, under `wrapper`, and waits for the URL
    /// it prints.
    pub fn launch(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = match wrapper {
            [] => Command::new(BINARY),
            [program, rest @ ..] => {
                let mut command = Command::new(program);
                command.args(rest).arg(BINARY);
                command
            }
        };
        let mut child = command
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{BINARY}: {e}"));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .last()
            .unwrap_or_else(|| panic!("no URL printed: {first:?}"));
        let (scheme, rest) = url.split_once("://").unwrap();
        let addr = rest.trim_end_matches('/').parse().unwrap();
        let scheme = scheme.to_owned();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            addr,
            scheme,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}/{path}", self.scheme, self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line the server wrote to stderr so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The request events for `path`, such as
    /// `… serve::request: method=GET path=/a.bin range=Some("bytes=0-9") status=206 …`.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        let field = format!(" path=/{path} ");
        self.log()
            .iter()
            .filter(|l| l.contains("serve::request") && l.contains(&field))
            .map(|l| Request::parse(l))
            .collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many file descriptors the server has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request event of the server's log.
#[derive(Clone, Debug)]
pub struct Request {
    pub line: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The `Range` header as sent, if any.
    pub range: Option<String>,
    pub status: u16,
    pub bytes: u64,
    pub complete: bool,
}

impl Request {
    fn parse(line: &str) -> Self {
        let field = |name: &str| {
            let start = line.find(&format!(" {name}="))? + name.len() + 2;
            let rest = &line[start..];
            let end = if rest.starts_with("Some(\"") {
                rest.find("\")").map(|i| i + 2)
            } else {
                rest.find(' ')
            };
            Some(&rest[..end.unwrap_or(rest.len())])
        };
        let range = field("range").and_then(|r| {
            let quoted = r.strip_prefix("Some(\"")?.strip_suffix("\")")?;
            Some(quoted.to_owned())
        });
        Self {
            line: line.to_owned(),
            version: field("version").unwrap_or_default().to_owned(),
            range,
            status: field("status").and_then(|s| s.parse().ok()).unwrap_or(0),
            bytes: field("bytes").and_then(|s| s.parse().ok()).unwrap_or(0),
            complete: field("complete") == Some("true"),
        }
    }

    /// The first position of a `bytes=N-…` range.
    pub fn range_start(&self) -> Option<u64> {
        self.range
            .as_ref()?
            .strip_prefix("bytes=")?
            .split('-')
            .next()?
            .parse()
            .ok()
    }
}
