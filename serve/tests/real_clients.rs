//! Real clients nobody on the team wrote, against the real `tower-range-serve` binary on
//! 127.0.0.1: headless Chromium (over WebDriver), ffprobe and ffmpeg, curl, wget and
//! aria2c. Test media are generated with ffmpeg at test time.
//!
//! A missing tool fails the test (`.ci/run` installs them all).
//! Debian: `apt-get install chromium chromium-driver ffmpeg curl wget aria2`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::server::Server;

/// The directory of test media, made once per test run.
fn media() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under target/, made anew each run: nothing piles up in /tmp.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-media");
        std::fs::create_dir_all(&dir).unwrap();
        let video = "-f lavfi -i testsrc2=size=640x360:rate=24";
        let audio = "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 60";
        // MP4 without +faststart: the moov index sits at the end of the file, so a
        // player must ask for the tail before it can play. A constant 12 Mb/s makes it
        // 90 MB, too large to be fetched whole before the page seeks, and puts 10 s at
        // 15 MB, beyond what a browser reads ahead over loopback (Firefox's first
        // request had taken 6.7 MB when it paused it), so each seek is a range request.
        ffmpeg(&dir, &format!("{video} {audio} -c:v libx264 -preset ultrafast -b:v 12M -minrate 12M -maxrate 12M -bufsize 2M -x264-params nal-hrd=cbr -pix_fmt yuv420p -g 48 -c:a aac -b:a 64k clip.mp4"));
        ffmpeg(&dir, &format!("{video} {audio} -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -g 48 -c:a libopus -b:a 48k clip.webm"));
        ffmpeg(&dir, &format!("{audio} -c:a libmp3lame -b:a 64k tone.mp3"));
        let mp4 = std::fs::read(dir.join("clip.mp4")).unwrap();
        let moov = mp4.windows(4).position(|w| w == b"moov").unwrap();
        assert!(moov > mp4.len() / 2, "the moov index must be at the end");
        std::fs::write(dir.join("big.bin"), support::content(24 << 20)).unwrap();
        // A file written within the current second has a weak Last-Modified (RFC 9110
        // §8.8.2.2), which If-Range never matches: date it an hour back.
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let big = std::fs::File::options().write(true).open(dir.join("big.bin"));
        big.unwrap().set_modified(hour_ago).unwrap();
        std::fs::write(dir.join("player.html"), include_str!("e2e/player.html")).unwrap();
        dir
    })
}

/// Runs ffmpeg in `dir` with `args`, split at spaces.
fn ffmpeg(dir: &Path, args: &str) {
    let status = tool("ffmpeg")
        .current_dir(dir)
        .args(["-v", "error", "-y"])
        .args(args.split(' '))
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args}");
}

/// A command for a tool that must be installed: a missing tool fails the test.
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is not installed; see the README's 'Tested with real clients'"
    );
    Command::new(name)
}

/// The server, built by `cargo test`, serving the media directory.
fn serve_media() -> Server {
    Server::start(media(), &[])
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(media().join(name)).unwrap()
}

#[test]
fn curl_single_suffix_and_multipart_ranges_are_byte_exact() {
    let server = serve_media();
    curl_ranges(&server, &[]);
    assert_eq!(versions(&server, "big.bin", 3), ["HTTP/1.1"; 3]);
}

#[test]
fn curl_over_http2_single_suffix_and_multipart_ranges_are_byte_exact() {
    // h2c, with prior knowledge.
    let server = serve_media();
    curl_ranges(&server, &["--http2-prior-knowledge"]);
    assert_eq!(versions(&server, "big.bin", 3), ["HTTP/2.0"; 3]);
    // HTTP/2 over TLS, chosen by ALPN, with the test's certificate trusted.
    let tls = TlsFiles::make("curl");
    let server = tls.serve_media();
    let ca = tls.cert.to_str().unwrap();
    curl_ranges(&server, &["--http2", "--cacert", ca]);
    assert_eq!(versions(&server, "big.bin", 3), ["HTTP/2.0"; 3]);
}

