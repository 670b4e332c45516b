//! A throwaway `redis-server` on a free loopback port, for the tests of the Redis resume store.
//!
//! Debian's `redis-server` is started with no persistence in a scratch directory and killed
//! when the value is dropped. Where it is not installed, tests are skipped with a loud
//! message, unless `TOKENFLUSH_EXTERNAL_TESTS=require` (as in CI), which makes them fail.

#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// Whether missing tools fail the tests (CI) instead of skipping them.
fn required() -> bool {
    std::env::var("TOKENFLUSH_EXTERNAL_TESTS").is_ok_and(|value| value == "require")
}

/// `redis-server` on the `PATH` (or in `/usr/bin`).
fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file())
}

impl RedisServer {
    /// Starts a server for `test`, or returns `None` (after a loud message) when
    /// `redis-server` is not installed and not required.
    pub fn start(test: &str) -> Option<Self> {
        let Some(binary) = find_binary() else {
            assert!(
                !required(),
                "{test}: redis-server is not installed, and TOKENFLUSH_EXTERNAL_TESTS=require \
                 (see .ci/run for the install)"
            );
            // Straight to stderr, past the test harness's capture: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED {test}: redis-server is not installed. Install it (see .ci/run) \
                 or set TOKENFLUSH_EXTERNAL_TESTS=require to make this a failure. ***\n"
            );
            return None;
        };
        let port = free_port();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{test}-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            binary,
            port,
            dir,
            child: None,
        };
        server.spawn();
        Some(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (with no data: there is no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        // Ready when it accepts connections; a loaded machine may take a while.
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
