//! A TCP proxy in front of a store that reads each request head, counts the bytes the
//! store sends, and can break connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the store received, as the proxy read it.
#[derive(Clone, Debug)]
pub struct StoreRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub range: Option<String>,
    pub if_match: Option<String>,
    /// When its head came through.
    pub at: Instant,
}

/// What the proxy does to the connections it relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Relays this many more bytes from the store, then cuts the connection and
    /// refuses every later one.
    CutAfter(u64),
    /// Closes every new connection at once, and a kept-alive one when it carries its
    /// next byte.
    Refuse,
}

/// The proxy, on a port of its own, relaying to `store`.
pub struct Proxy {
    pub addr: SocketAddr,
    requests: Mutex<Vec<StoreRequest>>,
    /// Bytes the store sent since the last reset.
    pub from_store: AtomicU64,
    /// The fault, and `from_store` when it was set.
    fault: Mutex<(Fault, u64)>,
}

impl Proxy {
    pub async fn start(store: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            requests: Mutex::default(),
            from_store: AtomicU64::new(0),
            fault: Mutex::new((Fault::None, 0)),
        });
        let relay = Arc::clone(&proxy);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let relay = Arc::clone(&relay);
                tokio::spawn(async move { relay.relay(client, store).await });
            }
        });
        proxy
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = (fault, self.from_store.load(Ordering::SeqCst));
    }

    pub fn requests(&self) -> Vec<StoreRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The `GET`s of `path` (such as `/media/big.bin`).
    pub fn gets(&self, path: &str) -> Vec<StoreRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .collect()
    }

    pub fn reset_counts(&self) {
        self.requests.lock().unwrap().clear();
        self.from_store.store(0, Ordering::SeqCst);
    }

    fn refusing(&self) -> bool {
        self.fault.lock().unwrap().0 == Fault::Refuse
    }

    async fn relay(self: Arc<Self>, client: TcpStream, store: SocketAddr) {
        if self.refusing() {
            return;
        }
        let Ok(server) = TcpStream::connect(store).await else {
            return;
        };
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let up = async {
            let (mut buf, mut pending) = (vec![0; 64 * 1024], Vec::new());
            while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                // A store client keeps connections alive: a refusing store closes them
                // when the next request comes.
                if self.refusing() {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    self.record(&pending[..end]);
                    pending.drain(..end + 4);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        };
        let down = async {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                let total = self.from_store.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                let cut = {
                    let mut fault = self.fault.lock().unwrap();
                    match *fault {
                        (Fault::CutAfter(limit), since) if total - since >= limit => {
                            *fault = (Fault::Refuse, total);
                            true
                        }
                        (Fault::Refuse, _) => true,
                        _ => false,
                    }
                };
                if cut || client_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        };
        // Either side ending ends the connection: neither side half-closes.
        tokio::select! {
            () = up => {}
            () = down => {}
        }
    }

    fn record(&self, head: &[u8]) {
        let text = String::from_utf8_lossy(head);
        let mut first = text.split("\r\n").next().unwrap_or_default().split(' ');
        let (method, path) = (
            first.next().unwrap_or_default(),
            first.next().unwrap_or_default(),
        );
        let field = |name: &str| {
            text.split("\r\n").find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        self.requests.lock().unwrap().push(StoreRequest {
            method: method.to_owned(),
            path: path.split('?').next().unwrap_or_default().to_owned(),
            range: field("range"),
            if_match: field("if-match"),
            at: Instant::now(),
        });
    }
}
