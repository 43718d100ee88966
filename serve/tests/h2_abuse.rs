//! The real `tower-range-serve` binary under HTTP/2 attacks over h2c (prior knowledge),
//! each beside a polite HTTP/1.1 client that fetches a small file every 50 ms and must get
//! every byte of it, in time. Each test names the defence that holds, checks what the
//! server did to the attacker, and prints the server's CPU during the attack (utime and
//! stime from /proc, per second of attack) and the polite client's p99 latency.
#![cfg(target_os = "linux")]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::h2::{self, code, flag, kind, setting, Frame, GoAway};
use support::server::Server;

/// What the polite client fetches.
const SMALL: usize = 10_000;
/// What the attackers ask for.
const BIG: usize = 4 << 20;

/// A directory with `small.bin` and `big.bin`, made once per run.
fn root() -> &'static Path {
    support::root("h2-abuse-root", SMALL, BIG)
}

/// One test at a time: each measures the server's CPU and the polite client's latency.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// Waits until `read` gives the same figure twice 200 ms apart, and returns it.
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

/// The CPU time the process has used (utime + stime, counted in the kernel's USER_HZ
/// ticks of 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses: utime and stime are
    // the 14th and 15th of the line.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The process's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A client that fetches `small.bin` on a new HTTP/1.1 connection every 50 ms.
struct Polite {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Result<Duration, String>>>,
}

impl Polite {
    fn start(addr: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut results = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                results.push(fetch_small(addr).map(|()| started.elapsed()));
                std::thread::sleep(Duration::from_millis(50));
            }
            results
        });
        Self { stop, thread }
    }

    /// Stops the client and returns the latency of each of its requests, all of which
    /// must have succeeded.
    fn finish(self) -> Vec<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        let results = self.thread.join().unwrap();
        let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(
            failed.is_empty(),
            "{} of {} polite requests failed: {failed:?}",
            failed.len(),
            results.len()
        );
        results.into_iter().map(Result::unwrap).collect()
    }
}

/// One `GET` of `small.bin`, checked byte for byte.
fn fetch_small(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /small.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut wire = Vec::new();
    stream
        .read_to_end(&mut wire)
        .map_err(|e| format!("read: {e}"))?;
    if !wire.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(format!("no response head in {} bytes", wire.len()));
    }
    let reply = support::parse_reply(&wire, false);
    if reply.status != 200 || !reply.complete || reply.body != support::content(SMALL) {
        return Err(format!(
            "status {}, {} bytes, complete: {}",
            reply.status,
            reply.body.len(),
            reply.complete
        ));
    }
    Ok(())
}

/// Runs `attack` beside a polite client; checks that every polite request succeeded,
/// with a p99 under a second, and that the server used at most `max_cores` of CPU per
/// second of attack; prints both figures.
fn besiege<T>(server: &Server, name: &str, max_cores: f64, attack: impl FnOnce() -> T) -> T {
    let polite = Polite::start(server.addr);
    std::thread::sleep(Duration::from_millis(200));
    let (cpu_before, started) = (cpu_time(server.pid()), Instant::now());
    let outcome = attack();
    let secs = started.elapsed().as_secs_f64();
    let cores = (cpu_time(server.pid()) - cpu_before).as_secs_f64() / secs;
    let mut latencies = polite.finish();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "{name}: {secs:.1} s of attack; server CPU {:.0}% of a core; polite client: {} \
         requests, all byte-exact, p99 {:.1} ms",
        cores * 100.0,
        latencies.len(),
        p99.as_secs_f64() * 1000.0
    );
    assert!(
        cores <= max_cores,
        "{name}: the server used {:.0}% of a core",
        cores * 100.0
    );
    assert!(
        p99 < Duration::from_secs(1),
        "{name}: the polite client's p99 is {p99:?}"
    );
    assert!(
        latencies.len() as f64 >= secs * 5.0,
        "{name}: the polite client made only {} requests in {secs:.1} s",
        latencies.len()
    );
    outcome
}

/// Opens a connection to the server and writes `first` on it.
fn connect(addr: SocketAddr, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.write_all(first).unwrap();
    stream
}

/// How a connection ended, as its reader saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// End of file, or a reset: the server closed it.
    Closed,
    /// Nothing came for the reader's timeout: the server left it open.
    Silent,
}

/// What an attacker's reader saw of the server.
#[derive(Debug, Default)]
struct Seen {
    /// `PING` and `SETTINGS` acknowledgements.
    acks: usize,
    /// Response heads.
    heads: usize,
    /// `DATA` frames.
    data: usize,
    goaway: Option<GoAway>,
    /// `None` while the connection is open.
    end: Option<End>,
    /// When `end` was seen.
    ended: Option<Instant>,
}

