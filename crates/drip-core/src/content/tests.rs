//! Round trips and attack cases of the chunked encryption format.

use super::*;
use futures::TryStreamExt;

const CHUNK: u32 = 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Splits `data` into pieces of uneven sizes, as a network would.
fn stream_of(data: &[u8]) -> ByteStream {
    let mut pieces = Vec::new();
    let mut rest = Bytes::copy_from_slice(data);
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        pieces.push(Ok(rest.split_to(n)));
        step = step * 7 % 3001 + 1;
    }
    futures::stream::iter(pieces).boxed()
}

async fn collect(stream: ByteStream) -> Result<Vec<u8>, io::Error> {
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
}

async fn seal(data: &[u8], key: &DataKey) -> (Vec<u8>, PlainSummary) {
    let enc = encrypt(stream_of(data), key, CHUNK, None).await;
    let cipher = collect(enc.ciphertext).await.unwrap();
    let summary = enc.summary.await.unwrap().unwrap();
    (cipher, summary)
}

fn spec(size: u64, digest: Option<Digest>) -> DecryptSpec {
    DecryptSpec { chunk_size: CHUNK, plain_size: size, first_chunk: 0, through_end: true, digest }
}

async fn open(
    cipher: Vec<u8>,
    key: &DataKey,
    size: u64,
    digest: Option<Digest>,
) -> Result<Vec<u8>, io::Error> {
    collect(decrypt(stream_of(&cipher), key, spec(size, digest))).await
}

