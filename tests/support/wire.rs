//! The wire, shared with the server crate's tests: test content, a raw HTTP/1.1
//! client, and strict readers of replies and `multipart/byteranges` bodies.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Deterministic test content: every byte differs from its neighbours, so an
/// off-by-one slice never compares equal.
pub fn content(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A response as it came over the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body was delimited properly: all of `Content-Length`, or a
    /// terminated chunked encoding. A broken transfer leaves this false.
    pub complete: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "header {name} sent twice");
        first
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|v| v.parse().unwrap())
    }
}

/// Sends one request for `path` as raw bytes, with `Connection: close`, and reads
/// the reply.
pub async fn request_to(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    send_raw(addr, raw.as_bytes(), method == "HEAD").await
}

/// Sends `raw` bytes and parses the single response that comes back.
pub async fn send_raw(addr: SocketAddr, raw: &[u8], head: bool) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut wire = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        // A reset after a broken transfer is an expected ending here.
        let _ = stream.read_to_end(&mut wire).await;
    })
    .await
    .expect("the server must answer and close within 20 s");
    parse_reply(&wire, head)
}

pub fn parse_reply(wire: &[u8], head: bool) -> Reply {
    let end = wire
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(wire)));
    let head_text = std::str::from_utf8(&wire[..end]).unwrap();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (n, v) = line.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let rest = &wire[end + 4..];
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
        complete: false,
    };
    if head || status == 304 || status == 204 {
        reply.complete = rest.is_empty();
        return reply;
    }
    if reply
        .header("transfer-encoding")
        .is_some_and(|te| te.contains("chunked"))
    {
        let (body, complete) = dechunk(rest);
        reply.body = body;
        reply.complete = complete;
    } else if let Some(len) = reply.content_length() {
        reply.complete = rest.len() as u64 == len;
        reply.body = rest.to_vec();
    } else {
        reply.body = rest.to_vec();
        reply.complete = true;
    }
    reply
}

fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size_text = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..rest.len().min(size)]);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Splits a `multipart/byteranges` body with an independent, strict reader: returns
/// each part's headers (lower-cased names) and bytes.
/// One part of a multipart body: its headers and its bytes.
pub type Part = (Vec<(String, String)>, Vec<u8>);

pub fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {content_type}"));
    let delimiter = format!("--{boundary}");
    let closing = format!("\r\n--{boundary}--\r\n");
    assert!(
        body.ends_with(closing.as_bytes()),
        "the body must end with the closing delimiter"
    );
    let body = &body[..body.len() - closing.len()];
    let mut parts = Vec::new();
    let separator = format!("\r\n{delimiter}\r\n");
    assert!(body.starts_with(format!("{delimiter}\r\n").as_bytes()));
    let mut rest = &body[delimiter.len() + 2..];
    loop {
        let header_end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let headers = std::str::from_utf8(&rest[..header_end])
            .unwrap()
            .split("\r\n")
            .map(|line| {
                let (n, v) = line.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect::<Vec<_>>();
        rest = &rest[header_end + 4..];
        let range: (u64, u64) = {
            let cr = &headers
                .iter()
                .find(|(n, _)| n == "content-range")
                .unwrap()
                .1;
            let span = cr
                .strip_prefix("bytes ")
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let (a, b) = span.split_once('-').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        };
        // The part's length comes from its Content-Range, so content that happens to
        // contain the delimiter cannot confuse this reader.
        let len = (range.1 - range.0 + 1) as usize;
        parts.push((headers, rest[..len].to_vec()));
        rest = &rest[len..];
        if rest.is_empty() {
            return parts;
        }
        assert!(
            rest.starts_with(separator.as_bytes()),
            "parts are separated by a delimiter"
        );
        rest = &rest[separator.len()..];
    }
}
