//! The limit of `benches/load.py`'s large range: a bare loop of `pread` and `write` over
//! loopback, with no HTTP library, no async runtime and no layer.
//!
//! ```text
//! cargo bench --bench loopback -- --file target/load/big.bin --addr 127.0.0.1:3104 [--chunk-kib 32]
//! ```
//!
//! One thread serves one connection at a time: it reads a request head, takes its
//! `Range: bytes=first-last` (or the whole file), and answers `206` (or `200`) by
//! reading `--chunk-kib` KiB at a time with `pread` into one buffer and writing it to
//! the socket, as many times as the range needs; then the next request on the same
//! connection. It is no server: it exists to be measured beside the real ones.

#[cfg(unix)]
use std::io::{BufRead, BufReader, Write};
#[cfg(unix)]
use std::net::{TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::fs::FileExt;

#[cfg(not(unix))]
fn main() {}

#[cfg(unix)]
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut file, mut addr, mut chunk) = (None, None, 32 * 1024);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--file" => file = args.next(),
            "--addr" => addr = args.next(),
            "--chunk-kib" => chunk = args.next().and_then(|k| k.parse().ok()).unwrap_or(32) * 1024,
            // `cargo bench` passes `--bench` and filters.
            _ => {}
        }
    }
    let (Some(file), Some(addr)) = (file, addr) else {
        eprintln!("loopback: no --file and --addr, skipped (benches/load.py runs it)");
        return Ok(());
    };
    let file = std::fs::File::open(file)?;
    let len = file.metadata()?.len();
    let listener = TcpListener::bind(addr)?;
    for stream in listener.incoming() {
        let _ = serve(stream?, &file, len, chunk);
    }
    Ok(())
}

/// Answers the requests of one connection until it closes.
#[cfg(unix)]
fn serve(stream: TcpStream, file: &std::fs::File, len: u64, chunk: usize) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut buf = vec![0u8; chunk];
    loop {
        let mut range = None;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some(spec) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                let (first, last) = spec.trim().split_once('-').unwrap_or(("0", ""));
                let first: u64 = first.parse().unwrap_or(0);
                let last: u64 = last.parse().unwrap_or(len - 1).min(len - 1);
                range = Some((first, last));
            }
        }
        let (status, (first, last)) = match range {
            Some(range) => ("206 Partial Content", range),
            None => ("200 OK", (0, len - 1)),
        };
        let count = last + 1 - first;
        write!(out, "HTTP/1.1 {status}\r\nContent-Length: {count}\r\n\r\n")?;
        let mut at = first;
        while at <= last {
            let want = chunk.min((last + 1 - at) as usize);
            let n = file.read_at(&mut buf[..want], at)?;
            out.write_all(&buf[..n])?;
            at += n as u64;
        }
    }
}
