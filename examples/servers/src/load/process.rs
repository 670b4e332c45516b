//! The server process's resource use, read from Linux's /proc.

use std::fs;
use std::io;

/// Linux reports CPU times in /proc in ticks of `USER_HZ`, 100 per second on every
/// architecture Linux runs on today.
const TICKS_PER_SECOND: u64 = 100;

/// A reading of a process's CPU time and write syscalls.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// User and system CPU time of all its threads, in microseconds.
    pub cpu_us: u64,
    /// Write syscalls (`write`, `writev`, …) of all its threads.
    pub writes: u64,
}

impl Sample {
    /// Reads process `pid`'s figures.
    pub fn read(pid: u32) -> io::Result<Self> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name (field 2) is in parentheses and may hold spaces: count fields
        // after its closing one. utime and stime are fields 14 and 15.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| bad(&format!("/proc/{pid}/stat")))?;
        let fields: Vec<&str> = after_name.split_ascii_whitespace().collect();
        let ticks = |index: usize| -> io::Result<u64> {
            fields
                .get(index)
                .and_then(|field| field.parse().ok())
                .ok_or_else(|| bad(&format!("/proc/{pid}/stat")))
        };
        // Field 3 (state) is the first after the name.
        let cpu_ticks = ticks(14 - 3)? + ticks(15 - 3)?;
        let io = fs::read_to_string(format!("/proc/{pid}/io"))?;
        let writes = field_value(&io, "syscw:").ok_or_else(|| bad(&format!("/proc/{pid}/io")))?;
        Ok(Self {
            cpu_us: cpu_ticks * (1_000_000 / TICKS_PER_SECOND),
            writes,
        })
    }
}

/// Process `pid`'s resident memory, in bytes.
pub fn resident_bytes(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = field_value(&status, "VmRSS:").ok_or_else(|| bad(&format!("/proc/{pid}/status")))?;
    Ok(kib * 1024)
}

/// The number after `name` on the line that starts with it.
fn field_value(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_ascii_whitespace().next())
        .and_then(|value| value.parse().ok())
}

fn bad(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{path}: unexpected format"),
    )
}
