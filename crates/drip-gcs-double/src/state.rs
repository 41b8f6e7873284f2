//! The double's memory: objects, multipart uploads in progress, fault rules and the request
//! log, behind one lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::{Fault, GcsDoubleOptions, Operation, RecordedRequest};

/// First generation number handed out (GCS generations are microsecond timestamps).
const FIRST_GENERATION: u64 = 1_700_000_000_000_000;

/// A stored object.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) data: Bytes,
    pub(crate) etag: String,
    pub(crate) generation: u64,
    pub(crate) content_type: String,
    pub(crate) updated: DateTime<Utc>,
}

/// One uploaded part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) data: Bytes,
    pub(crate) etag: String,
}

/// A multipart upload in progress.
#[derive(Debug)]
struct Upload {
    object: String,
    content_type: String,
    parts: BTreeMap<u32, Part>,
}

/// Why a multipart upload cannot be completed as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompleteError {
    NoSuchUpload,
    InvalidPartOrder,
    InvalidPart(u32),
    EntityTooSmall(u32),
    Empty,
}

/// Why a conditional put was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreconditionFailed;

#[derive(Debug, Default)]
struct Memory {
    objects: BTreeMap<String, Object>,
    uploads: HashMap<String, Upload>,
    counter: u64,
    faults: Vec<Fault>,
    log: Vec<RecordedRequest>,
}

impl Memory {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn new_etag(&mut self) -> String {
        let n = self.next();
        format!("\"{:032x}\"", u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
    }

    fn store(&mut self, name: &str, data: Bytes, content_type: String, etag: String) -> Object {
        let generation = FIRST_GENERATION + self.next();
        let object = Object { data, etag, generation, content_type, updated: Utc::now() };
        self.objects.insert(name.to_owned(), object.clone());
        object
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    bucket: String,
    base_url: String,
    min_part_size: usize,
    memory: Mutex<Memory>,
    /// How many requests the log holds, for [`Shared::requests_until`].
    logged: tokio::sync::watch::Sender<usize>,
}

impl Shared {
    pub(crate) fn new(options: GcsDoubleOptions, base_url: String) -> Self {
        Self {
            bucket: options.bucket,
            base_url,
            min_part_size: options.min_part_size,
            memory: Mutex::default(),
            logged: tokio::sync::watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether `id` is an upload in progress of object `name`.
    pub(crate) fn in_progress_upload_exists(&self, name: &str, id: &str) -> bool {
        self.lock().uploads.get(id).is_some_and(|u| u.object == name)
    }

    pub(crate) fn in_progress_uploads(&self) -> usize {
        self.lock().uploads.len()
    }

    pub(crate) fn object(&self, name: &str) -> Option<Bytes> {
        self.lock().objects.get(name).map(|o| o.data.clone())
    }

    pub(crate) fn object_meta(&self, name: &str) -> Option<Object> {
        self.lock().objects.get(name).cloned()
    }

    pub(crate) fn object_names(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    /// All objects whose name starts with `prefix`, by name.
    pub(crate) fn objects_with_prefix(&self, prefix: &str) -> Vec<(String, Object)> {
        self.lock()
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, object)| (name.clone(), object.clone()))
            .collect()
    }

    pub(crate) fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().log.clone()
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        let logged = {
            let mut memory = self.lock();
            memory.log.push(request);
            memory.log.len()
        };
        self.logged.send_replace(logged);
    }

    /// Waits until the request log satisfies `done`, checking it after each request.
    pub(crate) async fn requests_until(&self, done: impl Fn(&[RecordedRequest]) -> bool) {
        let mut logged = self.logged.subscribe();
        while !done(&self.lock().log) {
            // The sender lives in `self`: the wait cannot fail.
            let _ = logged.changed().await;
        }
    }

    /// The status of the first fault rule matching `operation`, consuming one use of it.
    pub(crate) fn take_fault(&self, operation: Operation) -> Option<u16> {
        let mut memory = self.lock();
        let index = memory.faults.iter().position(|f| f.operation.is_none_or(|op| op == operation))?;
        let fault = &mut memory.faults[index];
        let status = fault.status;
        match &mut fault.remaining {
            None => {}
            Some(1) => {
                memory.faults.remove(index);
            }
            Some(remaining) => *remaining -= 1,
        }
        Some(status)
    }

