//! A storage node dies under `tower-range-serve --store`: a SeaweedFS cluster of separate
//! processes (one master, two volume servers keeping every chunk twice, replication
//! `001`, a filer and the S3 gateway) loses a volume server to SIGKILL while a client
//! has paused a 64 MiB download and new range requests keep coming.
//!
//! Every response must either complete with the object's exact bytes or abort (a
//! broken transfer, never a body that looks complete); no body may mix bytes; and
//! requests must succeed again within a bound after the kill. What happened is printed:
//! run with `--nocapture` to read it.
//!
//! Needs `weed` on `PATH`, as `object_store.rs` does.

mod stores;
mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stores::proxy::Proxy;
use stores::seaweedfs::{self, SeaweedFs};
use stores::{finish, slow_client};
use support::server::Server;
use support::{request_to, Reply};

const BUCKET: &str = "media";
const BIG: usize = 64 << 20;
/// The length of each new range request.
const RANGE: usize = 1 << 20;
/// Requests that start this long after the kill must all succeed.
const FAILOVER_BOUND: Duration = Duration::from_secs(3);

/// The 64 MiB object: no two MiB alike, so a byte out of place shows.
fn big() -> Bytes {
    (0..BIG)
        .map(|i| (i.wrapping_mul(131) ^ (i >> 9) ^ (i >> 20).wrapping_mul(7)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// One response, and when it ran, in seconds from the kill.
#[derive(Debug)]
struct Outcome {
    name: String,
    started: f64,
    ended: f64,
    status: u16,
    bytes: usize,
    /// Complete, with the expected bytes.
    ok: bool,
}

impl Outcome {
    /// Checks `reply` against `expected` (see [`check`]) and records it.
    fn new(name: String, started: f64, ended: f64, reply: &Reply, expected: &[u8]) -> Self {
        Self {
            ok: check(&name, reply, expected),
            name,
            started,
            ended,
            status: reply.status,
            bytes: reply.body.len(),
        }
    }
}

/// Checks `reply` against `expected`: complete with exactly those bytes, an error
/// status, or aborted after a prefix of them. Returns whether it succeeded.
fn check(name: &str, reply: &Reply, expected: &[u8]) -> bool {
    let shown = || {
        format!(
            "{name}: status {}, {} of {} bytes, complete {}",
            reply.status,
            reply.body.len(),
            expected.len(),
            reply.complete
        )
    };
    if reply.status >= 500 {
        return false;
    }
    assert!([200, 206].contains(&reply.status), "{}", shown());
    assert!(
        reply.body.len() <= expected.len() && reply.body[..] == expected[..reply.body.len()],
        "bytes that are not the object's: {}",
        shown()
    );
    assert!(
        !reply.complete || reply.body.len() == expected.len(),
        "a short body that looks complete: {}",
        shown()
    );
    reply.complete
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_server_killed_mid_download_fails_over_to_the_replica() {
    let setup = Instant::now();
    let mut weed = SeaweedFs::cluster(2, "001", BUCKET).await;
    let started = setup.elapsed();
    let data = big();
    let client = weed.client(BUCKET);
    seaweedfs::put_multipart(&client, "big.bin", data.clone(), None).await;
    for volume in ["volume1", "volume2"] {
        let stored = weed.stored(volume);
        assert!(
            stored >= BIG as u64,
            "{volume} holds {stored} bytes: not a copy of the object"
        );
    }
    let proxy = Proxy::start(weed.s3).await;
    let env = SeaweedFs::server_env(proxy.addr);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A store timeout shorter than the pause: the paused download's store stream
    // breaks, and the rest is asked for after the kill.
    let args = [
        "--store",
        "s3://media",
        "--addr",
        "127.0.0.1:0",
        "--store-timeout",
        "2",
    ];
    let server = Server::launch(&[], &args, &env);
    let head = request_to(server.addr, "HEAD", "/big.bin", &[]).await;
    assert_eq!(head.status, 200);
    proxy.reset_counts();
    // What the volume servers send from here on is what they serve.
    let baseline = [weed.written("volume1"), weed.written("volume2")];

    // The paused download: the head and 4 MiB read, then nothing.
    let (paused, wire) = slow_client(server.addr, "big.bin", "bytes=0-", 4 << 20).await;
    let paused_at = Instant::now();
    let kill_at = paused_at + Duration::from_secs(1);
    let since_kill = move |t: Instant| {
        if t >= kill_at {
            t.duration_since(kill_at).as_secs_f64()
        } else {
            -kill_at.duration_since(t).as_secs_f64()
        }
    };

    // New range requests, one every 150 ms, from the pause to 6 s after the kill.
    let requester = {
        let (addr, data) = (server.addr, data.clone());
        tokio::spawn(async move {
            let mut requests = Vec::new();
            for i in 0..47usize {
                let at = paused_at + Duration::from_millis(150 * i as u64);
                tokio::time::sleep_until(at.into()).await;
                let data = data.clone();
                requests.push(tokio::spawn(async move {
                    let start = (i * 1_398_101) % (BIG - RANGE);
                    let range = format!("bytes={start}-{}", start + RANGE - 1);
                    let begun = Instant::now();
                    let reply = request_to(addr, "GET", "/big.bin", &[("Range", &range)]).await;
                    let name = format!("range {range}");
                    let ended = since_kill(Instant::now());
                    let expected = &data[start..start + RANGE];
                    Outcome::new(name, since_kill(begun), ended, &reply, expected)
                }));
            }
            let mut outcomes = Vec::new();
            for request in requests {
                outcomes.push(request.await.unwrap());
            }
            outcomes
        })
    };

    // The kill, 1 s into the pause.
    tokio::time::sleep_until(kill_at.into()).await;
    let served = [
        weed.written("volume1") - baseline[0],
        weed.written("volume2") - baseline[1],
    ];
    weed.kill("volume1");
    let killed = since_kill(Instant::now());
    let replica_before = weed.written("volume2");
    // When the master stops listing the dead server.
    let noticed = {
        let deadline = Instant::now() + Duration::from_secs(30);
        while weed.master_lists("volume1").await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        since_kill(Instant::now())
    };

    // The paused download resumes 4 s after it paused: twice the store timeout.
    tokio::time::sleep_until((paused_at + Duration::from_secs(4)).into()).await;
    let resumed = since_kill(Instant::now());
    let reply = finish(paused, wire).await;
    // It may complete or abort; `check` holds it to the object's bytes either way.
    let paused_outcome = Outcome::new(
        "paused download bytes=0-".into(),
        resumed,
        since_kill(Instant::now()),
        &reply,
        &data,
    );
    let paused_gets: Vec<String> = proxy
        .gets("/media/big.bin")
        .into_iter()
        .filter(|g| {
            g.range
                .as_deref()
                .is_some_and(|r| r.ends_with(&format!("-{}", BIG - 1)))
        })
        .map(|g| format!("{} at {:+.2} s", g.range.unwrap(), since_kill(g.at)))
        .collect();
    let mut outcomes = requester.await.unwrap();
    let replica_sent = weed.written("volume2") - replica_before;

    // After the failover, a new request for the whole object.
    let begun = Instant::now();
    let whole = request_to(server.addr, "GET", "/big.bin", &[]).await;
    let whole_outcome = Outcome::new(
        "whole object, after".into(),
        since_kill(begun),
        since_kill(Instant::now()),
        &whole,
        &data,
    );
    let whole_done = whole_outcome.ok;

    outcomes.push(paused_outcome);
    outcomes.push(whole_outcome);
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok).collect();
    let last_failure = failed.iter().map(|o| o.ended).reduce(f64::max);

    let mut report = String::new();
    let _ = writeln!(
        report,
        "\nSeaweedFS cluster up in {:.1} s. Times in seconds from the kill.",
        started.as_secs_f64()
    );
    let _ = writeln!(
        report,
        "volume1 killed at {killed:+.2} s, having served {} MiB (volume2: {} MiB); the master dropped it at {noticed:+.2} s; volume2 then served {} MiB",
        served[0] >> 20,
        served[1] >> 20,
        replica_sent >> 20
    );
    let _ = writeln!(
        report,
        "paused download: 4 MiB read, paused at {:+.2} s, resumed at {resumed:+.2} s; its store GETs: {}",
        since_kill(paused_at),
        paused_gets.join(", ")
    );
    let _ = writeln!(
        report,
        "| request | started | ended | status | bytes | exact |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|");
    for o in &outcomes {
        let _ = writeln!(
            report,
            "| {} | {:+.2} | {:+.2} | {} | {} | {} |",
            o.name, o.started, o.ended, o.status, o.bytes, o.ok
        );
    }
    let slowest = |after: bool| {
        outcomes
            .iter()
            .filter(|o| o.name.starts_with("range") && (o.started >= 0.0) == after)
            .map(|o| o.ended - o.started)
            .reduce(f64::max)
            .unwrap_or(f64::NAN)
            * 1000.0
    };
    let _ = writeln!(
        report,
        "slowest range request: {:.0} ms before the kill, {:.0} ms after it",
        slowest(false),
        slowest(true)
    );
    let _ = writeln!(
        report,
        "{} of {} responses completed byte-exact, {} did not; the last failure ended at {}",
        outcomes.len() - failed.len(),
        outcomes.len(),
        failed.len(),
        last_failure.map_or("— (none)".into(), |t| format!("{t:+.2} s")),
    );
    eprintln!("{report}");

    let bound = FAILOVER_BOUND.as_secs_f64();
    let after = outcomes.iter().filter(|o| o.started >= bound).count();
    assert!(
        after >= 10,
        "only {after} requests started {bound} s after the kill"
    );
    let late: Vec<_> = failed.iter().filter(|o| o.started >= bound).collect();
    assert!(
        late.is_empty(),
        "requests failed {bound} s after the kill: {late:?}"
    );
    assert!(whole_done, "a new request after the failover fails");
}
