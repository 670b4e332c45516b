//! A reader of a stream in Redis: pages through what is stored with `XRANGE` on the shared
//! connection, then follows with `XREAD BLOCK` on a connection of its own.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisResult, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::super::cursor::{Cursor, Step};
use super::super::{Entry, Outcome, ResumeError};
use super::{failure, Keys, Settings};

/// Entries fetched per command.
const PAGE: usize = 256;

/// A reader's state between entries.
pub(super) struct Reader {
    shared: ConnectionManager,
    client: Client,
    settings: Arc<Settings>,
    followers: Arc<Semaphore>,
    keys: Keys,
    cursor: Cursor,
    /// The entry id after which to read next: `(milliseconds part, sequence part)`.
    position: (u64, u64),
    /// Fetched, not yet yielded.
    page: VecDeque<Record>,
    /// Whether paging reached the end of what was stored: from then on, follow.
    caught_up: bool,
    follow: Option<Follow>,
    done: bool,
}

/// A follower's own connection, and its place among the followers allowed.
struct Follow {
    connection: MultiplexedConnection,
    _permit: OwnedSemaphorePermit,
}

/// An entry of the Redis Stream.
enum Record {
    Item { seq: u64, bytes: Bytes },
    Finish(Outcome),
}

impl Reader {
    pub(super) fn new(
        shared: ConnectionManager,
        client: Client,
        settings: Arc<Settings>,
        followers: Arc<Semaphore>,
        keys: Keys,
        cursor: Cursor,
    ) -> Self {
        Self {
            shared,
            client,
            settings,
            followers,
            keys,
            // Items after `next - 1` have ids from `next + 1`-0; a finish right after item
            // `next - 1` has the id `next`-1. Both come after `next`-0.
            position: (cursor.next(), 0),
            cursor,
            page: VecDeque::new(),
            caught_up: false,
            follow: None,
            done: false,
        }
    }

    pub(super) async fn step(mut self) -> Option<(Result<Entry, ResumeError>, Self)> {
        if self.done {
            return None;
        }
        let entry = self.next_entry().await;
        self.done = !matches!(entry, Ok(Entry::Item { .. } | Entry::Gap(_)));
        Some((entry, self))
    }

    async fn next_entry(&mut self) -> Result<Entry, ResumeError> {
        loop {
            if let Some(record) = self.page.pop_front() {
                match record {
                    Record::Finish(outcome) => return Ok(Entry::Finished(outcome)),
                    Record::Item { seq, bytes } => match self.cursor.step(seq) {
                        Step::Skip => continue,
                        Step::Item => return Ok(Entry::Item { seq, bytes }),
                        Step::Gap(missing) => {
                            self.page.push_front(Record::Item { seq, bytes });
                            self.check_trimmed(missing.start).await?;
                            return Ok(Entry::Gap(missing));
                        }
                    },
                }
            }
            if self.caught_up {
                if !self.follow_more().await? {
                    return Ok(Entry::Lost);
                }
            } else {
                let timeout = self.settings.timeout;
                let stream = &self.keys.stream;
                let page = within(timeout, range(&mut self.shared, stream, self.position)).await?;
                self.caught_up = page.len() < PAGE;
                self.take(page)?;
            }
        }
    }

    /// A jump in sequence numbers is a gap, unless the caps dropped those items: then the
    /// reader fell behind, and says so.
    async fn check_trimmed(&mut self, missing: u64) -> Result<(), ResumeError> {
        let mut command = redis::cmd("HGET");
        command.arg(&self.keys.meta).arg("trimmed");
        let query = command.query_async::<Option<u64>>(&mut self.shared);
        match within(self.settings.timeout, query).await? {
            Some(first) if missing < first => Err(ResumeError::Trimmed { first }),
            _ => Ok(()),
        }
    }

