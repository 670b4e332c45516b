//! Programs from outside Cargo that the end-to-end tests drive (curl, nginx, Chromium through
//! chromedriver, Python with the official SDKs): finding them, and skipping a test loudly, or
//! failing it when `TOKENFLUSH_EXTERNAL_TESTS=require` (as in CI), when one is missing.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::serve;

/// Whether missing tools fail the tests (CI) instead of skipping them.
pub fn required() -> bool {
    std::env::var("TOKENFLUSH_EXTERNAL_TESTS").is_ok_and(|value| value == "require")
}

/// Skips the test (loudly) or fails it (when required) for a missing tool.
pub fn missing(test: &str, what: &str) {
    assert!(
        !required(),
        "{test}: {what}, and TOKENFLUSH_EXTERNAL_TESTS=require (see .ci/run for the install)"
    );
    // Straight to stderr, past the test harness's capture: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {what}. Install it (see .ci/run) or set \
         TOKENFLUSH_EXTERNAL_TESTS=require to make this a failure. ***\n"
    );
}

/// `name` from the environment variable `env`, or found on the `PATH`.
pub fn find_tool(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // nginx lives in /usr/sbin, which is not on every PATH.
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// `name` (see [`find_tool`]), or the test is skipped, or fails when required.
pub fn tool(test: &str, name: &str, env: &str) -> Option<PathBuf> {
    let found = find_tool(name, env);
    if found.is_none() {
        missing(test, &format!("{name} is not installed"));
    }
    found
}

/// The Python interpreter (`TOKENFLUSH_PYTHON`, else `python3`) if it can import `modules`
/// (`"openai, anthropic"`); else the test is skipped, or fails when required.
pub async fn python_with(test: &str, modules: &str) -> Option<String> {
    let python = std::env::var("TOKENFLUSH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let imports = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success());
    if !imports {
        missing(test, &format!("{python} cannot import {modules}"));
        return None;
    }
    Some(python)
}

/// chromedriver, and the WebDriver calls the tests make.
pub struct Driver {
    address: SocketAddr,
    _process: Child,
}

impl Driver {
    pub async fn start(chromedriver: &Path) -> Self {
        let address: SocketAddr = ([127, 0, 0, 1], serve::free_port()).into();
        let process = Command::new(chromedriver)
            .arg(format!("--port={}", address.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        serve::wait_listening(address, Duration::from_secs(20)).await;
        Self {
            address,
            _process: process,
        }
    }

    /// A WebDriver command; its `value`.
    pub async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let response =
            serve::request(self.address, method, path, &body, Duration::from_secs(60)).await;
        let reply = response.json();
        assert_eq!(response.status, 200, "{method} {path}: {reply}");
        reply["value"].clone()
    }

    /// Runs `source` in the page of `session` (`/session/<id>`); what it returns.
    pub async fn script(&self, session: &str, source: &str) -> Value {
        self.call(
            "POST",
            &format!("{session}/execute/sync"),
            json!({"script": source, "args": []}),
        )
        .await
    }
}