impl Seen {
    fn goaway(&self) -> Option<(u32, &str)> {
        self.goaway.as_ref().map(|g| (g.code, g.debug.as_str()))
    }
}

/// The frames of a connection, read on a thread of their own until the server closes
/// it or sends nothing for `quiet`.
struct Watch {
    seen: Arc<Mutex<Seen>>,
    thread: JoinHandle<()>,
}

impl Watch {
    /// Reads `stream`'s frames; with `ack_settings`, acknowledges the server's
    /// `SETTINGS` as a client must (the caller must then have stopped writing).
    fn start(stream: &TcpStream, quiet: Duration, ack_settings: bool) -> Self {
        let mut stream = stream.try_clone().unwrap();
        stream.set_read_timeout(Some(quiet)).unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sink = seen.clone();
        let thread = std::thread::spawn(move || loop {
            let frame = Frame::read(&mut stream);
            let mut seen = sink.lock().unwrap();
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    let timeout = matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
                    seen.end = Some(if timeout { End::Silent } else { End::Closed });
                    seen.ended = Some(Instant::now());
                    return;
                }
            };
            match frame.kind {
                kind::PING | kind::SETTINGS if frame.is_ack() => seen.acks += 1,
                kind::SETTINGS if ack_settings => {
                    let ack = h2::frame(kind::SETTINGS, flag::ACK, 0, &[]);
                    let _ = stream.write_all(&ack);
                }
                kind::HEADERS => seen.heads += 1,
                kind::DATA => seen.data += 1,
                kind::GOAWAY => seen.goaway = frame.goaway(),
                _ => {}
            }
        });
        Self { seen, thread }
    }

    /// Whether the server has sent `GOAWAY` or closed the connection.
    fn over(&self) -> bool {
        let seen = self.seen.lock().unwrap();
        seen.goaway.is_some() || seen.end.is_some()
    }

    /// Waits for the reader to finish.
    fn join(self) -> Seen {
        self.thread.join().unwrap();
        Arc::try_unwrap(self.seen).unwrap().into_inner().unwrap()
    }
}

/// CVE-2023-44487: `HEADERS` then `RST_STREAM`, in bursts of 100 pairs, on one
/// connection after another. Defence: h2's limit of 20 streams reset by the client
/// before hyper accepts them (`max_pending_accept_reset_streams`, set in
/// connection.rs): past it, `GOAWAY(ENHANCE_YOUR_CALM, "too_many_resets")` and close.
#[test]
fn rapid_reset_is_cut_with_goaway_enhance_your_calm() {
    let _one = one_at_a_time();
    let server = Server::start(root(), &[]);
    // At most 10,000 pairs per connection, were the server never to react.
    const BURST: u32 = 100;
    const MOST: u32 = 10_000;
    const CONNECTIONS: usize = 2000;
    let connections = besiege(&server, "rapid reset", 1.9, || {
        let started = Instant::now();
        let mut connections = Vec::new();
        while started.elapsed() < Duration::from_secs(3) && connections.len() < CONNECTIONS {
            let mut stream = connect(server.addr, &h2::open(&[]));
            let watch = Watch::start(&stream, Duration::from_secs(2), false);
            let mut pairs = 0;
            while pairs < MOST && !watch.over() {
                let burst: Vec<u8> = (pairs..pairs + BURST)
                    .flat_map(|i| {
                        let id = 2 * i + 1;
                        [h2::get(id, "/big.bin"), h2::rst_stream(id, code::CANCEL)].concat()
                    })
                    .collect();
                if stream.write_all(&burst).is_err() {
                    break;
                }
                pairs += BURST;
            }
            connections.push((pairs, watch.join()));
        }
        connections
    });
    for (pairs, seen) in &connections {
        assert_eq!(
            seen.goaway(),
            Some((code::ENHANCE_YOUR_CALM, "too_many_resets")),
            "after {pairs} resets: {seen:?}"
        );
        assert_eq!(seen.end, Some(End::Closed), "{seen:?}");
    }
    let sent: u32 = connections.iter().map(|(pairs, _)| pairs).sum();
    eprintln!(
        "rapid reset: {} connections, each cut with GOAWAY(ENHANCE_YOUR_CALM) after at \
         most {} resets sent ({sent} in all)",
        connections.len(),
        connections.iter().map(|(pairs, _)| pairs).max().unwrap()
    );
}