    /// Waits for more entries: `false` when the producer's lease ran out and nothing more
    /// was stored.
    async fn follow_more(&mut self) -> Result<bool, ResumeError> {
        let settings = Arc::clone(&self.settings);
        let follow = match &mut self.follow {
            Some(follow) => follow,
            None => {
                let permit = Arc::clone(&self.followers)
                    .try_acquire_owned()
                    .map_err(|_| ResumeError::Limit {
                        what: "followers",
                        limit: settings.max_followers,
                    })?;
                // Its blocking reads would hold up every command behind them on the shared
                // connection.
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_response_timeout(Some(settings.poll_interval + settings.timeout));
                let connection = within(
                    settings.connect_timeout + settings.timeout,
                    self.client
                        .get_multiplexed_async_connection_with_config(&config),
                )
                .await?;
                self.follow.insert(Follow {
                    connection,
                    _permit: permit,
                })
            }
        };
        let connection = &mut follow.connection;
        let mut command = redis::cmd("EXISTS");
        command.arg(&self.keys.lease);
        let alive = command.query_async::<bool>(connection);
        if !within(settings.timeout, alive).await? {
            // The finish ends the lease in the same script that stores it, so whatever the
            // producer stored is there now.
            let last = within(
                settings.timeout,
                range(connection, &self.keys.stream, self.position),
            )
            .await?;
            if !last.is_empty() {
                self.take(last)?;
                return Ok(true);
            }
            // Nothing after the position, but a reader that claimed more than was stored
            // is past the finish: the stream's last entry tells.
            let mut command = redis::cmd("XREVRANGE");
            command
                .arg(&self.keys.stream)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
            let newest = command.query_async::<Vec<Value>>(connection);
            let newest = within(settings.timeout, newest).await?;
            return match newest.into_iter().next().map(record).transpose()? {
                Some((_, finish @ Record::Finish(_))) => {
                    self.page.push_back(finish);
                    Ok(true)
                }
                _ => Ok(false),
            };
        }
        let (milliseconds, sequence) = self.position;
        let block = u64::try_from(settings.poll_interval.as_millis()).unwrap_or(u64::MAX);
        let mut command = redis::cmd("XREAD");
        command
            .arg("COUNT")
            .arg(PAGE)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&self.keys.stream)
            .arg(format!("{milliseconds}-{sequence}"));
        let read = command.query_async::<Value>(connection);
        let reply = within(settings.poll_interval + settings.timeout, read).await?;
        let entries = match reply {
            Value::Nil => Vec::new(),
            Value::Array(streams) => streams
                .into_iter()
                .find_map(|stream| match stream {
                    Value::Array(pair) => pair.into_iter().nth(1),
                    _ => None,
                })
                .ok_or_else(malformed)
                .and_then(entries)?,
            Value::Map(streams) => streams
                .into_iter()
                .next()
                .map(|(_, stream)| stream)
                .ok_or_else(malformed)
                .and_then(entries)?,
            _ => return Err(malformed()),
        };
        self.take(entries)?;
        Ok(true)
    }

    /// Parses fetched entries into the page, moving the position past them.
    fn take(&mut self, entries: Vec<Value>) -> Result<(), ResumeError> {
        for entry in entries {
            let (id, record) = record(entry)?;
            self.position = id;
            self.page.push_back(record);
        }
        Ok(())
    }
}

/// Up to a page of entries after `position`.
async fn range(
    connection: &mut impl ConnectionLike,
    stream: &str,
    (milliseconds, sequence): (u64, u64),
) -> RedisResult<Vec<Value>> {
    redis::cmd("XRANGE")
        .arg(stream)
        .arg(format!("({milliseconds}-{sequence}"))
        .arg("+")
        .arg("COUNT")
        .arg(PAGE)
        .query_async(connection)
        .await
}

/// `operation`, bounded by `timeout`.
async fn within<T>(
    timeout: Duration,
    operation: impl Future<Output = RedisResult<T>>,
) -> Result<T, ResumeError> {
    match tokio::time::timeout(timeout, operation).await {
        Ok(answer) => answer.map_err(|error| failure(error, timeout)),
        Err(_) => Err(ResumeError::Timeout(timeout)),
    }
}

/// The entries of an `XREAD` reply's stream.
fn entries(value: Value) -> Result<Vec<Value>, ResumeError> {
    match value {
        Value::Array(entries) => Ok(entries),
        _ => Err(malformed()),
    }
}

/// One Redis Stream entry: its id and what it holds.
fn record(entry: Value) -> Result<((u64, u64), Record), ResumeError> {
    let Value::Array(parts) = entry else {
        return Err(malformed());
    };
    let mut parts = parts.into_iter();
    let (Some(Value::BulkString(id)), Some(fields)) = (parts.next(), parts.next()) else {
        return Err(malformed());
    };
    let id = std::str::from_utf8(&id).map_err(|_| malformed())?;
    let (milliseconds, sequence) = id.split_once('-').ok_or_else(malformed)?;
    let id = (
        milliseconds.parse::<u64>().map_err(|_| malformed())?,
        sequence.parse::<u64>().map_err(|_| malformed())?,
    );
    let mut fields = field_pairs(fields)?;
    let record = match id {
        (next, 0) if next > 0 => Record::Item {
            seq: next - 1,
            bytes: Bytes::from(take_field(&mut fields, b"d").ok_or_else(malformed)?),
        },
        (_, 1) => match take_field(&mut fields, b"f").as_deref() {
            Some(b"completed") => Record::Finish(Outcome::Completed),
            Some(b"failed") => {
                let message = take_field(&mut fields, b"e").unwrap_or_default();
                Record::Finish(Outcome::Failed(
                    String::from_utf8_lossy(&message).into_owned(),
                ))
            }
            _ => return Err(malformed()),
        },
        _ => return Err(malformed()),
    };
    Ok((id, record))
}

/// An entry's fields: `(name, value)` pairs.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// An entry's fields as `(name, value)` pairs.
fn field_pairs(fields: Value) -> Result<Fields, ResumeError> {
    let pairs = match fields {
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((name, value));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => return Err(malformed()),
    };
    pairs
        .into_iter()
        .map(|pair| match pair {
            (Value::BulkString(name), Value::BulkString(value)) => Ok((name, value)),
            _ => Err(malformed()),
        })
        .collect()
}

fn take_field(fields: &mut Fields, name: &[u8]) -> Option<Vec<u8>> {
    let index = fields.iter().position(|(field, _)| field == name)?;
    Some(fields.swap_remove(index).1)
}

fn malformed() -> ResumeError {
    ResumeError::Unavailable("a malformed entry in the resume store".into())
}
