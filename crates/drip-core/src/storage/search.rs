//! Text search over the files a user sees: a regular expression per line, bounded
//! concurrency, a timeout per file, partial results, and a 60 s result cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use regex::{Regex, RegexBuilder};

use super::error::SearchError;
use super::model::{FolderPath, Media, PageRequest};
use super::service::StorageService;
use crate::error::BackendError;
use crate::ids::{MediaId, UserId};

/// Longest accepted expression, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Compiled-size limit of an expression.
const MAX_COMPILED_BYTES: usize = 1 << 20;
/// Matches kept per file.
pub const MAX_MATCHES_PER_FILE: usize = 1000;
/// Longest line considered (longer lines are cut before matching).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Cached results kept before old ones are pruned.
const MAX_CACHED_RESULTS: usize = 10_000;

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMatch {
    /// 1-based line number.
    pub line_no: u64,
    /// The line (lossily decoded as UTF-8, without its end of line).
    pub line: String,
}

/// The matches in one file.
#[derive(Debug, Clone)]
pub struct FileMatches {
    /// The file.
    pub media: Media,
    /// Its matching lines, in order.
    pub lines: Arc<Vec<LineMatch>>,
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    /// Files with at least one matching line, by name.
    pub matches: Vec<FileMatches>,
    /// Files whose search ran out of time (their results are missing).
    pub timed_out: Vec<MediaId>,
    /// Files that could not be read (their results are missing).
    pub failed: Vec<MediaId>,
}

/// Most files a name search answers.
pub const MAX_NAME_MATCHES: usize = 200;

/// What a name search found.
#[derive(Debug, Clone, Default)]
pub struct NameMatches {
    /// Files whose name holds the text, by name (then id).
    pub files: Vec<Media>,
    /// Whether more files matched than [`MAX_NAME_MATCHES`].
    pub truncated: bool,
}

/// Cached lines per (media, expression), with the time they were found.
type SearchEntries = HashMap<(MediaId, String), (DateTime<Utc>, Arc<Vec<LineMatch>>)>;

/// Results per (media, expression), reused for a while.
pub(super) struct SearchCache {
    ttl: Duration,
    entries: Mutex<SearchEntries>,
}

impl SearchCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SearchEntries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self, created: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        (now - created).to_std().map_or(true, |age| age < self.ttl)
    }

    fn get(&self, id: MediaId, pattern: &str, now: DateTime<Utc>) -> Option<Arc<Vec<LineMatch>>> {
        let entries = self.lock();
        let (created, lines) = entries.get(&(id, pattern.to_owned()))?;
        self.fresh(*created, now).then(|| Arc::clone(lines))
    }

    /// Inserts unless a fresh entry exists (the original's insert-if-absent).
    fn insert(&self, id: MediaId, pattern: &str, now: DateTime<Utc>, lines: Arc<Vec<LineMatch>>) {
        let mut entries = self.lock();
        if entries.len() >= MAX_CACHED_RESULTS {
            entries.retain(|_, (created, _)| (now - *created).to_std().is_ok_and(|age| age < self.ttl));
        }
        let key = (id, pattern.to_owned());
        match entries.get(&key) {
            Some((created, _)) if self.fresh(*created, now) => {}
            _ => {
                entries.insert(key, (now, lines));
            }
        }
    }

    pub(super) fn evict(&self, id: &MediaId) {
        self.lock().retain(|(media, _), _| media != id);
    }
}

enum Outcome {
    Found(Box<Media>, Arc<Vec<LineMatch>>),
    TimedOut(MediaId),
    Failed(MediaId),
}

impl StorageService {
    /// Searches every file the user sees under `folder` for lines matching `pattern`.
    /// At most `search_concurrency` files are read at once, each within
    /// `search_timeout`; files that time out or fail are listed, and the others' results
    /// are returned anyway.
    ///
    /// # Errors
    /// [`SearchError::InvalidPattern`] / [`SearchError::PatternTooLarge`] for a bad
    /// expression; [`SearchError::Backend`] when listing the files fails.
    pub async fn search(
        &self,
        user: &UserId,
        pattern: &str,
        folder: &FolderPath,
    ) -> Result<SearchResults, SearchError> {
        let regex = compile(pattern)?;
        let mut candidates = Vec::new();
        self.scan_visible(user, folder, |batch| {
            candidates.extend(batch);
            true
        })
        .await?;
        let outcomes: Vec<Outcome> = futures::stream::iter(candidates)
            .map(|media| self.search_one(media, &regex, pattern))
            .buffered(self.settings.search_concurrency.max(1))
            .collect()
            .await;
        let mut results = SearchResults::default();
        for outcome in outcomes {
            match outcome {
                Outcome::Found(media, lines) if !lines.is_empty() => {
                    results.matches.push(FileMatches { media: *media, lines })
                }
                Outcome::Found(..) => {}
                Outcome::TimedOut(id) => results.timed_out.push(id),
                Outcome::Failed(id) => results.failed.push(id),
            }
        }
        Ok(results)
    }

    /// The files the user sees under `folder` whose name holds `text`, ignoring case
    /// (Unicode lower case), by name: at most [`MAX_NAME_MATCHES`], and whether more matched.
    /// Plain text, not an expression: what people type into a file-name search. It reads
    /// the listing of every file under `folder` (a substring has no index to use in SQL
    /// either), never their content.
    ///
    /// # Errors
    /// [`BackendError`] when listing the files fails.
    pub async fn find_names(
        &self,
        user: &UserId,
        text: &str,
        folder: &FolderPath,
    ) -> Result<NameMatches, BackendError> {
        let needle = text.to_lowercase();
        let mut found = NameMatches::default();
        self.scan_visible(user, folder, |batch| {
            for media in batch {
                if !media.name().as_str().to_lowercase().contains(&needle) {
                    continue;
                }
                if found.files.len() == MAX_NAME_MATCHES {
                    found.truncated = true;
                    return false;
                }
                found.files.push(media);
            }
            true
        })
        .await?;
        Ok(found)
    }

