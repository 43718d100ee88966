//! What the object-store tests share: SeaweedFS (a real S3 server) started by each test,
//! a proxy in front of a store that records its requests and can break them, and a
//! client that reads a response slowly.
#![allow(dead_code)]

pub mod proxy;
pub mod seaweedfs;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::Reply;

/// A client that asks for `range` of `key` with a 16 KiB receive buffer, reads the head
/// and `first` bytes of the body, and returns the connection and what it read.
pub async fn slow_client(
    server: SocketAddr,
    key: &str,
    range: &str,
    first: usize,
) -> (TcpStream, Vec<u8>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let head =
        format!("GET /{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: {range}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut wire = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let end = wire.windows(4).position(|w| w == b"\r\n\r\n");
        if end.is_some_and(|end| wire.len() >= end + 4 + first) {
            return (stream, wire);
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the response ended early");
        wire.extend_from_slice(&buf[..n]);
    }
}

/// Reads the rest of `stream` after `wire`, tolerating a reset, and parses the reply.
pub async fn finish(mut stream: TcpStream, mut wire: Vec<u8>) -> Reply {
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut wire)).await;
    crate::support::parse_reply(&wire, false)
}

/// An 8 MiB part at 0, then nine of 1,000 bytes a MiB apart from `small_from`: more
/// parts than the server fetches ahead (seven), so that a client pausing in the first
/// makes the server ask for the last ones after a change of the object.
pub fn replaced_mid_response_ranges(small_from: usize) -> String {
    let small = (0..9).map(|k| {
        let first = small_from + (k << 20);
        format!(",{first}-{}", first + 999)
    });
    format!("bytes=0-8388607{}", small.collect::<String>())
}

/// Every byte of every part of `reply` that came is `old`'s, and the last part did not
/// come whole.
pub fn assert_only_old_bytes(reply: &Reply, old: &[u8]) {
    let parts = crate::support::parts_received(reply.header("content-type").unwrap(), &reply.body);
    assert!(parts.len() < 10, "the last part never came whole");
    for (first, bytes) in parts {
        assert!(
            bytes[..] == old[first..first + bytes.len()],
            "only bytes of the old version, at {first}"
        );
    }
}
