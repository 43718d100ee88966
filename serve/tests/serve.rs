//! The real `tower-range-serve` binary against hostile and careless clients, over real TCP:
//! running out of file descriptors, half-written heads, idle and stalled connections
//! (HTTP/1.1 and HTTP/2), a connection cap, and a graceful shutdown.
#![cfg(target_os = "linux")]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use support::h2::{self, flag, kind, setting};
use support::server::Server;

const SMALL: usize = 100_000;
const BIG: usize = 64 << 20;

/// A directory with `small.bin` and `big.bin`, made once per run.
fn root() -> &'static Path {
    support::root("serve-root", SMALL, BIG)
}

/// Polls `done` every 20 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// What `read` gives once two readings 200 ms apart agree.
fn settled(mut read: impl FnMut() -> usize) -> usize {
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Sends a keep-alive `GET` of `path` on `stream`.
fn send_get(stream: &mut TcpStream, path: &str, headers: &str) {
    let head = format!("GET /{path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
}

/// Reads one response with a `Content-Length` from `stream`: its status and body.
fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut wire = Vec::new();
    let mut byte = [0; 1];
    while !wire.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        wire.push(byte[0]);
    }
    let head = support::parse_reply(&wire, true);
    let mut body = vec![0; head.content_length().unwrap_or(0) as usize];
    stream.read_exact(&mut body)?;
    Ok((head.status, body))
}

/// One whole `GET` on a new connection.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    send_get(&mut stream, path, "Connection: close\r\n");
    read_response(&mut stream)
}

/// Whether the server has closed `stream`: a read returns end of file, or a reset.
fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn running_out_of_file_descriptors_does_not_stop_the_server() {
    let mut server = Server::start_under(&["prlimit", "--nofile=64:64", "--"], root(), &[]);
    let conns: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || server
            .log()
            .iter()
            .any(|l| l.contains("accept failed"))),
        "the server must run out of descriptors: {:?}",
        server.log()
    );
    assert!(server.is_running(), "the server must not exit");
    drop(conns);
    let served = eventually(Duration::from_secs(10), || {
        get(server.addr, "small.bin").is_ok_and(|(status, _)| status == 200)
    });
    assert!(
        served,
        "the server must answer again once descriptors are free"
    );
    let (status, body) = get(server.addr, "big.bin").unwrap();
    assert_eq!(status, 200);
    assert!(
        body == support::content(BIG),
        "a download after it is byte-exact"
    );
}

#[test]
fn half_written_heads_are_closed_after_the_header_timeout() {
    let server = Server::start(root(), &["--header-timeout", "1"]);
    let sent = Instant::now();
    let mut halves: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET /small.bin HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Other clients are served meanwhile.
    for _ in 0..20 {
        let (status, body) = get(server.addr, "small.bin").unwrap();
        assert_eq!(status, 200);
        assert!(body == support::content(SMALL));
    }
    if sent.elapsed() < Duration::from_millis(800) {
        assert!(
            !closed(&mut halves[0], Duration::from_millis(100)),
            "closed before the header timeout"
        );
    }
    for (i, half) in halves.iter_mut().enumerate() {
        let left = Duration::from_secs(6).saturating_sub(sent.elapsed());
        assert!(
            closed(half, left.max(Duration::from_millis(1))),
            "half head {i} still open"
        );
    }
    let elapsed = sent.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after {elapsed:?}"
    );
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout_not_the_header_timeout() {
    let server = Server::start(root(), &["--header-timeout", "1", "--idle-timeout", "3"]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    send_get(&mut stream, "small.bin", "");
    let (status, _) = read_response(&mut stream).unwrap();
    assert_eq!(status, 200);
    let idle = Instant::now();
    assert!(
        !closed(&mut stream, Duration::from_millis(1800)),
        "an idle connection outlives the header timeout"
    );
    assert!(closed(&mut stream, Duration::from_secs(4)), "still open");
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(2800) && after < Duration::from_secs(5),
        "closed after {after:?}"
    );
}

/// Starts the server with a 1 s send deadline, opens a connection with `stall` that
/// asks for `big.bin` and reads nothing, and checks that the server closes it and lets
/// its descriptors go, having logged an incomplete response.
fn assert_stalled_connection_closed(stall: impl FnOnce(SocketAddr) -> TcpStream) {
    // Without open files kept between requests: the response's own are counted.
    let server = Server::start(root(), &["--send-timeout", "1", "--open-files", "0"]);
    // The server holds its listener and runtime descriptors; count them when quiet.
    let (status, _) = get(server.addr, "small.bin").unwrap();
    assert_eq!(status, 200);
    let quiet = settled(|| server.open_fds());
    let mut stalled = stall(server.addr);
    // The response's file handles are open while it waits for the client.
    assert!(
        eventually(Duration::from_secs(5), || server.open_fds() >= quiet + 2),
        "{} descriptors, {quiet} when quiet",
        server.open_fds()
    );
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || server.open_fds() == quiet),
        "the stalled response still holds {} descriptors, {quiet} when quiet",
        server.open_fds()
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    let log = server.requests("big.bin");
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(!log[0].complete && log[0].bytes < BIG as u64, "{log:?}");
    // The client can read what the kernel had buffered, then the end.
    assert!(closed(&mut stalled, Duration::from_secs(5)));
}

