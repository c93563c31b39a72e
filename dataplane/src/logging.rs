//! The JSON log lines: the tracing targets of access and audit lines,
//! their one-pass JSON formatting ([`json_layer`], [`FlatJson`]) and the
//! [`BatchWriter`] that lets a request append its line to memory while a
//! background thread writes the lines in batches, losing none. What a line
//! says is the access-log step's business (`policy::access_log`); this
//! module imports no domain type.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, FilterFn};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The tracing target of access lines.
pub const ACCESS_TARGET: &str = "access";
/// The tracing target of audit lines.
pub const AUDIT_TARGET: &str = "audit";

/// Whether an event is an access or audit line (the binary keeps them
/// out of its human-readable log).
pub fn is_log_line(metadata: &tracing::Metadata<'_>) -> bool {
    matches!(metadata.target(), ACCESS_TARGET | AUDIT_TARGET)
}

/// The JSON formatting of access and audit lines: one object per line,
/// the event's fields at the top level next to `timestamp`, `level` and
/// `target` (what tracing-subscriber's `json().flatten_event(true)`
/// writes, formatted by [`FlatJson`] in one pass).
pub fn json_layer<S, W>(
    writer: W,
) -> tracing_subscriber::filter::Filtered<impl Layer<S>, FilterFn, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .event_format(FlatJson)
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(filter_fn(is_log_line))
}

/// An event as one flat JSON object. tracing-subscriber's own JSON format
/// goes through serde and validates every small piece it writes; an
/// access line per request makes that a visible share of the gateway's
/// time, so this writes the line directly.
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::with_capacity(512);
        line.push_str("{\"timestamp\":\"");
        push_timestamp(&mut line, std::time::SystemTime::now());
        let metadata = event.metadata();
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push_str("\",\"target\":");
        push_json_str(&mut line, metadata.target());
        event.record(&mut JsonFields(&mut line));
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// `at` in RFC 3339 with microseconds, UTC (`2026-12-02T14:20:16.123456Z`,
/// what tracing-subscriber's `SystemTime` writes, formatted without going
/// through `core::fmt` for every digit).
fn push_timestamp(out: &mut String, at: std::time::SystemTime) {
    let mut stamp = [0u8; 27];
    let mut cursor = std::io::Cursor::new(&mut stamp[..]);
    if write!(cursor, "{}", humantime::format_rfc3339_micros(at)).is_ok() {
        let written = cursor.position() as usize;
        out.push_str(std::str::from_utf8(&stamp[..written]).unwrap_or_default());
    }
}

/// Appends `"name":` and a value for each field.
struct JsonFields<'a>(&'a mut String);

impl JsonFields<'_> {
    fn key(&mut self, field: &Field) {
        // Field names are Rust identifiers: nothing in them needs escaping.
        self.0.push_str(",\"");
        self.0.push_str(field.name());
        self.0.push_str("\":");
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_str(self.0, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        self.key(field);
        // Escaped while it is written: no String per field.
        self.0.push('"');
        let _ = write!(JsonEscaped(self.0), "{value:?}");
        self.0.push('"');
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            self.0.push_str(ryu::Buffer::new().format_finite(value));
        } else {
            self.0.push_str("null");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.0.push_str(if value { "true" } else { "false" });
    }
}

/// `value` as a JSON string literal (RFC 8259 escaping).
fn push_json_str(out: &mut String, value: &str) {
    out.push('"');
    push_escaped(out, value);
    out.push('"');
}

/// `value` escaped for the inside of a JSON string literal.
fn push_escaped(out: &mut String, value: &str) {
    use std::fmt::Write as _;
    // Almost every value needs no escaping: copy the runs between the
    // bytes that do, whole.
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&value[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&value[start..]);
}

/// A `fmt::Write` that escapes what is written to it for a JSON string.
struct JsonEscaped<'a>(&'a mut String);

impl std::fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