    /// Stores an object, honouring `x-goog-if-generation-match` (0: only if absent).
    pub(crate) fn put_object(
        &self,
        name: &str,
        data: Bytes,
        content_type: String,
        if_generation_match: Option<u64>,
    ) -> Result<Object, PreconditionFailed> {
        let mut memory = self.lock();
        let current = memory.objects.get(name).map(|o| o.generation);
        match (if_generation_match, current) {
            (None, _) | (Some(0), None) => {}
            (Some(wanted), Some(generation)) if wanted == generation => {}
            _ => return Err(PreconditionFailed),
        }
        let etag = memory.new_etag();
        Ok(memory.store(name, data, content_type, etag))
    }

    /// Deletes an object; answers whether there was one.
    pub(crate) fn delete_object(&self, name: &str) -> bool {
        self.lock().objects.remove(name).is_some()
    }

    /// Starts a multipart upload; answers its id.
    pub(crate) fn initiate_upload(&self, name: &str, content_type: String) -> String {
        let mut memory = self.lock();
        let id = format!("drip-double-upload-{:016x}", memory.next());
        memory
            .uploads
            .insert(id.clone(), Upload { object: name.to_owned(), content_type, parts: BTreeMap::new() });
        id
    }

    /// Stores a part of the upload `id` of object `name`; answers its ETag, or `None` for
    /// an unknown upload.
    pub(crate) fn upload_part(&self, name: &str, id: &str, number: u32, data: Bytes) -> Option<String> {
        let mut memory = self.lock();
        if memory.uploads.get(id).is_none_or(|u| u.object != name) {
            return None;
        }
        let etag = memory.new_etag();
        let upload = memory.uploads.get_mut(id)?;
        upload.parts.insert(number, Part { data, etag: etag.clone() });
        Some(etag)
    }

    /// Completes an upload from the listed `(part number, etag)` pairs: the object appears
    /// now, in one step, and the upload is gone.
    pub(crate) fn complete_upload(
        &self,
        name: &str,
        id: &str,
        listed: &[(u32, String)],
    ) -> Result<Object, CompleteError> {
        let mut memory = self.lock();
        let upload =
            memory.uploads.get(id).filter(|u| u.object == name).ok_or(CompleteError::NoSuchUpload)?;
        if listed.is_empty() {
            return Err(CompleteError::Empty);
        }
        if listed.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(CompleteError::InvalidPartOrder);
        }
        let mut chosen = Vec::with_capacity(listed.len());
        for (number, etag) in listed {
            let part = upload
                .parts
                .get(number)
                .filter(|part| part.etag.trim_matches('"') == etag.trim().trim_matches('"'))
                .ok_or(CompleteError::InvalidPart(*number))?;
            chosen.push((*number, part));
        }
        let last = chosen.len() - 1;
        if let Some((number, _)) =
            chosen.iter().take(last).find(|(_, part)| part.data.len() < self.min_part_size)
        {
            return Err(CompleteError::EntityTooSmall(*number));
        }
        let mut data = BytesMut::with_capacity(chosen.iter().map(|(_, p)| p.data.len()).sum());
        for (_, part) in &chosen {
            data.extend_from_slice(&part.data);
        }
        let content_type = upload.content_type.clone();
        let etag = {
            let tag = memory.new_etag();
            format!("{}-{}\"", tag.trim_end_matches('"'), listed.len())
        };
        memory.uploads.remove(id);
        Ok(memory.store(name, data.freeze(), content_type, etag))
    }

    /// Aborts an upload; answers whether it existed.
    pub(crate) fn abort_upload(&self, name: &str, id: &str) -> bool {
        let mut memory = self.lock();
        if memory.uploads.get(id).is_some_and(|u| u.object == name) {
            memory.uploads.remove(id);
            true
        } else {
            false
        }
    }
}