/// Floods the server with `frame(i)` on connections whose acknowledgements are read,
/// one after another for 4 s, and at the same time on one connection that reads
/// nothing. The server runs with `--header-timeout 2`. Checks that each reading
/// connection is closed 2 s after it opened, having sent no request, and that the
/// server stops reading the other once it has acknowledgements it cannot send.
fn flood(name: &str, frame: fn(u64) -> Vec<u8>) {
    let _one = one_at_a_time();
    let server = Server::start(root(), &["--header-timeout", "2"]);
    let rss_before = rss_kib(server.pid());
    let (read, unread) = besiege(&server, name, 1.5, || {
        let addr = server.addr;
        let unread = std::thread::spawn(move || flood_unread(addr, frame));
        let started = Instant::now();
        let mut read = Vec::new();
        while started.elapsed() < Duration::from_secs(4) {
            read.push(flood_read(addr, frame, Duration::from_secs(6)));
        }
        (read, unread.join().unwrap())
    });
    let rss_after = rss_kib(server.pid());
    for (sent, lived, seen) in &read {
        assert_eq!(
            seen.end,
            Some(End::Closed),
            "after {sent} frames in {lived:?}"
        );
        assert!(
            *lived > Duration::from_millis(1500) && *lived < Duration::from_secs(4),
            "closed after {lived:?}, not at the header timeout of 2 s"
        );
        assert!(seen.acks > 0, "{seen:?}");
    }
    let unread = unread.expect("the server must stop reading what it cannot answer");
    assert!(
        unread < 64 << 20,
        "the server read {unread} bytes it could not answer"
    );
    let grown = rss_after.saturating_sub(rss_before);
    assert!(grown < 64 << 10, "the server grew by {grown} KiB");
    let (frames, acks) = read
        .iter()
        .fold((0, 0), |(f, a), (sent, _, seen)| (f + sent, a + seen.acks));
    eprintln!(
        "{name}: {} connections closed at the header timeout, {frames} frames sent, {acks} \
         acknowledged; the unread connection stalled after {} KiB; the server grew by \
         {grown} KiB",
        read.len(),
        unread >> 10
    );
}

/// Floods a new connection with `frame(i)` while its acknowledgements are read, until
/// the server closes it or `limit` passes; returns the frames sent, how long the
/// connection lived, and what its reader saw.
fn flood_read(
    addr: SocketAddr,
    frame: fn(u64) -> Vec<u8>,
    limit: Duration,
) -> (u64, Duration, Seen) {
    let opened = Instant::now();
    let mut stream = connect(addr, &h2::open(&[]));
    let watch = Watch::start(&stream, Duration::from_secs(2), false);
    let mut sent = 0;
    while !watch.over() && opened.elapsed() < limit {
        let burst: Vec<u8> = (sent..sent + 100).flat_map(frame).collect();
        if stream.write_all(&burst).is_err() {
            break;
        }
        sent += 100;
    }
    let seen = watch.join();
    let lived = seen.ended.unwrap_or_else(Instant::now) - opened;
    (sent, lived, seen)
}

/// Floods a new connection with `frame(i)` and reads nothing; returns how many bytes
/// went out before a write waited a second, or `None` if 64 MiB did. The connection
/// first asks for a big file with a window of 0: with a response in flight, the header
/// deadline leaves it alone, and the send deadline is a minute.
fn flood_unread(addr: SocketAddr, frame: fn(u64) -> Vec<u8>) -> Option<usize> {
    let first = [
        h2::open(&[(setting::INITIAL_WINDOW_SIZE, 0)]),
        h2::get(1, "/big.bin"),
    ];
    let mut stream = connect(addr, &first.concat());
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let (mut written, mut i) = (0, 0);
    while written < 64 << 20 {
        let burst: Vec<u8> = (i..i + 100).flat_map(frame).collect();
        i += 100;
        let mut rest = &burst[..];
        while !rest.is_empty() {
            match stream.write(rest) {
                Ok(n) => {
                    written += n;
                    rest = &rest[n..];
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Some(written)
                }
                Err(e) => panic!("the flood's connection failed after {written} bytes: {e}"),
            }
        }
    }
    None
}

/// A `PING` flood (CVE-2019-9512). Defences: h2 holds one acknowledgement at a time and
/// reads the next frame only once it is written, so a client that does not read stops
/// being read; a connection that sends no request is closed at the header timeout.
#[test]
fn a_ping_flood_is_answered_at_the_clients_pace_and_closed_at_the_header_timeout() {
    flood("PING flood", h2::ping);
}