/// A lossless, batching log writer. Writing a line appends it to a
/// buffer in memory; a background thread writes the buffer out every
/// [`BatchWriter::INTERVAL`], or sooner once it holds
/// [`BatchWriter::EAGER_BYTES`]. A request never waits for I/O and never
/// wakes a thread per line (a per-line hand-off costs a context switch on
/// every request); if the output stalls and the buffer reaches
/// [`BatchWriter::MAX_BYTES`], writers wait for it rather than drop audit
/// lines. [`BatchWriter::shutdown`] (or dropping the last guard) writes
/// what is left.
pub struct BatchWriter {
    shared: Arc<Batch>,
}

struct Batch {
    buffer: Mutex<BatchState>,
    /// Wakes the flusher early (a large buffer, shutdown).
    wake: Condvar,
    /// Wakes writers waiting for room.
    drained: Condvar,
}

#[derive(Default)]
struct BatchState {
    lines: Vec<u8>,
    closed: bool,
}

/// Stops the [`BatchWriter`]'s thread after a last write, when dropped.
pub struct BatchGuard {
    shared: Arc<Batch>,
    thread: Option<JoinHandle<()>>,
}

impl BatchWriter {
    pub const INTERVAL: Duration = Duration::from_millis(100);
    pub const EAGER_BYTES: usize = 256 * 1024;
    pub const MAX_BYTES: usize = 16 * 1024 * 1024;

    /// A writer to `out`, and the guard that flushes it at exit.
    pub fn new(mut out: impl Write + Send + 'static) -> (Self, BatchGuard) {
        let shared = Arc::new(Batch {
            buffer: Mutex::new(BatchState::default()),
            wake: Condvar::new(),
            drained: Condvar::new(),
        });
        let flusher = shared.clone();
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let mut spare = Vec::new();
                loop {
                    let closed = {
                        let state = flusher.buffer.lock().unwrap_or_else(|e| e.into_inner());
                        let (mut state, _) = flusher
                            .wake
                            .wait_timeout_while(state, Self::INTERVAL, |s| {
                                !s.closed && s.lines.len() < Self::EAGER_BYTES
                            })
                            .unwrap_or_else(|e| e.into_inner());
                        std::mem::swap(&mut state.lines, &mut spare);
                        state.closed
                    };
                    flusher.drained.notify_all();
                    if !spare.is_empty() {
                        // Nowhere to report a failed log write but stderr.
                        if let Err(e) = out.write_all(&spare).and_then(|()| out.flush()) {
                            eprintln!("access log: write failed: {e}");
                        }
                        spare.clear();
                    }
                    if closed {
                        return;
                    }
                }
            })
            .expect("spawning the access-log thread");
        (
            Self {
                shared: shared.clone(),
            },
            BatchGuard {
                shared,
                thread: Some(thread),
            },
        )
    }
}

impl BatchGuard {
    /// Writes what is buffered and stops the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Write for &BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let batch = &self.shared;
        let mut state = batch.buffer.lock().unwrap_or_else(|e| e.into_inner());
        while state.lines.len() >= BatchWriter::MAX_BYTES && !state.closed {
            batch.wake.notify_one();
            state = batch.drained.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.lines.extend_from_slice(line);
        if state.lines.len() >= BatchWriter::EAGER_BYTES {
            batch.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = &'a BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        push_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds_in_utc() {
        let at = std::time::UNIX_EPOCH + Duration::from_micros(1_764_685_216_123_456);
        let mut out = String::new();
        push_timestamp(&mut out, at);
        assert_eq!(out, "2025-12-02T14:20:16.123456Z");
        assert_eq!(humantime::parse_rfc3339(&out).unwrap(), at);
    }

    #[test]
    fn debug_values_are_escaped_as_they_are_written() {
        use std::fmt::Write as _;
        let mut out = String::from("\"");
        write!(JsonEscaped(&mut out), "{:?}", "quo\"te").unwrap();
        out.push('"');
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "\"quo\\\"te\"");
    }

    #[test]
    fn the_batch_writer_loses_no_line_and_keeps_their_order() {
        let sink = Sink::default();
        let (writer, guard) = BatchWriter::new(sink.clone());
        let expected: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        for line in expected.lines() {
            (&writer).write_all(format!("{line}\n").as_bytes()).unwrap();
        }
        guard.shutdown();
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            expected
        );
    }
}
