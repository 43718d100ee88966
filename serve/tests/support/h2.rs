//! HTTP/2 written and read by hand (RFC 9113, HPACK from RFC 7541): enough to speak
//! h2c with prior knowledge, and to misbehave on purpose.

use std::io::{self, Read};

/// What a client sends first on an HTTP/2 connection (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    /// On `SETTINGS` and `PING`.
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// Settings identifiers (RFC 9113 §6.5.2).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
}

/// Error codes (RFC 9113 §7).
pub mod code {
    pub const NO_ERROR: u32 = 0x0;
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
}

/// A frame: its 9-byte head, then `payload`.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    assert_eq!(len[0], 0, "a frame's payload is at most 16 MiB");
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A `SETTINGS` frame with `params`.
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = params
        .iter()
        .flat_map(|(id, value)| [&id.to_be_bytes()[..], &value.to_be_bytes()].concat())
        .collect();
    frame(kind::SETTINGS, 0, 0, &payload)
}

/// The preface and a `SETTINGS` frame with `params`: how a client opens a connection.
pub fn open(params: &[(u16, u32)]) -> Vec<u8> {
    [PREFACE, &settings(params)].concat()
}

/// An HPACK integer with an `n`-bit prefix, the first byte's other bits `high`
/// (RFC 7541 §5.1).
fn integer(high: u8, n: u32, value: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(high | value as u8);
        return;
    }
    out.push(high | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// An HPACK string literal, not Huffman-coded.
fn string(value: &[u8], out: &mut Vec<u8>) {
    integer(0, 7, value.len(), out);
    out.extend_from_slice(value);
}

/// A field without indexing whose name is entry `index` of the static table
/// (RFC 7541 §6.2.2).
pub fn literal(index: usize, value: &str) -> Vec<u8> {
    let mut field = Vec::new();
    integer(0, 4, index, &mut field);
    string(value.as_bytes(), &mut field);
    field
}

/// A field without indexing with a new name.
pub fn literal_named(name: &str, value: &str) -> Vec<u8> {
    let mut field = vec![0];
    string(name.as_bytes(), &mut field);
    string(value.as_bytes(), &mut field);
    field
}

/// The header block of a `GET` of `path`: `:method GET` and `:scheme http` from the
/// static table, `:path` and `:authority` as literals.
pub fn get_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86];
    block.extend(literal(4, path));
    block.extend(literal(1, "x"));
    block
}

/// A `GET` of `path` on `stream`, in one `HEADERS` frame that ends the stream.
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    let flags = flag::END_STREAM | flag::END_HEADERS;
    frame(kind::HEADERS, flags, stream, &get_block(path))
}

/// `RST_STREAM` of `stream` with `code`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(kind::RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A `PING` carrying `data`.
pub fn ping(data: u64) -> Vec<u8> {
    frame(kind::PING, 0, 0, &data.to_be_bytes())
}

/// A frame as read from the wire.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// A `GOAWAY`'s fields (RFC 9113 §6.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway {
    pub last_stream: u32,
    pub code: u32,
    /// The debug data, as text.
    pub debug: String,
}

impl Frame {
    /// Reads one frame from `wire`.
    pub fn read(wire: &mut impl Read) -> io::Result<Self> {
        let mut head = [0; 9];
        wire.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        wire.read_exact(&mut payload)?;
        Ok(Self {
            kind: head[3],
            flags: head[4],
            stream,
            payload,
        })
    }

    pub fn is_ack(&self) -> bool {
        self.flags & flag::ACK != 0
    }

    /// The fields of a `GOAWAY`.
    pub fn goaway(&self) -> Option<GoAway> {
        if self.kind != kind::GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let word = |i: usize| u32::from_be_bytes(self.payload[i..i + 4].try_into().unwrap());
        Some(GoAway {
            last_stream: word(0) & 0x7fff_ffff,
            code: word(4),
            debug: String::from_utf8_lossy(&self.payload[8..]).into_owned(),
        })
    }
}