fn is_integrity(e: &io::Error) -> bool {
    matches!(ContentError::find_in(e), Some(ContentError::Integrity(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_at_boundary_sizes() {
    let key = DataKey::generate();
    let c = CHUNK as usize;
    for size in [0, 1, c - 1, c, c + 1, 3 * c, 3 * c + 7, 3 * 1024 * 1024 + 5] {
        let data = pattern(size);
        let (cipher, summary) = seal(&data, &key).await;
        assert_eq!(summary.size, size as u64);
        assert_eq!(summary.digest.as_bytes(), &crate::crypto::sha256(&data));
        assert_eq!(cipher.len() as u64, ciphertext_size(size as u64, CHUNK), "size {size}");
        if size >= 16 {
            assert!(!cipher.windows(16).any(|w| w == &data[..16]), "plaintext leaked at size {size}");
        }
        let plain = open(cipher, &key, size as u64, Some(summary.digest)).await.unwrap();
        assert_eq!(plain, data, "size {size}");
    }
}

/// Ciphertext bytes of one full chunk: its plaintext and the AEAD tag.
const SEALED_CHUNK: usize = CHUNK as usize + 16;

/// A file of pattern bytes, sealed under a fresh key: the target of the attack cases.
struct Sealed {
    key: DataKey,
    size: u64,
    cipher: Vec<u8>,
    digest: Digest,
}

impl Sealed {
    async fn new(len: usize) -> Self {
        let key = DataKey::generate();
        let (cipher, summary) = seal(&pattern(len), &key).await;
        Self { key, size: len as u64, cipher, digest: summary.digest }
    }

    /// Decrypting the attacked `cipher` as `size` bytes with the right key fails its
    /// integrity check.
    async fn assert_detected(&self, cipher: Vec<u8>, size: u64, digest: Option<Digest>, attack: &str) {
        let err = open(cipher, &self.key, size, digest).await.unwrap_err();
        assert!(is_integrity(&err), "{attack}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected() {
    let file = Sealed::new(3 * CHUNK as usize + 10).await;
    for position in [0, 5, CHUNK as usize + 3, file.cipher.len() - 1] {
        let mut bad = file.cipher.clone();
        bad[position] ^= 0x01;
        file.assert_detected(bad, file.size, Some(file.digest), &format!("flip at {position}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_is_detected() {
    let file = Sealed::new(3 * CHUNK as usize).await;
    for cut in [0, 1, SEALED_CHUNK, 2 * SEALED_CHUNK, file.cipher.len() - 1] {
        file.assert_detected(file.cipher[..cut].to_vec(), file.size, None, &format!("cut at {cut}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_at_a_chunk_boundary_is_detected_even_with_a_lying_size() {
    // An attacker who also shrinks the recorded size still cannot pass a non-final chunk
    // off as the final one.
    let file = Sealed::new(3 * CHUNK as usize).await;
    let first_chunk = file.cipher[..SEALED_CHUNK].to_vec();
    file.assert_detected(first_chunk, u64::from(CHUNK), None, "one chunk of three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordering_and_extension_are_detected() {
    let file = Sealed::new(3 * CHUNK as usize + 10).await;
    let mut swapped = file.cipher.clone();
    let (a, b) = swapped.split_at_mut(SEALED_CHUNK);
    a.swap_with_slice(&mut b[..SEALED_CHUNK]);
    file.assert_detected(swapped, file.size, None, "the first two chunks swapped").await;
    let mut extended = file.cipher.clone();
    extended.extend_from_slice(&file.cipher[..SEALED_CHUNK]);
    file.assert_detected(extended, file.size, None, "the first chunk appended").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_wrong_digest_fail() {
    let key = DataKey::generate();
    let data = pattern(2000);
    let (cipher, _) = seal(&data, &key).await;
    let err = open(cipher.clone(), &DataKey::generate(), 2000, None).await.unwrap_err();
    assert!(is_integrity(&err));
    let wrong = Digest::from_bytes([7; 32]);
    let err = open(cipher, &key, 2000, Some(wrong)).await.unwrap_err();
    assert!(is_integrity(&err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_mismatch_withholds_the_last_chunk() {
    let key = DataKey::generate();
    let data = pattern(3 * CHUNK as usize);
    let (cipher, _) = seal(&data, &key).await;
    let stream =
        decrypt(stream_of(&cipher), &key, spec(data.len() as u64, Some(Digest::from_bytes([0; 32]))));
    let items: Vec<_> = stream.collect().await;
    let delivered: usize = items.iter().filter_map(|i| i.as_ref().ok()).map(Bytes::len).sum();
    assert!(delivered < data.len());
    assert!(items.last().unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_decrypt_only_their_chunks() {
    let key = DataKey::generate();
    let size = 5 * CHUNK as usize + 100;
    let data = pattern(size);
    let (cipher, _) = seal(&data, &key).await;
    let c = CHUNK as u64;
    for range in [0..1, 0..c, c - 1..c + 1, 2 * c + 5..4 * c, 5 * c..size as u64, 17..size as u64] {
        let plan = cipher_range(&range, size as u64, CHUNK);
        let slice = cipher[plan.bytes.start as usize..plan.bytes.end as usize].to_vec();
        let spec = DecryptSpec {
            chunk_size: CHUNK,
            plain_size: size as u64,
            first_chunk: plan.first_chunk,
            through_end: plan.through_end,
            digest: None,
        };
        let plain = collect(slice_stream(decrypt(stream_of(&slice), &key, spec), plan.skip, plan.take))
            .await
            .unwrap();
        assert_eq!(plain, &data[range.start as usize..range.end as usize], "{range:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_input_fails_the_stream() {
    let key = DataKey::generate();
    let enc = encrypt(stream_of(&pattern(5000)), &key, CHUNK, Some(4999)).await;
    let err = collect(enc.ciphertext).await.unwrap_err();
    assert!(matches!(ContentError::find_in(&err), Some(ContentError::TooLarge { limit: 4999 })));
    assert!(matches!(enc.summary.await.unwrap(), Err(ContentError::TooLarge { .. })));
    let ok = encrypt(stream_of(&pattern(5000)), &key, CHUNK, Some(5000)).await;
    assert!(collect(ok.ciphertext).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_within_one_chunk_is_sealed_at_once_and_limited_too() {
    let key = DataKey::generate();
    let small = CHUNK as usize - 3;
    let enc = encrypt(stream_of(&pattern(small)), &key, CHUNK, Some(small as u64 - 1)).await;
    let err = collect(enc.ciphertext).await.unwrap_err();
    assert!(matches!(ContentError::find_in(&err), Some(ContentError::TooLarge { .. })));
    assert!(matches!(enc.summary.await.unwrap(), Err(ContentError::TooLarge { .. })));

    let mut enc = encrypt(stream_of(&pattern(small)), &key, CHUNK, Some(small as u64)).await;
    let summary = enc.summary.try_recv().expect("a whole chunk's summary is ready before any poll").unwrap();
    assert_eq!(summary.size, small as u64);
    let cipher = collect(enc.ciphertext).await.unwrap();
    assert_eq!(cipher.len() as u64, ciphertext_size(small as u64, CHUNK));
    let plain = open(cipher, &key, small as u64, Some(summary.digest)).await.unwrap();
    assert_eq!(plain, pattern(small));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_propagate() {
    let key = DataKey::generate();
    let input = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away")),
    ])
    .boxed();
    let enc = encrypt(input, &key, CHUNK, None).await;
    let err = collect(enc.ciphertext).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    let Err(ContentError::Input(original)) = enc.summary.await.unwrap() else { panic!("an input error") };
    assert_eq!(original.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(original.to_string(), "client went away", "the caller gets the input's own error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_streams_may_be_polled_again() {
    let key = DataKey::generate();
    let (cipher, _) = seal(&[], &key).await;
    let mut plain = decrypt(stream_of(&cipher), &key, spec(0, None));
    while plain.next().await.is_some() {}
    assert!(plain.next().await.is_none(), "an ended stream stays ended");
    let mut sliced = slice_stream(futures::stream::iter([Ok(Bytes::from_static(b"abc"))]).boxed(), 1, 1);
    assert_eq!(sliced.next().await.unwrap().unwrap(), Bytes::from_static(b"b"));
    assert!(sliced.next().await.is_none());
    assert!(sliced.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentic_bytes_before_a_bad_chunk_are_delivered_then_the_stream_fails() {
    let key = DataKey::generate();
    let data = pattern(3 * CHUNK as usize);
    let (mut cipher, _) = seal(&data, &key).await;
    let last = cipher.len() - 1;
    cipher[last] ^= 1;
    let items: Vec<_> = decrypt(stream_of(&cipher), &key, spec(data.len() as u64, None)).collect().await;
    let delivered: Vec<u8> = items.iter().filter_map(|i| i.as_ref().ok()).flat_map(|b| b.to_vec()).collect();
    assert_eq!(delivered, &data[..2 * CHUNK as usize]);
    assert!(items.last().unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inputs_own_error_reaches_the_caller() {
    #[derive(Debug, thiserror::Error)]
    #[error("the client sent too much")]
    struct Marker;
    let key = DataKey::generate();
    let input =
        futures::stream::iter(vec![Ok(Bytes::from_static(b"abc")), Err(io::Error::other(Marker))]).boxed();
    let enc = encrypt(input, &key, CHUNK, None).await;
    assert!(collect(enc.ciphertext).await.is_err());
    let Err(ContentError::Input(original)) = enc.summary.await.unwrap() else { panic!("an input error") };
    assert!(original.get_ref().is_some_and(|e| e.is::<Marker>()), "the same error, not a copy: {original:?}");
}
