//! The content pipeline: streaming SHA-256 and chunked AEAD encryption (STREAM
//! construction), its verifying reverse, ranged decryption, and the small-file cache.
//!
//! Format: the plaintext is cut into chunks of `chunk_size` bytes (the last one shorter,
//! possibly empty; an empty file is one empty chunk). Chunk `i` is sealed with
//! AES-256-GCM under the media's data key, nonce `[0, 0, 0, last] ++ i as u64 big-endian`
//! and associated data [`AAD`], and stored as ciphertext followed by its 16-byte tag.
//! The counter in the nonce detects reordering, the `last` flag detects truncation at a
//! chunk boundary, and each chunk can be opened alone, which serves HTTP ranges.

use std::io;
use std::ops::Range;
use std::pin::Pin;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;
use bytes::{Bytes, BytesMut};
use futures::{FutureExt as _, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

mod cache;
mod plain_digest;
pub use cache::{CacheStats, ContentCache};
pub use plain_digest::{Digest, InvalidDigest};

/// A stream of byte chunks: how file content moves through every layer.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send + 'static>>;

/// Name of the construction, recorded in every media's envelope.
pub const ALGORITHM: &str = "AES-256-GCM-STREAM";
/// Default plaintext bytes per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Largest chunk size accepted in an envelope.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Authentication tag appended to each chunk.
pub const TAG_LEN: u64 = 16;
/// Associated data of every chunk (format version).
pub const AAD: &[u8] = b"drip-content-v1";
/// Messages in flight between two stages: bounds memory per transfer (each message is
/// at most [`BATCH_CHUNKS`] chunks, so a few MiB in all).
const STAGE_BUFFER: usize = 4;
/// Chunks handed between stages in one message: waking a thread per 64 KiB chunk costs
/// more than sealing it, so chunks travel in batches (about 1 MiB).
const BATCH_CHUNKS: usize = 16;
/// Plaintext bytes the opening stage gathers before handing them on.
const BATCH_BYTES: usize = 1024 * 1024;

/// Why content could not be encrypted, decrypted or verified.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The plaintext exceeds the size limit of the upload.
    #[error("content exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The ciphertext was tampered with, truncated, reordered, extended, or the key is wrong.
    #[error("content failed integrity verification: {0}")]
    Integrity(&'static str),
    /// The input stream failed.
    #[error("content stream failed")]
    Input(#[source] io::Error),
}

impl ContentError {
    /// Wraps the error as the `io::Error` a [`ByteStream`] item carries.
    #[must_use]
    pub fn into_io(self) -> io::Error {
        match self {
            Self::Input(e) => e,
            other => io::Error::other(other),
        }
    }

    /// Finds a content error inside a stream's `io::Error`, if that is what it carries.
    #[must_use]
    pub fn find_in(error: &io::Error) -> Option<&ContentError> {
        error.get_ref().and_then(|e| e.downcast_ref::<ContentError>())
    }
}

/// A random 256-bit per-media data key; wiped from memory on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh key from the operating system's CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        Self(Zeroizing::new(crate::crypto::random_array()))
    }

    /// Wraps raw key bytes (as unwrapped by a `KeyWrapper`).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw key, for key wrappers.
    #[must_use]
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn aead(&self) -> LessSafeKey {
        // AES-256 takes exactly the 32 bytes this type holds, so this cannot fail.
        #[allow(clippy::expect_used)]
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0[..]).expect("32-byte AES-256 key"))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3] = u8::from(last);
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Number of chunks a plaintext of `plain_size` bytes is cut into (at least one).
#[must_use]
pub fn chunk_count(plain_size: u64, chunk_size: u32) -> u64 {
    plain_size.div_ceil(u64::from(chunk_size)).max(1)
}

/// Size of the ciphertext of a plaintext of `plain_size` bytes.
#[must_use]
pub fn ciphertext_size(plain_size: u64, chunk_size: u32) -> u64 {
    plain_size + chunk_count(plain_size, chunk_size) * TAG_LEN
}

/// What the upload pipeline measured once the whole plaintext went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainSummary {
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub digest: Digest,
}