/// `-r 1000-1999`, `-r -500` and `-r 0-99,200-299` of `big.bin` with curl and `args`,
/// byte for byte (the multipart parts parsed by the test's own reader).
fn curl_ranges(server: &Server, args: &[&str]) {
    let big = file("big.bin");
    let url = server.url("big.bin");
    let body = run(tool("curl")
        .args(["-sf", "-r", "1000-1999"])
        .args(args)
        .arg(&url));
    assert_eq!(body, &big[1000..2000]);
    let body = run(tool("curl")
        .args(["-sf", "-r", "-500"])
        .args(args)
        .arg(&url));
    assert_eq!(body, &big[big.len() - 500..]);
    // One file per server: tests run side by side.
    let header_file = media().join(format!("curl-headers-{}", server.addr.port()));
    let body = run(tool("curl")
        .args(["-sf", "-r", "0-99,200-299", "-D"])
        .arg(&header_file)
        .args(args)
        .arg(&url));
    let headers = std::fs::read_to_string(&header_file).unwrap();
    let content_type = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap()
        .trim();
    let parts = support::parse_multipart(content_type, &body);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1, &big[..100]);
    assert_eq!(parts[1].1, &big[200..300]);
    std::fs::remove_file(header_file).unwrap();
}

/// The HTTP versions of the requests for `path` in the server's log, once it has at
/// least `count` of them (a request is logged when its body is done, which may be just
/// after the client has its last byte), or after 5 s.
fn versions(server: &Server, path: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.requests(path).len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server
        .requests(path)
        .into_iter()
        .map(|r| r.version)
        .collect()
}

/// A self-signed certificate for 127.0.0.1 and its key, made at run time as PEM files.
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    /// The base64 SHA-256 of the certificate's public key, as Chromium's
    /// `--ignore-certificate-errors-spki-list` takes it.
    spki_sha256: String,
}

impl TlsFiles {
    fn make(name: &str) -> Self {
        use base64::Engine as _;
        use rcgen::{CertificateParams, KeyPair, PublicKeyData, SanType};

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        let cert = params.self_signed(&key).unwrap();
        let dir = media().join(format!("tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = Self {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(
                &ring::digest::SHA256,
                &key.subject_public_key_info(),
            )),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// The media directory over HTTPS with this certificate.
    fn serve_media(&self) -> Server {
        let (cert, key) = (self.cert.to_str().unwrap(), self.key.to_str().unwrap());
        Server::start(media(), &["--tls-cert", cert, "--tls-key", key])
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.cert.parent().unwrap());
    }
}

