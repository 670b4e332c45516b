//! What the resume store cost Redis during a phase: commands by kind and Redis's own CPU time,
//! read with `INFO commandstats cpu` over a plain connection.
//!
//! Redis counts the commands a Lua script runs as well as the script call, so writes are the
//! script calls (`EVALSHA`, `EVAL`: each producer operation of `RedisStore` is one script, so
//! one command) that succeeded — not the `EVALSHA`s refused with `NOSCRIPT` before a script is
//! loaded (the first call of each script after Redis starts, repeated by every call in
//! flight at that moment), which write nothing — and reads are the commands of readers that follow a stream through Redis,
//! less those the scripts ran. By `RedisStore`'s scripts: `CREATE` runs one `EXISTS`; `APPEND`,
//! `HEARTBEAT` and `FINISH` each one `HMGET`; `APPEND` one `XRANGE` per item it trims (with one
//! `XDEL`). `XREAD`, `XREVRANGE` and `HGET` come from readers only.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Counters of one reading.
#[derive(Clone, Debug, Default)]
pub struct RedisSample {
    calls: HashMap<String, u64>,
    cpu_us: u64,
}

/// What a phase cost Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RedisCost {
    /// Script calls that succeeded: one per producer operation.
    pub writes: u64,
    /// Commands of readers following streams through Redis.
    pub reads: u64,
    /// Redis's own CPU time, user and system, in microseconds.
    pub cpu_us: u64,
}

impl RedisSample {
    /// Reads the counters of the Redis at `address` (`host:port`).
    pub async fn read(address: &str) -> Result<Self, String> {
        let read = async {
            let socket = TcpStream::connect(address)
                .await
                .map_err(|error| format!("redis {address}: {error}"))?;
            let mut socket = BufReader::new(socket);
            socket
                .get_mut()
                .write_all(b"*3\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n$3\r\ncpu\r\n")
                .await
                .map_err(|error| format!("redis: {error}"))?;
            let mut header = String::new();
            socket
                .read_line(&mut header)
                .await
                .map_err(|error| format!("redis: {error}"))?;
            let length: usize = header
                .trim_end()
                .strip_prefix('$')
                .and_then(|length| length.parse().ok())
                .ok_or_else(|| format!("redis answered {header:?} to INFO"))?;
            let mut payload = vec![0; length + 2];
            socket
                .read_exact(&mut payload)
                .await
                .map_err(|error| format!("redis: {error}"))?;
            Ok(Self::parse(&String::from_utf8_lossy(&payload)))
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .map_err(|_| format!("redis {address} did not answer INFO"))?
    }

    fn parse(info: &str) -> Self {
        let mut sample = Self::default();
        let mut cpu = 0.0;
        for line in info.lines() {
            if let Some(rest) = line.strip_prefix("cmdstat_") {
                let Some((name, fields)) = rest.split_once(':') else {
                    continue;
                };
                let field = |name: &str| -> u64 {
                    fields
                        .split(',')
                        .find_map(|field| field.strip_prefix(name))
                        .and_then(|value| value.parse().ok())
                        .unwrap_or(0)
                };
                let succeeded = field("calls=").saturating_sub(field("failed_calls="));
                sample.calls.insert(name.to_ascii_lowercase(), succeeded);
            } else if let Some(seconds) = line
                .strip_prefix("used_cpu_sys:")
                .or_else(|| line.strip_prefix("used_cpu_user:"))
            {
                cpu += seconds.trim().parse::<f64>().unwrap_or(0.0);
            }
        }
        sample.cpu_us = (cpu * 1e6) as u64;
        sample
    }

    fn calls(&self, name: &str) -> u64 {
        self.calls.get(name).copied().unwrap_or(0)
    }

    /// What happened between `self` and `later`, when `creates` streams were created.
    pub fn cost_until(&self, later: &Self, creates: u64) -> RedisCost {
        let delta = |name: &str| later.calls(name).saturating_sub(self.calls(name));
        let scripts = delta("evalsha") + delta("eval");
        let in_scripts_hmget = scripts.saturating_sub(creates);
        let reads = delta("xread")
            + delta("xrevrange")
            + delta("hget")
            + delta("exists").saturating_sub(creates)
            + delta("hmget").saturating_sub(in_scripts_hmget)
            + delta("xrange").saturating_sub(delta("xdel"));
        RedisCost {
            writes: scripts,
            reads,
            cpu_us: later.cpu_us.saturating_sub(self.cpu_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RedisSample;

    #[test]
    fn script_calls_are_writes_and_their_inner_commands_are_not_reads() {
        let before = RedisSample::parse(
            "cmdstat_evalsha:calls=12,usec=1,rejected_calls=0,failed_calls=2\r\nused_cpu_sys:1.5\r\n",
        );
        // 2 creates, 100 appends (two of which trimmed one item), 1 finish: 103 scripts that ran
        // 2 EXISTS, 101 HMGET, 2 XRANGE and 2 XDEL; and a reader's 3 XREAD and 1 HMGET.
        let after = RedisSample::parse(
            "# Commandstats\r\ncmdstat_evalsha:calls=118,usec=1,failed_calls=5\r\ncmdstat_exists:calls=2\r\n\
             cmdstat_hmget:calls=102\r\ncmdstat_xrange:calls=2\r\ncmdstat_xdel:calls=2\r\n\
             cmdstat_xread:calls=3\r\n# CPU\r\nused_cpu_sys:2.0\r\nused_cpu_user:0.25\r\n",
        );
        let cost = before.cost_until(&after, 2);
        assert_eq!(cost.writes, 103);
        assert_eq!(cost.reads, 4);
        assert_eq!(cost.cpu_us, 750_000);
    }
}
