//! The ZIP stage of an archive build: the `zip` crate's streaming writer (data descriptors,
//! no seeking, ZIP64 where an entry or the archive needs it) on a thread of its own from
//! Tokio's blocking pool, fed entries and their bytes through a bounded channel and handing
//! the ZIP on as a [`ByteStream`] through another: memory stays at a few chunks whatever
//! the size (plus the central directory, about a hundred bytes per entry, which a ZIP ends
//! with).
//!
//! If the feeding side goes away before [`ZipInput::finish`], the output stream ends with
//! an error (never with a ZIP that looks complete); if the output's reader goes away, the
//! feeding side's next send fails.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use crate::content::ByteStream;

/// Bytes of ZIP output gathered before they are handed on.
const OUT_CHUNK: usize = 64 * 1024;
/// Messages in flight on either side of the stage.
const BUFFER: usize = 4;
/// Entries of at least this many bytes are written as ZIP64 entries: their sizes (and a
/// deflated entry's, which may grow a little) could pass 4 GiB.
const LARGE_ENTRY: u64 = 0xF000_0000;

/// How an entry's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// As they are (already compressed content: images, video, archives...).
    Stored,
    /// Deflated at a fast level (text).
    Deflated,
}

/// One entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    /// Its path inside the ZIP (already sanitized).
    pub(crate) path: String,
    /// Its size in bytes, as recorded (decides ZIP64).
    pub(crate) size: u64,
    /// How its bytes are stored.
    pub(crate) method: Method,
    /// Its modification time.
    pub(crate) modified: DateTime<Utc>,
}

enum Command {
    Start(EntryHeader),
    Data(Bytes),
    Finish,
}

/// The writing side of the stage.
pub(crate) struct ZipInput {
    commands: mpsc::Sender<Command>,
}

/// The stage stopped: its output's reader went away or the writer failed (the output
/// stream says why).
#[derive(Debug, thiserror::Error)]
#[error("the archive writer stopped")]
pub(crate) struct WriterStopped;

impl ZipInput {
    /// Starts an entry (ending the previous one).
    pub(crate) async fn start(&self, entry: EntryHeader) -> Result<(), WriterStopped> {
        self.commands.send(Command::Start(entry)).await.map_err(|_| WriterStopped)
    }

    /// Appends bytes to the current entry.
    pub(crate) async fn write(&self, bytes: Bytes) -> Result<(), WriterStopped> {
        self.commands.send(Command::Data(bytes)).await.map_err(|_| WriterStopped)
    }

    /// Ends the last entry and writes the central directory: the output stream then ends.
    pub(crate) async fn finish(self) -> Result<(), WriterStopped> {
        self.commands.send(Command::Finish).await.map_err(|_| WriterStopped)
    }
}

/// Starts the stage: where to send entries, and the ZIP they make. Must run inside a
/// Tokio runtime.
pub(crate) fn spawn() -> (ZipInput, ByteStream) {
    let (commands, received) = mpsc::channel(BUFFER);
    let (out, output) = mpsc::channel(BUFFER);
    tokio::task::spawn_blocking(move || write_zip(received, out));
    let output =
        futures::stream::unfold(output, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (ZipInput { commands }, output.boxed())
}

type Output = mpsc::Sender<Result<Bytes, io::Error>>;

/// The stage's thread: writes what arrives until `Finish` (or fails the output).
fn write_zip(mut commands: mpsc::Receiver<Command>, out: Output) {
    let dead = Arc::new(AtomicBool::new(false));
    let sink = ChannelSink { out: out.clone(), buffer: BytesMut::new(), dead: Arc::clone(&dead) };
    let mut zip = zip::ZipWriter::new_stream(sink);
    let outcome = loop {
        let Some(command) = commands.blocking_recv() else {
            break Err(io::Error::other("the archive was abandoned before its end"));
        };
        let step = match command {
            Command::Start(entry) => {
                zip.start_file(entry.path.as_str(), options(&entry)).map_err(io::Error::other)
            }
            Command::Data(bytes) => zip.write_all(&bytes),
            Command::Finish => break finish(zip),
        };
        if let Err(e) = step {
            break Err(e);
        }
    };
    if let Err(e) = outcome {
        // Whatever the writer still holds must not reach the reader after the error (a
        // dropped writer finishes its archive): the sink refuses from now on.
        dead.store(true, Ordering::SeqCst);
        let _ = out.blocking_send(Err(e));
    }
}

fn finish(zip: zip::ZipWriter<zip::write::StreamWriter<ChannelSink>>) -> io::Result<()> {
    let mut sink = zip.finish().map_err(io::Error::other)?.into_inner();
    sink.flush()
}

fn options(entry: &EntryHeader) -> SimpleFileOptions {
    let options = SimpleFileOptions::default()
        .large_file(entry.size >= LARGE_ENTRY)
        .unix_permissions(0o644)
        .last_modified_time(zip_time(entry.modified));
    match entry.method {
        Method::Stored => options.compression_method(CompressionMethod::Stored),
        Method::Deflated => {
            options.compression_method(CompressionMethod::Deflated).compression_level(Some(1))
        }
    }
}

/// A ZIP (MS-DOS) time: 1980 to 2107, two-second steps; out of range is the format's
/// default.
fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    let narrow = |value: u32| u8::try_from(value).unwrap_or(0);
    u16::try_from(at.year())
        .ok()
        .and_then(|year| {
            zip::DateTime::from_date_and_time(
                year,
                narrow(at.month()),
                narrow(at.day()),
                narrow(at.hour()),
                narrow(at.minute()),
                narrow(at.second()),
            )
            .ok()
        })
        .unwrap_or_default()
}