/// A `SETTINGS` flood (CVE-2019-9515), each changing the initial window and header
/// table size. Defences: as for `PING`; h2 acknowledges a `SETTINGS` before it reads
/// the next frame.
#[test]
fn a_settings_flood_is_answered_at_the_clients_pace_and_closed_at_the_header_timeout() {
    flood("SETTINGS flood", |i| {
        let odd = u32::from(i % 2 == 1);
        h2::settings(&[
            (setting::INITIAL_WINDOW_SIZE, 65_535 - odd),
            (setting::HEADER_TABLE_SIZE, 4096 - odd),
        ])
    });
}

/// The CVE-2024-27316 class: a request head that never ends, `CONTINUATION` after
/// `CONTINUATION` of one small field each, on one connection after another. Defence:
/// h2 takes at most max(header list size / frame size × 1.25, 5) `CONTINUATION` frames
/// per head (5, with the 16 KiB header list size set in connection.rs), then sends
/// `GOAWAY(ENHANCE_YOUR_CALM, "too_many_continuations")` and closes. The first
/// connection checks that limit exactly; the others flood.
#[test]
fn an_endless_continuation_is_cut_with_goaway_enhance_your_calm() {
    let _one = one_at_a_time();
    let server = Server::start(root(), &[]);
    // A head without END_HEADERS, then CONTINUATION frames of one field each.
    let head = h2::frame(
        kind::HEADERS,
        flag::END_STREAM,
        1,
        &h2::get_block("/big.bin"),
    );
    let first = [h2::open(&[]), head].concat();
    let field = h2::literal_named("x-a", "b");
    let continuation = h2::frame(kind::CONTINUATION, 0, 1, &field);
    let calm = Some((code::ENHANCE_YOUR_CALM, "too_many_continuations"));

    // The limit, exactly: the server takes five, and not a sixth.
    let mut stream = connect(server.addr, &first);
    let watch = Watch::start(&stream, Duration::from_secs(2), false);
    stream.write_all(&continuation.repeat(5)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !watch.over(),
        "five CONTINUATION frames are within the limit"
    );
    stream.write_all(&continuation).unwrap();
    assert_eq!(watch.join().goaway(), calm, "the sixth is not");

    // Frames per connection: at most 1,000, were the server never to react.
    const MOST: usize = 1000;
    const CONNECTIONS: usize = 2000;
    let connections = besiege(&server, "CONTINUATION flood", 1.5, || {
        let started = Instant::now();
        let mut connections = Vec::new();
        while started.elapsed() < Duration::from_secs(3) && connections.len() < CONNECTIONS {
            let mut stream = connect(server.addr, &first);
            let watch = Watch::start(&stream, Duration::from_secs(2), false);
            let mut sent = 0;
            while sent < MOST && !watch.over() {
                if stream.write_all(&continuation.repeat(10)).is_err() {
                    break;
                }
                sent += 10;
            }
            connections.push((sent, watch.join()));
        }
        connections
    });
    for (sent, seen) in &connections {
        assert_eq!(
            seen.goaway(),
            calm,
            "after {sent} CONTINUATION frames: {seen:?}"
        );
        assert_eq!(seen.end, Some(End::Closed), "{seen:?}");
    }
    eprintln!(
        "CONTINUATION flood: {} connections, each cut with GOAWAY(ENHANCE_YOUR_CALM) after \
         at most {} frames sent",
        connections.len(),
        connections.iter().map(|(sent, _)| sent).max().unwrap()
    );
}