#[test]
fn server_refuses_escapes_and_revalidates() {
    let server = serve_media();
    let status = |args: &[&str]| {
        let out = run(tool("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args));
        String::from_utf8(out).unwrap()
    };
    let escape = format!("{}/../../etc/passwd", server.url("").trim_end_matches('/'));
    assert_eq!(status(&["--path-as-is", &escape]), "404");
    assert_eq!(status(&[&server.url("%2e%2e/%2e%2e/etc/passwd")]), "404");
    assert_eq!(status(&[&server.url("missing.bin")]), "404");
    // Symbolic links are followed while they stay beneath the root.
    let links = [
        ("link-inside", PathBuf::from("big.bin"), "200"),
        ("link-outside", PathBuf::from("/etc/passwd"), "404"),
        (
            "link-up",
            PathBuf::from("../../../../../../etc/passwd"),
            "404",
        ),
    ];
    for (name, target, expected) in links {
        let link = media().join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            status(&[&server.url(name)]),
            expected,
            "{name} -> {target:?}"
        );
    }
    let head = run(tool("curl").args(["-sfI", &server.url("big.bin")]));
    let head = String::from_utf8(head).unwrap();
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim();
    let if_none_match = format!("If-None-Match: {etag}");
    assert_eq!(
        status(&["-H", &if_none_match, &server.url("big.bin")]),
        "304"
    );
    let if_range = format!("If-Range: {etag}");
    assert_eq!(
        status(&["-H", &if_range, "-r", "0-9", &server.url("big.bin")]),
        "206"
    );
    assert_eq!(
        status(&[
            "-H",
            "If-Range: \"stale\"",
            "-r",
            "0-9",
            &server.url("big.bin")
        ]),
        "200"
    );
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` written in the two other HTTP-date formats:
/// `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`.
fn other_date_formats(imf: &str) -> (String, String) {
    let f: Vec<&str> = imf.split([' ', ',']).filter(|f| !f.is_empty()).collect();
    let (day_name, day, month, year, time) = (f[0], f[1], f[2], f[3], f[4]);
    let long = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    .into_iter()
    .find(|d| d.starts_with(day_name))
    .unwrap();
    let rfc850 = format!("{long}, {day}-{month}-{} {time} GMT", &year[2..]);
    let asctime = format!(
        "{day_name} {month} {:>2} {time} {year}",
        day.trim_start_matches('0')
    );
    (rfc850, asctime)
}

#[test]
fn server_answers_preconditions_before_ranges() {
    // The issue's five requests, as curl sends them to the server, whose handler knows
    // nothing of preconditions.
    let server = serve_media();
    let url = server.url("big.bin");
    let head = String::from_utf8(run(tool("curl").args(["-sfI", &url]))).unwrap();
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (etag, last_modified) = (field("etag"), field("last-modified"));
    let modified = httpdate::parse_http_date(&last_modified).unwrap();
    let day_before = httpdate::fmt_http_date(modified - Duration::from_secs(86_400));
    let status = |headers: &[String]| {
        let mut cmd = tool("curl");
        cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "0-4"]);
        for header in headers {
            cmd.args(["-H", header]);
        }
        String::from_utf8(run(cmd.arg(&url))).unwrap()
    };
    let weak = format!("W/{etag}");
    assert_eq!(status(&["If-Match: \"other\"".into()]), "412");
    assert_eq!(
        status(&[format!("If-Unmodified-Since: {day_before}")]),
        "412"
    );
    assert_eq!(
        status(&[format!("If-None-Match: \"other\", {weak}")]),
        "304"
    );
    assert_eq!(
        status(&[format!("If-Modified-Since: {last_modified}")]),
        "304"
    );
    let (rfc850, asctime) = other_date_formats(&last_modified);
    assert_eq!(status(&[format!("If-Range: {rfc850}")]), "206", "{rfc850}");
    assert_eq!(
        status(&[format!("If-Range: {asctime}")]),
        "206",
        "{asctime}"
    );
    assert_eq!(status(&[format!("If-Match: {etag}")]), "206");
    assert_eq!(status(&[format!("If-Modified-Since: {day_before}")]), "206");
}

#[test]
fn wget_continues_a_half_download_byte_exact() {
    let server = serve_media();
    let big = file("big.bin");
    let dir = media().join(format!("wget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("big.bin");
    std::fs::write(&target, &big[..big.len() / 2 + 12345]).unwrap();
    run(tool("wget")
        .args(["-q", "-c", "-O"])
        .arg(&target)
        .arg(server.url("big.bin")));
    assert!(
        std::fs::read(&target).unwrap() == big,
        "resumed file must equal the source"
    );
    let log = server.requests("big.bin");
    let expected = format!("bytes={}-", big.len() / 2 + 12345);
    assert!(
        log.iter()
            .any(|r| r.range.as_ref() == Some(&expected) && r.status == 206),
        "{log:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn aria2c_downloads_over_eight_range_connections() {
    let server = serve_media();
    let dir = media().join(format!("aria2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    run(tool("aria2c")
        .args([
            "-q",
            "-x",
            "8",
            "-s",
            "8",
            "-k",
            "1M",
            "--allow-overwrite=true",
            "-d",
        ])
        .arg(&dir)
        .args(["-o", "big.bin", &server.url("big.bin")]));
    assert!(std::fs::read(dir.join("big.bin")).unwrap() == file("big.bin"));
    let ranged = server
        .requests("big.bin")
        .iter()
        .filter(|r| r.status == 206)
        .count();
    assert!(
        ranged >= 4,
        "aria2c must have split the download: {ranged} ranges"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ffprobe_reads_the_duration_and_ffmpeg_seeks_to_a_frame() {
    let server = serve_media();
    let out = run(tool("ffprobe").args([
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "csv=p=0",
        &server.url("clip.mp4"),
    ]));
    let duration: f64 = String::from_utf8(out).unwrap().trim().parse().unwrap();
    assert!((duration - 60.0).abs() < 0.5, "duration {duration}");
    let frame = media().join(format!("frame-{}.png", std::process::id()));
    run(tool("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-ss",
            "45",
            "-i",
            &server.url("clip.mp4"),
            "-frames:v",
            "1",
        ])
        .arg(&frame));
    assert!(
        std::fs::metadata(&frame).unwrap().len() > 1000,
        "a real frame"
    );
    let log = server.requests("clip.mp4");
    assert!(
        log.iter()
            .any(|r| r.range_start().is_some_and(|start| start > 0) && r.status == 206),
        "ffmpeg must have seeked with a range: {log:?}"
    );
}

/// The browsers the tests drive.
#[derive(Clone, Copy, Debug)]
enum Engine {
    Chromium,
    Firefox,
}

/// A WebDriver session on a headless browser (chromedriver or geckodriver), driven
/// with curl.
struct Browser {
    engine: Engine,
    driver: Child,
    base: String,
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// A session of `engine`, trusting the certificate whose key has `trusted_spki`
    /// (base64 SHA-256; Chromium only).
    fn start(engine: Engine, trusted_spki: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // One profile per session: Chromium hands a second start with the same
        // profile to the first browser.
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("tower-range-{engine:?}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let (mut driver, caps) = match engine {
            Engine::Chromium => {
                let mut driver = tool("chromedriver");
                driver.arg(format!("--port={port}"));
                (driver, chromium_capabilities(&profile, trusted_spki))
            }
            Engine::Firefox => {
                let mut driver = tool("geckodriver");
                driver
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .arg("--profile-root")
                    .arg(&profile)
                    // Firefox inherits it: no connection leaves 127.0.0.1 (the
                    // capabilities' `env` is not applied on desktop).
                    .env("MOZ_DISABLE_NONLOCAL_CONNECTIONS", "1");
                (driver, firefox_capabilities())
            }
        };
        let driver = driver
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{engine:?}'s driver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut browser = Self {
            engine,
            driver,
            base,
            session: String::new(),
            profile,
        };
        let created = browser.call("POST", "/session", &caps);
        browser.session = created["sessionId"].as_str().expect("a session").to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = if self.session.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let out = run(tool("curl").args([
            "-s",
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body.to_string(),
            &url,
        ]));
        let reply: Value = serde_json::from_slice(&out).unwrap();
        assert!(
            reply["value"].get("error").is_none(),
            "{method} {path}: {reply}"
        );
        reply["value"].clone()
    }
}

/// Headless Chromium as the machine's probe runs it: no background networking, which
/// this machine's closed network would refuse.
fn chromium_capabilities(profile: &Path, trusted_spki: Option<&str>) -> Value {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    if let Some(spki) = trusted_spki {
        args.push(format!("--ignore-certificate-errors-spki-list={spki}"));
    }
    json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
    }}})
}

/// Headless Firefox ESR in a fresh profile that geckodriver makes, allowed to play
/// sound without a gesture, and with its update, telemetry and safe-browsing traffic
/// off.
fn firefox_capabilities() -> Value {
    json!({"capabilities": {"alwaysMatch": {
        "browserName": "firefox",
        "moz:firefoxOptions": {
            "binary": "/usr/bin/firefox-esr",
            "args": ["-headless"],
            "prefs": {
                "media.autoplay.default": 0,
                "media.autoplay.blocking_policy": 0,
                "media.block-autoplay-until-in-foreground": false,
                "app.update.enabled": false,
                "network.captive-portal-service.enabled": false,
                "network.connectivity-service.enabled": false,
                "browser.safebrowsing.malware.enabled": false,
                "browser.safebrowsing.phishing.enabled": false,
                "browser.safebrowsing.downloads.enabled": false,
                "toolkit.telemetry.enabled": false,
                "datareporting.policy.dataSubmissionEnabled": false,
                "app.normandy.enabled": false,
                "media.gmp-manager.updateEnabled": false,
                "network.trr.mode": 5,
                // Read ahead 5 s of media, not the whole file (which loopback
                // delivers in 0.1 s), so that each seek asks for a range.
                "media.cache_readahead_limit": 5,
                "media.cache_resume_threshold": 3,
            },
        },
    }}})
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Ends the browser and its children, and removes geckodriver's profile.
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = Command::new("curl")
                .args(["-s", "-X", "DELETE", &url])
                .output();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[test]
fn chromium_plays_and_seeks_video_and_audio() {
    let server = serve_media();
    plays_and_seeks(&server, &Browser::start(Engine::Chromium, None));
}

#[test]
fn firefox_plays_and_seeks_video_and_audio() {
    let server = serve_media();
    plays_and_seeks(&server, &Browser::start(Engine::Firefox, None));
}

#[test]
fn chromium_plays_and_seeks_over_https_and_http2() {
    let tls = TlsFiles::make("chromium");
    let server = tls.serve_media();
    let browser = Browser::start(Engine::Chromium, Some(&tls.spki_sha256));
    plays_and_seeks(&server, &browser);
    for media in ["clip.mp4", "clip.webm", "tone.mp3"] {
        let versions = versions(&server, media, 1);
        assert!(!versions.is_empty(), "{media}");
        assert!(
            versions.iter().all(|v| v == "HTTP/2.0"),
            "{media} must come over HTTP/2: {versions:?}"
        );
    }
}

/// `player.html` from `server` in `browser`: a `<video>` plays the MP4 and the WebM, an
/// `<audio>` the MP3, each seeks to 10, 40 and 55 s, and the server's log shows the
/// ranges asked.
fn plays_and_seeks(server: &Server, browser: &Browser) {
    browser.call("POST", "/timeouts", &json!({"script": 120_000}));
    browser.call("POST", "/url", &json!({"url": server.url("player.html")}));
    let script = "const [muted, done] = arguments; \
                  window.runChecks(muted).then(done, e => done(String(e)));";
    // Firefox finds no sound device on this machine and fails unmuted media.
    let muted_audio = matches!(browser.engine, Engine::Firefox);
    let results = browser.call(
        "POST",
        "/execute/async",
        &json!({"script": script, "args": [muted_audio]}),
    );
    let results = results.as_array().unwrap_or_else(|| panic!("{results}"));
    assert_eq!(results.len(), 3);
    for result in results {
        let src = result["src"].as_str().unwrap();
        assert!(result["error"].is_null(), "{src}: {result}");
        let duration = result["duration"].as_f64().unwrap();
        assert!((duration - 60.0).abs() < 0.5, "{src}: duration {duration}");
        let seeks = result["seeks"].as_array().unwrap();
        assert_eq!(seeks.len(), 3, "{src}: {result}");
        for seek in seeks {
            let (target, start, after) = (
                seek["target"].as_f64().unwrap(),
                seek["start"].as_f64().unwrap(),
                seek["after"].as_f64().unwrap(),
            );
            assert!(
                (start - target).abs() < 1.0,
                "{src}: seek to {target} landed at {start}"
            );
            assert!(
                after > start,
                "{src}: currentTime must advance after seeking to {target}"
            );
            assert!(seek["readyState"].as_u64().unwrap() >= 3, "{src}: {seek}");
        }
    }
    // Every media request the browser made had a Range, and was answered with 206, or
    // with 304 when the browser revalidated bytes it had cached (If-None-Match).
    for media in ["clip.mp4", "clip.webm", "tone.mp3"] {
        let log = server.requests(media);
        assert!(log.iter().any(|r| r.status == 206), "{media}: {log:?}");
        for request in &log {
            assert!(request.range_start().is_some(), "{}", request.line);
            assert!(
                request.status == 206 || request.status == 304,
                "{}",
                request.line
            );
        }
    }
    // The MP4 (90 MB, too large to be fetched whole while the page seeks, with
    // preload="metadata") is fetched from where each seek lands: a 206 that starts near
    // the byte offset of 10 s, 40 s and 55 s.
    let mp4_len = file("clip.mp4").len() as f64;
    let starts: Vec<f64> = server
        .requests("clip.mp4")
        .iter()
        .filter(|r| r.status == 206)
        .filter_map(|r| Some(r.range_start()? as f64))
        .collect();
    for target in [10.0, 40.0, 55.0] {
        let at = target / 60.0;
        assert!(
            starts
                .iter()
                .any(|s| s / mp4_len > at - 0.08 && s / mp4_len < at + 0.03),
            "no range request for the seek to {target} s: {:?}",
            server.requests("clip.mp4")
        );
    }
    // The MP4's index is at its end: the browser had to ask for the tail.
    let mp4_len = file("clip.mp4").len() as u64;
    let tail = server
        .requests("clip.mp4")
        .iter()
        .any(|r| r.range_start().is_some_and(|s| s > mp4_len / 2));
    assert!(
        tail,
        "no tail range for the moov index: {:?}",
        server.requests("clip.mp4")
    );
}