    /// Hands every page of the files `user` sees under `folder` (by name) to `take`, until
    /// it answers `false` or no page is left.
    async fn scan_visible(
        &self,
        user: &UserId,
        folder: &FolderPath,
        mut take: impl FnMut(Vec<Media>) -> bool + Send,
    ) -> Result<(), BackendError> {
        let mut page = PageRequest::first(super::model::MAX_PAGE_SIZE);
        loop {
            let batch = self.ports.media.list_visible(user, Some(folder), &page).await?;
            if !take(batch.items) {
                return Ok(());
            }
            match batch.next {
                Some(cursor) => page = PageRequest::after(super::model::MAX_PAGE_SIZE, cursor),
                None => return Ok(()),
            }
        }
    }

    async fn search_one(&self, media: Media, regex: &Regex, pattern: &str) -> Outcome {
        let id = media.id();
        if let Some(lines) = self.search_cache.get(id, pattern, self.ports.clock.now()) {
            return Outcome::Found(Box::new(media), lines);
        }
        let scan = async {
            let content = self.open_content(&media, 0..media.size()).await.ok()?;
            scan_lines(content, regex).await.ok()
        };
        match tokio::time::timeout(self.settings.search_timeout, scan).await {
            Ok(Some(lines)) => {
                let lines = Arc::new(lines);
                self.search_cache.insert(id, pattern, self.ports.clock.now(), Arc::clone(&lines));
                Outcome::Found(Box::new(media), lines)
            }
            Ok(None) => Outcome::Failed(id),
            Err(_) => Outcome::TimedOut(id),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, SearchError> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(SearchError::PatternTooLarge);
    }
    RegexBuilder::new(pattern).size_limit(MAX_COMPILED_BYTES).build().map_err(|e| match e {
        regex::Error::CompiledTooBig(_) => SearchError::PatternTooLarge,
        other => SearchError::InvalidPattern(other.to_string()),
    })
}

/// Reads a stream line by line (memory bounded by [`MAX_LINE_BYTES`]) and keeps the
/// matching lines.
async fn scan_lines(
    mut content: super::ports::ByteStream,
    regex: &Regex,
) -> Result<Vec<LineMatch>, std::io::Error> {
    let mut matches = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 1u64;
    let check = |line: &mut Vec<u8>, line_no: u64, matches: &mut Vec<LineMatch>| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8_lossy(line);
        if matches.len() < MAX_MATCHES_PER_FILE && regex.is_match(&text) {
            matches.push(LineMatch { line_no, line: text.into_owned() });
        }
        line.clear();
    };
    let mut saw_any = false;
    while let Some(chunk) = content.next().await {
        let chunk = chunk?;
        saw_any |= !chunk.is_empty();
        let mut rest = &chunk[..];
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            append_capped(&mut line, &rest[..pos]);
            check(&mut line, line_no, &mut matches);
            line_no += 1;
            rest = &rest[pos + 1..];
        }
        append_capped(&mut line, rest);
    }
    if !line.is_empty() || !saw_any {
        check(&mut line, line_no, &mut matches);
    }
    Ok(matches)
}

fn append_capped(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_LINE_BYTES.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    async fn scan(text: &str, pattern: &str) -> Vec<(u64, String)> {
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            text.as_bytes().chunks(3).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let regex = compile(pattern).unwrap();
        scan_lines(futures::stream::iter(pieces).boxed(), &regex)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.line_no, m.line))
            .collect()
    }

    #[tokio::test]
    async fn line_numbers_are_one_based() {
        let found = scan("alpha\nbeta\r\ngamma beta\nlast beta", "beta").await;
        assert_eq!(found, vec![(2, "beta".into()), (3, "gamma beta".into()), (4, "last beta".into())]);
        assert_eq!(scan("", "^$").await, vec![(1, String::new())]);
        assert!(scan("abc\n", "^$").await.is_empty());
    }

    #[test]
    fn bad_patterns_are_errors_not_crashes() {
        assert!(matches!(compile("(unclosed"), Err(SearchError::InvalidPattern(_))));
        assert!(matches!(compile(&"a".repeat(MAX_PATTERN_BYTES + 1)), Err(SearchError::PatternTooLarge)));
        assert!(matches!(compile(r"\w{1000}\w{1000}\w{1000}"), Err(SearchError::PatternTooLarge)));
    }

    #[test]
    fn cache_expires_and_inserts_only_if_absent() {
        let cache = SearchCache::new(Duration::from_secs(60));
        let id = MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap();
        let t0 = Utc::now();
        let first = Arc::new(vec![LineMatch { line_no: 1, line: "a".into() }]);
        cache.insert(id, "a", t0, Arc::clone(&first));
        cache.insert(id, "a", t0 + chrono::Duration::seconds(1), Arc::new(Vec::new()));
        assert_eq!(cache.get(id, "a", t0 + chrono::Duration::seconds(59)), Some(first));
        assert_eq!(cache.get(id, "a", t0 + chrono::Duration::seconds(60)), None);
        assert_eq!(cache.get(id, "b", t0), None);
        cache.evict(&id);
        assert_eq!(cache.get(id, "a", t0), None);
    }
}