/// The ciphertext stream of an upload and, once it has ended, what it measured.
pub struct Encrypted {
    /// The ciphertext, to hand to the object store.
    pub ciphertext: ByteStream,
    /// Resolves after the last chunk; an error if the input failed or was too large.
    pub summary: oneshot::Receiver<Result<PlainSummary, ContentError>>,
}

/// Hashes and encrypts `plaintext`. More than `max_size` bytes fail the stream with
/// [`ContentError::TooLarge`].
///
/// The first chunk is read on the calling task: content that ends within it (most files
/// are small) is hashed and sealed right there, with no thread hand-off. Longer content
/// goes through two stages on threads of their own (hashing and re-chunking; sealing)
/// joined by small bounded channels, so each can use its own core and memory stays at a
/// few chunks whatever the size.
///
/// Must run inside a Tokio runtime.
pub async fn encrypt(
    mut plaintext: ByteStream,
    key: &DataKey,
    chunk_size: u32,
    max_size: Option<u64>,
) -> Encrypted {
    let mut head = PlainChunk::default();
    let failed = loop {
        match plaintext.next().await {
            Some(Ok(bytes)) => {
                head.len += bytes.len();
                head.pieces.push(bytes);
                if head.len > chunk_size as usize {
                    break None;
                }
            }
            Some(Err(e)) => break Some(e),
            None => return seal_whole(head, key, max_size),
        }
    };
    // Longer than a chunk, or broken: the pipeline takes over from the first byte (and
    // reports a broken input as it does any input error).
    let read = futures::stream::iter(head.pieces.into_iter().map(Ok));
    let rest = match failed {
        Some(e) => read.chain(futures::stream::once(async { Err(e) })).boxed(),
        None => read.chain(plaintext).boxed(),
    };
    encrypt_in_stages(rest, key, chunk_size, max_size)
}

/// Hashes and seals content that fits in one chunk, at once.
fn seal_whole(mut whole: PlainChunk, key: &DataKey, max_size: Option<u64>) -> Encrypted {
    let (summary_tx, summary) = oneshot::channel();
    let size = whole.len as u64;
    let sealed = match max_size.filter(|limit| size > *limit) {
        Some(limit) => {
            let _ = summary_tx.send(Err(ContentError::TooLarge { limit }));
            Err(ContentError::TooLarge { limit }.into_io())
        }
        None => {
            let mut hasher = digest::Context::new(&digest::SHA256);
            whole.pieces.iter().for_each(|piece| hasher.update(piece));
            whole.last = true;
            let mut sealed = BytesMut::with_capacity(whole.len + TAG_LEN as usize);
            let sealed = seal_chunk(&key.aead(), 0, whole, &mut sealed).map(|()| sealed.freeze());
            if sealed.is_ok() {
                let _ = summary_tx.send(Ok(PlainSummary { size, digest: finish_digest(hasher) }));
            }
            sealed
        }
    };
    Encrypted { ciphertext: futures::stream::iter([sealed]).boxed(), summary }
}

/// The two-stage pipeline of [`encrypt`].
fn encrypt_in_stages(
    plaintext: ByteStream,
    key: &DataKey,
    chunk_size: u32,
    max_size: Option<u64>,
) -> Encrypted {
    let (chunk_tx, chunk_rx) = mpsc::channel(STAGE_BUFFER);
    let (out_tx, out_rx) = mpsc::channel(STAGE_BUFFER);
    let (summary_tx, summary) = oneshot::channel();
    spawn_stage(hash_and_chunk(plaintext, chunk_size, max_size, chunk_tx, summary_tx));
    spawn_stage(seal_chunks(key.aead(), chunk_rx, out_tx));
    Encrypted { ciphertext: receiver_stream(out_rx), summary }
}

fn finish_digest(hasher: digest::Context) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(hasher.finish().as_ref());
    Digest::from_bytes(out)
}

