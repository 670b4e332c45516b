//! The Lua scripts behind the producer's operations: each operation is one `EVALSHA`, so one
//! Redis command, however many keys it touches. Every script gets the stream's keys in the
//! same order — `KEYS[1]` the meta hash, `KEYS[2]` the Redis Stream, `KEYS[3]` the lease — all
//! in one hash slot, and answers `{code, detail}`: `0` done, `1` no such stream, `2` finished,
//! `3` sequence number too low, `4` item larger than the cap (`detail`: the cap).

use std::sync::LazyLock;

use redis::Script;

/// The answer codes.
pub(super) const DONE: i64 = 0;
pub(super) const NOT_FOUND: i64 = 1;
pub(super) const FINISHED: i64 = 2;
pub(super) const SEQUENCE: i64 = 3;
pub(super) const TOO_LARGE: i64 = 4;

/// `ARGV`: owner (encoded), lease ms, live ttl ms, finished ttl ms, max entries, max bytes.
/// Creates the meta hash and the lease; the Redis Stream comes with the first entry. An
/// existing stream is left alone (`1`): after a data loss two operations may recreate it at
/// once.
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', 'live', 'next', '0', 'trimmed', '0',
  'bytes', '0', 'lease', ARGV[2], 'ttl', ARGV[3], 'fttl', ARGV[4], 'maxn', ARGV[5], 'maxb', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return {0, 0}
",
    )
});

/// `ARGV`: seq, its entry id (`seq+1` `-0`), `seq+1`, the item. Appends the item, drops the
/// oldest items beyond the caps (recording the first sequence number kept), renews the
/// time-to-live of the stream and the producer's lease.
///
/// Items are entries `<seq+1>-0` with one field `d`; the finish is the entry `<next>-1`, right
/// after the last item, so one `XREAD` sees items and the finish alike. Sequence numbers are
/// compared as Lua numbers (exact below 2^53) and written as the caller's decimal text.
pub(super) static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local m = redis.call('HMGET', KEYS[1], 'state', 'next', 'maxn', 'maxb', 'bytes', 'trimmed', 'lease', 'ttl')
if not m[1] then return {1, 0} end
if m[1] ~= 'live' then return {2, 0} end
if tonumber(ARGV[1]) < tonumber(m[2]) then return {3, 0} end
local len = string.len(ARGV[4])
local maxb = tonumber(m[4])
if len > maxb then return {4, maxb} end
redis.call('XADD', KEYS[2], ARGV[2], 'd', ARGV[4])
local maxn = tonumber(m[3])
local bytes = tonumber(m[5]) + len
local count = redis.call('XLEN', KEYS[2])
local trimmed = m[6]
while count > maxn or bytes > maxb do
  local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  redis.call('XDEL', KEYS[2], oldest[1])
  bytes = bytes - string.len(oldest[2][2])
  count = count - 1
  trimmed = string.match(oldest[1], '^%d+')
end
redis.call('HSET', KEYS[1], 'next', ARGV[3], 'bytes', bytes, 'trimmed', trimmed)
redis.call('PEXPIRE', KEYS[1], m[8])
redis.call('PEXPIRE', KEYS[2], m[8])
redis.call('SET', KEYS[3], '1', 'PX', m[7])
return {0, 0}
",
    )
});

/// No `ARGV`. Renews the time-to-live and the producer's lease.
pub(super) static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local m = redis.call('HMGET', KEYS[1], 'state', 'lease', 'ttl')
if not m[1] then return {1, 0} end
if m[1] ~= 'live' then return {2, 0} end
redis.call('PEXPIRE', KEYS[1], m[3])
redis.call('PEXPIRE', KEYS[2], m[3])
redis.call('SET', KEYS[3], '1', 'PX', m[2])
return {0, 0}
",
    )
});

/// `ARGV`: `completed` or `failed`, the message. Adds the finish entry, ends the lease, and
/// keeps the stream for its finished time-to-live.
pub(super) static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local m = redis.call('HMGET', KEYS[1], 'state', 'next', 'fttl')
if not m[1] then return {1, 0} end
if m[1] ~= 'live' then return {2, 0} end
if ARGV[1] == 'failed' then
  redis.call('XADD', KEYS[2], m[2] .. '-1', 'f', ARGV[1], 'e', ARGV[2])
else
  redis.call('XADD', KEYS[2], m[2] .. '-1', 'f', ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'done')
redis.call('PEXPIRE', KEYS[1], m[3])
redis.call('PEXPIRE', KEYS[2], m[3])
redis.call('DEL', KEYS[3])
return {0, 0}
",
    )
});
