//! File content for tests: a byte slice as a content stream in pieces, and a stream read back
//! whole.

use bytes::Bytes;
use drip_core::storage::ports::ByteStream;
use futures::{StreamExt, TryStreamExt};

/// `data` as a content stream of pieces of `piece` bytes (at least one byte each), as a
/// client sending it in parts would.
#[must_use]
pub fn stream_of(data: &[u8], piece: usize) -> ByteStream {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(piece.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

/// Everything `stream` yields, concatenated.
///
/// # Errors
/// The first error the stream yields.
pub async fn read_all(stream: ByteStream) -> Result<Vec<u8>, std::io::Error> {
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
}