/// Appends chunk `index` sealed (`ciphertext ‖ tag`) to `sealed`.
fn seal_chunk(key: &LessSafeKey, index: u64, chunk: PlainChunk, sealed: &mut BytesMut) -> io::Result<()> {
    let start = sealed.len();
    for piece in &chunk.pieces {
        sealed.extend_from_slice(piece);
    }
    let tag = key
        .seal_in_place_separate_tag(nonce(index, chunk.last), Aad::from(AAD), &mut sealed[start..])
        .map_err(|_| io::Error::other("content encryption failed"))?;
    sealed.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Runs a CPU-heavy pipeline stage on a thread of its own (Tokio's blocking pool), so
/// hashing and sealing never starve the runtime's workers — or each other — and the
/// operating system spreads the stages over the cores.
fn spawn_stage(stage: impl std::future::Future<Output = ()> + Send + 'static) {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(stage));
}

/// One chunk of plaintext as slices of the input (no copy on the hashing core); the
/// sealing stage assembles it.
#[derive(Default)]
struct PlainChunk {
    pieces: Vec<Bytes>,
    len: usize,
    last: bool,
}

async fn hash_and_chunk(
    mut input: ByteStream,
    chunk_size: u32,
    max_size: Option<u64>,
    chunks: mpsc::Sender<Result<Vec<PlainChunk>, io::Error>>,
    summary: oneshot::Sender<Result<PlainSummary, ContentError>>,
) {
    let chunk_size = chunk_size as usize;
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut size = 0u64;
    let mut current = PlainChunk::default();
    let mut batch: Vec<PlainChunk> = Vec::new();
    loop {
        let next = match input.next().now_or_never() {
            Some(next) => next,
            None => {
                // The input is slow: hand over what is ready instead of holding it.
                if !batch.is_empty() && chunks.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                    return;
                }
                // Stop waiting for input once nobody reads the ciphertext any more.
                tokio::select! {
                    next = input.next() => next,
                    () = chunks.closed() => return,
                }
            }
        };
        match next {
            Some(Ok(mut bytes)) => {
                size += bytes.len() as u64;
                if let Some(limit) = max_size.filter(|l| size > *l) {
                    let _ = chunks.send(Err(ContentError::TooLarge { limit }.into_io())).await;
                    let _ = summary.send(Err(ContentError::TooLarge { limit }));
                    return;
                }
                hasher.update(&bytes);
                while !bytes.is_empty() {
                    if current.len == chunk_size {
                        // A full chunk with more data after it: not the last one.
                        batch.push(std::mem::take(&mut current));
                        if batch.len() == BATCH_CHUNKS
                            && chunks.send(Ok(std::mem::take(&mut batch))).await.is_err()
                        {
                            return;
                        }
                    }
                    let take = (chunk_size - current.len).min(bytes.len());
                    current.pieces.push(bytes.split_to(take));
                    current.len += take;
                }
            }
            Some(Err(e)) => {
                // The caller learns the input's own error from the summary; the object
                // store only needs to know the stream is broken.
                let broken = io::Error::new(e.kind(), "the plaintext stream failed");
                let _ = summary.send(Err(ContentError::Input(e)));
                let _ = chunks.send(Err(broken)).await;
                return;
            }
            None => break,
        }
    }
    current.last = true;
    batch.push(current);
    if chunks.send(Ok(batch)).await.is_err() {
        return;
    }
    let _ = summary.send(Ok(PlainSummary { size, digest: finish_digest(hasher) }));
}

/// Seals each batch of chunks into one buffer (`ciphertext ‖ tag` per chunk, in order).
async fn seal_chunks(
    key: LessSafeKey,
    mut chunks: mpsc::Receiver<Result<Vec<PlainChunk>, io::Error>>,
    out: mpsc::Sender<Result<Bytes, io::Error>>,
) {
    let tag_len = TAG_LEN as usize;
    let mut index = 0u64;
    loop {
        // Stop (releasing the hashing stage) once nobody reads the ciphertext any more.
        let item = tokio::select! {
            item = chunks.recv() => item,
            () = out.closed() => return,
        };
        let Some(item) = item else { return };
        let result = item.and_then(|batch| {
            let total: usize = batch.iter().map(|c| c.len + tag_len).sum();
            let mut sealed = BytesMut::with_capacity(total);
            for chunk in batch {
                seal_chunk(&key, index, chunk, &mut sealed)?;
                index += 1;
            }
            Ok(sealed.freeze())
        });
        let failed = result.is_err();
        if out.send(result).await.is_err() || failed {
            return;
        }
    }
}

/// The receiving end of a stage as a stream (which keeps answering `None` once ended, so
/// callers may poll it again after the end).
fn receiver_stream<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> futures::stream::BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Which ciphertext bytes hold a plaintext range, and how to cut the decrypted chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipherRange {
    /// Ciphertext bytes to fetch.
    pub bytes: Range<u64>,
    /// Index of the first chunk fetched.
    pub first_chunk: u64,
    /// Plaintext bytes to drop from the first decrypted chunk.
    pub skip: u64,
    /// Plaintext bytes to deliver.
    pub take: u64,
    /// Whether the last chunk fetched is the file's last chunk.
    pub through_end: bool,
}

/// Maps a non-empty plaintext range (already clamped to `plain_size`) to ciphertext.
#[must_use]
pub fn cipher_range(plain: &Range<u64>, plain_size: u64, chunk_size: u32) -> CipherRange {
    let c = u64::from(chunk_size);
    let first_chunk = plain.start / c;
    let last_chunk = plain.end.saturating_sub(1) / c;
    let total = ciphertext_size(plain_size, chunk_size);
    let start = first_chunk * (c + TAG_LEN);
    let end = ((last_chunk + 1) * (c + TAG_LEN)).min(total);
    CipherRange {
        bytes: start..end,
        first_chunk,
        skip: plain.start - first_chunk * c,
        take: plain.end - plain.start,
        through_end: last_chunk + 1 == chunk_count(plain_size, chunk_size),
    }
}

/// What a decryption stream checks the content against.
#[derive(Debug, Clone, Copy)]
pub struct DecryptSpec {
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Size of the whole plaintext.
    pub plain_size: u64,
    /// Index of the first chunk in the ciphertext stream (0 for a whole file).
    pub first_chunk: u64,
    /// Whether the stream runs through the end of the file, so that its final chunk must
    /// be the file's last one (true for a whole file).
    pub through_end: bool,
    /// Digest of the whole plaintext, checked when the stream covers the whole file;
    /// the last chunk is held back until it matches.
    pub digest: Option<Digest>,
}

/// Decrypts a ciphertext stream chunk by chunk, failing the stream with
/// [`ContentError::Integrity`] on any tampering, truncation, reordering, trailing data or
/// wrong key; nothing unauthenticated is ever emitted. Two stages (open; hash and verify)
/// run on separate tasks.
///
/// Must run inside a Tokio runtime.
#[must_use]
pub fn decrypt(ciphertext: ByteStream, key: &DataKey, spec: DecryptSpec) -> ByteStream {
    let (plain_tx, plain_rx) = mpsc::channel(STAGE_BUFFER);
    let (out_tx, out_rx) = mpsc::channel(STAGE_BUFFER);
    spawn_stage(open_chunks(ciphertext, key.aead(), spec, plain_tx));
    if let (Some(digest), 0, true) = (spec.digest, spec.first_chunk, spec.through_end) {
        spawn_stage(verify_digest(plain_rx, digest, out_tx));
        receiver_stream(out_rx)
    } else {
        receiver_stream(plain_rx)
    }
}

async fn open_chunks(
    mut input: ByteStream,
    key: LessSafeKey,
    spec: DecryptSpec,
    out: mpsc::Sender<Result<Bytes, io::Error>>,
) {
    let chunk = u64::from(spec.chunk_size);
    let last_index = chunk_count(spec.plain_size, spec.chunk_size) - 1;
    // Sealed length of chunk `i`: full chunks but the file's last one.
    let sealed_len = |i: u64| -> usize {
        let plain = if i < last_index { chunk } else { spec.plain_size - last_index * chunk };
        (plain + TAG_LEN) as usize
    };
    let mut index = spec.first_chunk;
    let mut pending = BytesMut::new();
    let mut plain = BytesMut::new();
    let integrity = |why| ContentError::Integrity(why).into_io();
    loop {
        let next = match input.next().now_or_never() {
            Some(next) => next,
            None => {
                // The store is slow: deliver what is verified instead of holding it.
                if !plain.is_empty() && out.send(Ok(plain.split().freeze())).await.is_err() {
                    return;
                }
                // Stop waiting for the store once nobody reads the plaintext any more.
                tokio::select! {
                    next = input.next() => next,
                    () = out.closed() => return,
                }
            }
        };
        let Some(item) = next else { break };
        let bytes = match item {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        };
        pending.extend_from_slice(&bytes);
        while index <= last_index && pending.len() >= sealed_len(index) {
            let mut sealed = pending.split_to(sealed_len(index));
            match key.open_in_place(nonce(index, index == last_index), Aad::from(AAD), &mut sealed[..]) {
                Ok(opened) => plain.extend_from_slice(opened),
                Err(_) => {
                    // What was opened before the bad chunk is authentic; deliver it, then fail.
                    if !plain.is_empty() {
                        let _ = out.send(Ok(plain.split().freeze())).await;
                    }
                    let _ = out.send(Err(integrity("a chunk failed authentication"))).await;
                    return;
                }
            }
            index += 1;
        }
        if index > last_index && !pending.is_empty() {
            if !plain.is_empty() {
                let _ = out.send(Ok(plain.split().freeze())).await;
            }
            let _ = out.send(Err(integrity("data after the last chunk"))).await;
            return;
        }
        if plain.len() >= BATCH_BYTES && out.send(Ok(plain.split().freeze())).await.is_err() {
            return;
        }
    }
    // A partial chunk left over, or a stream that should have reached the file's last
    // chunk and did not: the ciphertext was cut.
    if !pending.is_empty() || (spec.through_end && index <= last_index) {
        if !plain.is_empty() {
            let _ = out.send(Ok(plain.split().freeze())).await;
        }
        let _ = out.send(Err(integrity("ciphertext is truncated"))).await;
        return;
    }
    if !plain.is_empty() {
        let _ = out.send(Ok(plain.freeze())).await;
    }
}

async fn verify_digest(
    mut input: mpsc::Receiver<Result<Bytes, io::Error>>,
    expected: Digest,
    out: mpsc::Sender<Result<Bytes, io::Error>>,
) {
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut held: Option<Bytes> = None;
    loop {
        let item = tokio::select! {
            item = input.recv() => item,
            () = out.closed() => return,
        };
        let Some(item) = item else { break };
        match item {
            Ok(bytes) => {
                hasher.update(&bytes);
                if let Some(previous) = held.replace(bytes)
                    && out.send(Ok(previous)).await.is_err()
                {
                    return;
                }
            }
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        }
    }
    if hasher.finish().as_ref() == expected.as_bytes() {
        if let Some(last) = held {
            let _ = out.send(Ok(last)).await;
        }
    } else {
        let _ = out.send(Err(ContentError::Integrity("digest mismatch").into_io())).await;
    }
}

/// Cuts a decrypted range stream down to `skip..skip + take`; a stream that ends early
/// fails with [`ContentError::Integrity`].
#[must_use]
pub fn slice_stream(input: ByteStream, skip: u64, take: u64) -> ByteStream {
    futures::stream::unfold((input, skip, take), |(mut input, mut skip, mut take)| async move {
        loop {
            if take == 0 {
                return None;
            }
            let Some(next) = input.next().await else {
                let err = ContentError::Integrity("ciphertext is truncated").into_io();
                return Some((Err(err), (input, 0, 0)));
            };
            match next {
                Ok(mut bytes) => {
                    let len = bytes.len() as u64;
                    if skip >= len {
                        skip -= len;
                        continue;
                    }
                    let _ = bytes.split_to(skip as usize);
                    skip = 0;
                    let keep = (bytes.len() as u64).min(take);
                    bytes.truncate(keep as usize);
                    take -= keep;
                    return Some((Ok(bytes), (input, skip, take)));
                }
                Err(e) => return Some((Err(e), (input, 0, 0))),
            }
        }
    })
    .fuse()
    .boxed()
}

#[cfg(test)]
mod tests;
