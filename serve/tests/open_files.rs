//! The files `tower-range-serve` keeps open between requests: every response is the one
//! a fresh `open` would give, whatever happened to the file or its path in between,
//! and no more files stay open than `--open-files` says.
#![cfg(target_os = "linux")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::server::Server;
use support::Reply;

/// A fresh directory of its own for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("open-files-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One `GET` of `path` on a new connection, with `headers`.
fn get(server: &Server, path: &str, headers: &str) -> Reply {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!("GET /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut wire = Vec::new();
    stream.read_to_end(&mut wire).unwrap();
    support::parse_reply(&wire, false)
}

/// The files beneath `dir` that the server has open.
fn held(server: &Server, dir: &Path) -> Vec<PathBuf> {
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid())).unwrap();
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir) && target != dir)
        .collect()
}

/// Asserts that `path` is served with `body`, and with the headers a server that opens
/// every file afresh gives.
fn assert_fresh(server: &Server, fresh: &Server, path: &str, body: &[u8]) -> Reply {
    let reply = get(server, path, "");
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    assert_eq!(reply.body, body, "{path}: the file's bytes now");
    let expected = get(fresh, path, "");
    for name in ["etag", "last-modified", "content-type", "content-length"] {
        assert_eq!(
            reply.header(name),
            expected.header(name),
            "{path}: {name} as a fresh open gives it"
        );
    }
    reply
}

/// Rewrites `path`'s bytes in place (same inode), past a tick of coarse file clocks.
fn rewrite(path: &Path, bytes: &[u8]) {
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_file_kept_open_is_served_as_a_fresh_open_would_after_every_change() {
    let dir = fresh_dir("changes");
    let outside = fresh_dir("changes-outside");
    let server = Server::start(&dir, &[]);
    let fresh = Server::start(&dir, &["--open-files", "0"]);
    let file = dir.join("a.txt");

    std::fs::write(&file, "one-one").unwrap();
    let first = assert_fresh(&server, &fresh, "a.txt", b"one-one");
    assert_eq!(
        held(&server, &dir),
        [file.as_path()],
        "the file is kept open"
    );
    assert!(held(&fresh, &dir).is_empty(), "--open-files 0 keeps none");

    // Written in place: same inode, same length.
    rewrite(&file, b"two-two");
    let second = assert_fresh(&server, &fresh, "a.txt", b"two-two");
    let (old, new) = (
        first.header("etag").unwrap(),
        second.header("etag").unwrap(),
    );
    assert_ne!(old, new, "a new version, a new ETag");
    let revalidated = get(&server, "a.txt", &format!("If-None-Match: {old}\r\n"));
    assert_eq!(revalidated.status, 200, "the old ETag no longer matches");
    let revalidated = get(&server, "a.txt", &format!("If-None-Match: {new}\r\n"));
    assert_eq!(revalidated.status, 304, "the new one does");

    // Truncated in place, then another file renamed over it.
    rewrite(&file, b"two");
    assert_fresh(&server, &fresh, "a.txt", b"two");
    std::fs::write(dir.join("next.txt"), "three-three").unwrap();
    std::fs::rename(dir.join("next.txt"), &file).unwrap();
    assert_fresh(&server, &fresh, "a.txt", b"three-three");

    // Deleted: a 404, and the descriptor goes.
    std::fs::remove_file(&file).unwrap();
    assert_eq!(get(&server, "a.txt", "").status, 404);
    assert!(held(&server, &dir).is_empty(), "{:?}", held(&server, &dir));

    // A directory of the path moved away and replaced.
    std::fs::create_dir(dir.join("d")).unwrap();
    std::fs::write(dir.join("d/b.txt"), "in d").unwrap();
    assert_fresh(&server, &fresh, "d/b.txt", b"in d");
    std::fs::rename(dir.join("d"), dir.join("d-old")).unwrap();
    std::fs::create_dir(dir.join("d")).unwrap();
    std::fs::write(dir.join("d/b.txt"), "in the new d").unwrap();
    assert_fresh(&server, &fresh, "d/b.txt", b"in the new d");

    // A symbolic link turned to another file beneath the root, then outside it.
    std::fs::write(dir.join("x.txt"), "x").unwrap();
    std::fs::write(dir.join("y.txt"), "y").unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("x.txt", dir.join("link.txt")).unwrap();
    assert_fresh(&server, &fresh, "link.txt", b"x");
    let swap = |target: &Path| {
        std::os::unix::fs::symlink(target, dir.join("new-link")).unwrap();
        std::fs::rename(dir.join("new-link"), dir.join("link.txt")).unwrap();
    };
    swap(Path::new("y.txt"));
    assert_fresh(&server, &fresh, "link.txt", b"y");
    swap(&outside.join("secret.txt"));
    assert_eq!(get(&server, "link.txt", "").status, 404, "never outside");
}

#[test]
fn no_more_files_stay_open_than_asked() {
    let dir = fresh_dir("bounded");
    for i in 0..20 {
        std::fs::write(dir.join(format!("{i}.bin")), vec![b'x'; i + 1]).unwrap();
    }
    let server = Server::start(&dir, &["--open-files", "4"]);
    for round in 0..2 {
        for i in 0..20 {
            let reply = get(&server, &format!("{i}.bin"), "");
            assert_eq!(reply.body.len(), i + 1, "round {round}, file {i}");
        }
        let open = held(&server, &dir);
        assert!(open.len() <= 4, "round {round}: {open:?}");
        assert!(!open.is_empty(), "round {round}: some are kept");
    }
}