#[test]
fn a_stalled_reader_is_closed_after_the_send_timeout_and_its_files_released() {
    assert_stalled_connection_closed(|addr| {
        let mut stalled = TcpStream::connect(addr).unwrap();
        send_get(&mut stalled, "big.bin", "Range: bytes=0-67108863\r\n");
        stalled
    });
}

/// Opens an HTTP/2 connection (prior knowledge) whose windows never hold the server
/// back, and asks on stream 1 for `path` with `range`.
fn h2c_get(addr: SocketAddr, path: &str, range: &str) -> TcpStream {
    const MAX_WINDOW: u32 = (1 << 31) - 1;
    let mut stream = TcpStream::connect(addr).unwrap();
    // The streams' windows, and the connection's raised to match.
    let mut wire = h2::open(&[(setting::INITIAL_WINDOW_SIZE, MAX_WINDOW)]);
    let raise = (MAX_WINDOW - 65_535).to_be_bytes();
    wire.extend(h2::frame(kind::WINDOW_UPDATE, 0, 0, &raise));
    // A GET, and `range` (static entry 50).
    let mut block = h2::get_block(&format!("/{path}"));
    block.extend(h2::literal(50, range));
    let flags = flag::END_STREAM | flag::END_HEADERS;
    wire.extend(h2::frame(kind::HEADERS, flags, 1, &block));
    stream.write_all(&wire).unwrap();
    stream
}

/// Reads frames until stream 1 ends; returns its `DATA`, acknowledging the server's
/// settings on the way.
fn h2_body(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut body = Vec::new();
    loop {
        let mut head = [0; 9];
        stream.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).unwrap();
        match kind {
            kind::SETTINGS if flags & flag::ACK == 0 => {
                let ack = h2::frame(kind::SETTINGS, flag::ACK, 0, &[]);
                stream.write_all(&ack).unwrap();
            }
            kind::RST_STREAM | kind::GOAWAY => {
                panic!("the server ended the stream or connection: {head:?} {payload:?}")
            }
            kind::DATA if id == 1 => {
                // Padding is never sent by the server.
                body.extend_from_slice(&payload);
                if flags & flag::END_STREAM != 0 {
                    return body;
                }
            }
            _ => {}
        }
    }
}

#[test]
fn an_http2_connection_that_stops_reading_resumes_byte_exact() {
    let server = Server::start(root(), &[]);
    let (first, len) = (1_000_000, 48 << 20);
    let range = format!("bytes={first}-{}", first + len - 1);
    let mut stream = h2c_get(server.addr, "big.bin", &range);
    // The client reads nothing: the socket fills and the server's writes wait, with
    // what one turn gathered held back.
    std::thread::sleep(Duration::from_millis(1500));
    let body = h2_body(&mut stream);
    assert_eq!(body.len(), len, "the stream's length");
    let wrong = body
        .iter()
        .zip(&support::content(BIG)[first..])
        .position(|(a, b)| a != b);
    assert_eq!(wrong, None, "the stream's bytes must equal the file's");
    eventually(Duration::from_secs(5), || {
        !server.requests("big.bin").is_empty()
    });
    let log = server.requests("big.bin");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].version, "HTTP/2.0", "{log:?}");
    assert_eq!((log[0].status, log[0].bytes), (206, len as u64), "{log:?}");
}

#[test]
fn a_stalled_http2_connection_is_closed_after_the_send_timeout() {
    // Its writes wait in the gathered buffer's drain: the deadline applies there too.
    assert_stalled_connection_closed(|addr| h2c_get(addr, "big.bin", "bytes=0-67108863"));
}

#[test]
fn connections_past_the_cap_wait_until_one_closes() {
    let mut server = Server::start(root(), &["--max-connections", "2"]);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            send_get(&mut s, "small.bin", "");
            assert_eq!(read_response(&mut s).unwrap().0, 200);
            s
        })
        .collect();
    let mut third = TcpStream::connect(server.addr).unwrap();
    send_get(&mut third, "small.bin", "Connection: close\r\n");
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut byte = [0; 1];
    let waited = third.read(&mut byte).map_err(|e| e.kind());
    assert!(
        matches!(waited, Err(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the third connection must wait: {waited:?}"
    );
    drop(held.pop());
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (status, body) = read_response(&mut third).unwrap();
    assert_eq!(status, 200);
    assert!(body == support::content(SMALL));
    assert!(server.is_running());
}

#[test]
fn sigterm_refuses_new_connections_and_lets_a_download_finish() {
    let mut server = Server::start(root(), &["--grace", "20"]);
    let addr = server.addr;
    let download = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        send_get(&mut stream, "big.bin", "Connection: close\r\n");
        let mut wire = Vec::new();
        let mut chunk = vec![0; 1 << 20];
        // A slow client: 1 MiB every 40 ms, about 2.5 s for 64 MiB.
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => wire.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("the download broke: {e}"),
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        support::parse_reply(&wire, false)
    });
    assert!(eventually(Duration::from_secs(5), || server
        .requests("big.bin")
        .is_empty()
        && server.open_fds() > 0));
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let refused = eventually(Duration::from_secs(2), || {
        TcpStream::connect(addr).is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
    });
    assert!(refused, "new connections must be refused after the signal");
    assert!(
        server.is_running(),
        "the server must wait for the download before it exits"
    );
    let reply = download.join().unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.complete, "the download completes");
    assert!(reply.body == support::content(BIG), "byte-exact");
    let exit = server
        .wait(Duration::from_secs(10))
        .expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}");
}