/// The ZIP writer's sink: gathers bytes into chunks and hands them to the output channel,
/// waiting while it is full (back-pressure).
struct ChannelSink {
    out: Output,
    buffer: BytesMut,
    dead: Arc<AtomicBool>,
}

impl ChannelSink {
    fn hand_on(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = self.buffer.split().freeze();
        self.out.blocking_send(Ok(chunk)).map_err(|_| io::Error::other("the archive's reader went away"))
    }
}

impl Write for ChannelSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(io::Error::other("the archive failed"));
        }
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= OUT_CHUNK {
            self.hand_on()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(io::Error::other("the archive failed"));
        }
        self.hand_on()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    async fn collect(mut output: ByteStream) -> io::Result<Vec<u8>> {
        let mut zip = Vec::new();
        while let Some(chunk) = output.next().await {
            zip.extend_from_slice(&chunk?);
        }
        Ok(zip)
    }

    fn entry(path: &str, size: u64, method: Method) -> EntryHeader {
        EntryHeader { path: path.to_owned(), size, method, modified: DateTime::UNIX_EPOCH }
    }

    /// Reads every entry back with the `zip` crate's reader (a seekable copy).
    fn entries(zip: Vec<u8>) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut file = archive.by_index(i).unwrap();
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).unwrap();
                (file.name().unwrap().into_owned(), bytes)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_stream_through_stored_deflated_and_zip64() {
        let (input, output) = spawn();
        let reading = tokio::spawn(collect(output));
        let text = b"some text, some text, some text ".repeat(4096);
        input.start(entry("a/text.txt", text.len() as u64, Method::Deflated)).await.unwrap();
        for piece in text.chunks(1000) {
            input.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        input.start(entry("empty", 0, Method::Stored)).await.unwrap();
        // Written as a ZIP64 entry (as one over 4 GiB would be), with a small content.
        input.start(entry("big.bin", LARGE_ENTRY, Method::Stored)).await.unwrap();
        input.write(Bytes::from_static(b"large")).await.unwrap();
        input.finish().await.unwrap();
        let zip = reading.await.unwrap().unwrap();
        let found = entries(zip);
        assert_eq!(
            found,
            vec![
                ("a/text.txt".to_owned(), text.clone()),
                ("empty".to_owned(), Vec::new()),
                ("big.bin".to_owned(), b"large".to_vec()),
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_archive_is_a_valid_zip() {
        let (input, output) = spawn();
        let reading = tokio::spawn(collect(output));
        input.finish().await.unwrap();
        let zip = reading.await.unwrap().unwrap();
        assert!(entries(zip).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_archive_ends_with_an_error() {
        let (input, output) = spawn();
        let reading = tokio::spawn(collect(output));
        input.start(entry("a", 3, Method::Stored)).await.unwrap();
        input.write(Bytes::from_static(b"abc")).await.unwrap();
        drop(input);
        assert!(reading.await.unwrap().is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_that_goes_away_stops_the_writer() {
        let (input, output) = spawn();
        drop(output);
        let mut stopped = false;
        for _ in 0..64 {
            let sent = match input.start(entry("x", 1 << 20, Method::Stored)).await {
                Ok(()) => input.write(Bytes::from(vec![0u8; 1 << 20])).await,
                Err(e) => Err(e),
            };
            if sent.is_err() {
                stopped = true;
                break;
            }
        }
        assert!(stopped, "the writer noticed its reader is gone");
    }

    /// An archive past 4 GiB — an entry of 4 GiB + 1 MiB, then one whose header lies past
    /// 4 GiB — streamed to a file and read back by Python's `zipfile` (a standard reader).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "writes and reads 4.1 GiB; run with `cargo nextest run -p drip-core --run-ignored only zip64`"]
    async fn zip64_archives_past_4_gib_open_with_a_standard_reader() {
        const MIB: u64 = 1 << 20;
        let big = 4096 * MIB + MIB;
        let dir = std::env::temp_dir().join(format!("drip-zip64-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.zip");
        let (input, mut output) = spawn();
        let writing = tokio::spawn({
            let path = path.clone();
            async move {
                // A test's writes to a local file: blocking them is fine here.
                let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
                while let Some(chunk) = output.next().await {
                    file.write_all(&chunk.unwrap()).unwrap();
                }
                file.flush().unwrap();
            }
        });
        let zeros = Bytes::from(vec![0u8; MIB as usize]);
        input.start(entry("big.bin", big, Method::Stored)).await.unwrap();
        for _ in 0..big / MIB {
            input.write(zeros.clone()).await.unwrap();
        }
        input.start(entry("after.txt", 5, Method::Deflated)).await.unwrap();
        input.write(Bytes::from_static(b"after")).await.unwrap();
        input.finish().await.unwrap();
        writing.await.unwrap();
        let script = "import sys, zipfile\n\
            z = zipfile.ZipFile(sys.argv[1])\n\
            assert z.testzip() is None\n\
            print(';'.join(f'{i.filename}={i.file_size}' for i in z.infolist()))\n\
            assert z.read('after.txt') == b'after'\n";
        let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("big.bin={big};after.txt=5"));
    }
}