/// 200 streams across 4 connections that ask for a big file with a flow-control window
/// of 0 (`SETTINGS_INITIAL_WINDOW_SIZE`) and never open it: each response holds its file
/// and a chunk. Defence: `--send-timeout` (here 2 s) counts the time a response waits
/// for the client's window; the connection is closed, and its responses dropped.
#[test]
fn streams_that_never_open_their_window_are_closed_after_the_send_timeout() {
    let _one = one_at_a_time();
    // Without the open-file cache, so that each response holds a descriptor of its own
    // and the test can count them.
    let server = Server::start(root(), &["--send-timeout", "2", "--open-files", "0"]);
    const CONNECTIONS: usize = 4;
    const STREAMS: usize = 50;
    let quiet = settled(|| server.open_fds());
    let rss_before = rss_kib(server.pid());
    let (held, rss, seen) = besiege(&server, "zero window", 0.5, || {
        let opened = Instant::now();
        let conns: Vec<(TcpStream, Watch)> = (0..CONNECTIONS)
            .map(|_| {
                let mut wire = h2::open(&[(setting::INITIAL_WINDOW_SIZE, 0)]);
                for i in 0..STREAMS {
                    wire.extend(h2::get(2 * i as u32 + 1, "/big.bin"));
                }
                let stream = connect(server.addr, &wire);
                let watch = Watch::start(&stream, Duration::from_secs(8), true);
                (stream, watch)
            })
            .collect();
        // Every response has its file open and waits for a window.
        let streams = CONNECTIONS * STREAMS;
        eventually(Duration::from_secs(5), || {
            server.open_fds() >= quiet + streams
        });
        let (held, rss) = (server.open_fds() - quiet, rss_kib(server.pid()));
        let seen: Vec<(Seen, Duration)> = conns
            .into_iter()
            .map(|(_stream, watch)| {
                let seen = watch.join();
                let lived = seen.ended.unwrap_or_else(Instant::now) - opened;
                (seen, lived)
            })
            .collect();
        (held, rss, seen)
    });
    assert!(
        held >= CONNECTIONS * STREAMS,
        "{held} descriptors held, {quiet} when quiet"
    );
    for (seen, lived) in &seen {
        assert_eq!(seen.heads, STREAMS, "every response head is sent: {seen:?}");
        assert_eq!(seen.data, 0, "no window, no data: {seen:?}");
        assert_eq!(seen.end, Some(End::Closed), "after {lived:?}: {seen:?}");
        assert!(
            *lived > Duration::from_millis(1500) && *lived < Duration::from_secs(6),
            "closed after {lived:?}, not at the send timeout of 2 s"
        );
    }
    assert!(
        eventually(Duration::from_secs(3), || server.open_fds() <= quiet + 2),
        "{} descriptors still open, {quiet} when quiet",
        server.open_fds()
    );
    let log = server.requests("big.bin");
    assert_eq!(log.len(), CONNECTIONS * STREAMS, "{log:?}");
    assert!(log.iter().all(|r| !r.complete), "{log:?}");
    eprintln!(
        "zero window: {} streams held {held} descriptors and {} KiB more memory until \
         their connections were closed after {:?} to {:?}",
        CONNECTIONS * STREAMS,
        rss.saturating_sub(rss_before),
        seen.iter().map(|(_, lived)| *lived).min().unwrap(),
        seen.iter().map(|(_, lived)| *lived).max().unwrap(),
    );
}

/// The other side of the deadline above: a client that reads slowly, opening its
/// window 16 KiB at a time every 400 ms, keeps taking bytes, and gets its whole
/// response though that takes longer than the send timeout (2 s).
#[test]
fn a_slow_reader_that_keeps_opening_its_window_gets_the_whole_response() {
    let _one = one_at_a_time();
    let server = Server::start(root(), &["--send-timeout", "2"]);
    const WINDOW: u32 = 16 << 10;
    const LEN: usize = 128 << 10;
    let mut block = h2::get_block("/big.bin");
    block.extend(h2::literal(50, &format!("bytes=0-{}", LEN - 1)));
    let head = h2::frame(
        kind::HEADERS,
        flag::END_STREAM | flag::END_HEADERS,
        1,
        &block,
    );
    let opened = Instant::now();
    let first = [h2::open(&[(setting::INITIAL_WINDOW_SIZE, WINDOW)]), head];
    let mut stream = connect(server.addr, &first.concat());
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (mut body, mut unacked) = (Vec::new(), 0);
    loop {
        let frame = Frame::read(&mut stream).expect("the server must not close the connection");
        match frame.kind {
            kind::SETTINGS if !frame.is_ack() => {
                stream
                    .write_all(&h2::frame(kind::SETTINGS, flag::ACK, 0, &[]))
                    .unwrap();
            }
            kind::DATA if frame.stream == 1 => {
                body.extend_from_slice(&frame.payload);
                if frame.flags & flag::END_STREAM != 0 {
                    break;
                }
                unacked += frame.payload.len();
                if unacked >= WINDOW as usize {
                    std::thread::sleep(Duration::from_millis(400));
                    let more = u32::try_from(unacked).unwrap().to_be_bytes();
                    let update = [
                        h2::frame(kind::WINDOW_UPDATE, 0, 1, &more),
                        h2::frame(kind::WINDOW_UPDATE, 0, 0, &more),
                    ];
                    stream.write_all(&update.concat()).unwrap();
                    unacked = 0;
                }
            }
            kind::GOAWAY | kind::RST_STREAM => panic!("the server gave up: {frame:?}"),
            _ => {}
        }
    }
    let took = opened.elapsed();
    assert!(
        body == support::content(BIG)[..LEN],
        "{} bytes, not the file's first {LEN}",
        body.len()
    );
    assert!(took > Duration::from_millis(2500), "took only {took:?}");
    eprintln!("slow reader: {LEN} bytes in {took:?}, the send timeout being 2 s");
}
