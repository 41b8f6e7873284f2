//! Jobs: what to do ([`Task`]), where a job stands ([`JobState`]), and the records the
//! queue keeps ([`Job`], [`NewJob`], [`JobStats`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ids::{ArchiveId, ClaimToken, JobId, MediaId, UploadId};
use crate::storage::model::StorageKey;

/// What a job does. A closed set: a new kind of work is a new variant and its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Delete the object of a media whose metadata is already gone.
    DeleteObject {
        /// The object.
        key: StorageKey,
    },
    /// Remove what an abandoned upload (its record already reclaimed) left in the store:
    /// its object, if it was complete, and its unfinished parts or staging files.
    ReclaimUpload {
        /// The upload's object.
        key: StorageKey,
    },
    /// Build a requested folder archive (from scratch: a new attempt replaces what an
    /// earlier one left).
    BuildArchive {
        /// The archive.
        archive: ArchiveId,
    },
    /// Remove an expired folder archive: its object, then its record.
    PurgeArchive {
        /// The archive.
        archive: ArchiveId,
    },
    /// End a resumable upload at its expiry: remove it unless it completed, then every
    /// part object left of it.
    ExpireUpload {
        /// The upload.
        upload: UploadId,
    },
    /// Purge a media from its creator's trash once its time has come: nothing when it was
    /// restored (or trashed again later, with a later purge time) in the meantime.
    PurgeTrashed {
        /// The trashed media.
        media: MediaId,
    },
}

/// The kind of a [`Task`], as stored and shown (`delete_object`, `reclaim_upload`,
/// `build_archive`, `purge_archive`, `expire_upload`, `purge_trashed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskKind {
    /// [`Task::DeleteObject`].
    DeleteObject,
    /// [`Task::ReclaimUpload`].
    ReclaimUpload,
    /// [`Task::BuildArchive`].
    BuildArchive,
    /// [`Task::PurgeArchive`].
    PurgeArchive,
    /// [`Task::ExpireUpload`].
    ExpireUpload,
    /// [`Task::PurgeTrashed`].
    PurgeTrashed,
}

impl TaskKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 6] = [
        Self::DeleteObject,
        Self::ReclaimUpload,
        Self::BuildArchive,
        Self::PurgeArchive,
        Self::ExpireUpload,
        Self::PurgeTrashed,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeleteObject => "delete_object",
            Self::ReclaimUpload => "reclaim_upload",
            Self::BuildArchive => "build_archive",
            Self::PurgeArchive => "purge_archive",
            Self::ExpireUpload => "expire_upload",
            Self::PurgeTrashed => "purge_trashed",
        }
    }

    /// The kind of a stored name.
    ///
    /// # Errors
    /// [`InvalidTask`] for an unknown name.
    pub fn parse(text: &str) -> Result<Self, InvalidTask> {
        Self::ALL.into_iter().find(|k| k.as_str() == text).ok_or(InvalidTask("unknown kind"))
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored task that does not describe one (unknown kind, missing or invalid field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid task: {0}")]
pub struct InvalidTask(&'static str);

impl Task {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> TaskKind {
        match self {
            Self::DeleteObject { .. } => TaskKind::DeleteObject,
            Self::ReclaimUpload { .. } => TaskKind::ReclaimUpload,
            Self::BuildArchive { .. } => TaskKind::BuildArchive,
            Self::PurgeArchive { .. } => TaskKind::PurgeArchive,
            Self::ExpireUpload { .. } => TaskKind::ExpireUpload,
            Self::PurgeTrashed { .. } => TaskKind::PurgeTrashed,
        }
    }

    /// Its arguments as a JSON object, as a queue stores them next to the kind.
    #[must_use]
    pub fn payload(&self) -> Map<String, Value> {
        let mut out = Map::new();
        match self {
            Self::DeleteObject { key } | Self::ReclaimUpload { key } => {
                out.insert("key".into(), key.as_str().into());
            }
            Self::BuildArchive { archive } | Self::PurgeArchive { archive } => {
                out.insert("archive".into(), archive.to_string().into());
            }
            Self::ExpireUpload { upload } => {
                out.insert("upload".into(), upload.to_string().into());
            }
            Self::PurgeTrashed { media } => {
                out.insert("media".into(), media.to_string().into());
            }
        }
        out
    }

    /// The task a queue stored as `kind` and `payload`.
    ///
    /// # Errors
    /// [`InvalidTask`] when they do not describe a task.
    pub fn from_stored(kind: &str, payload: &Map<String, Value>) -> Result<Self, InvalidTask> {
        let text = |field: &'static str| payload.get(field).and_then(Value::as_str).ok_or(InvalidTask(field));
        let key = || StorageKey::parse(text("key")?).map_err(|_| InvalidTask("key"));
        let archive = || ArchiveId::parse(text("archive")?).map_err(|_| InvalidTask("archive"));
        let upload = || UploadId::parse(text("upload")?).map_err(|_| InvalidTask("upload"));
        let media = || MediaId::parse(text("media")?).map_err(|_| InvalidTask("media"));
        Ok(match TaskKind::parse(kind)? {
            TaskKind::DeleteObject => Self::DeleteObject { key: key()? },
            TaskKind::ReclaimUpload => Self::ReclaimUpload { key: key()? },
            TaskKind::BuildArchive => Self::BuildArchive { archive: archive()? },
            TaskKind::PurgeArchive => Self::PurgeArchive { archive: archive()? },
            TaskKind::ExpireUpload => Self::ExpireUpload { upload: upload()? },
            TaskKind::PurgeTrashed => Self::PurgeTrashed { media: media()? },
        })
    }
}

/// Where a job stands. A job that succeeds is removed from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Waiting for its `run_at`, then for a worker.
    Queued,
    /// Claimed by a worker until its lease ends (then claimable again).
    Running,
    /// Failed too often; kept with its last error until retried by hand.
    Dead,
}

impl JobState {
    /// Every state, in a fixed order.
    pub const ALL: [Self; 3] = [Self::Queued, Self::Running, Self::Dead];

    /// The stored name (`queued`, `running`, `dead`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Dead => "dead",
        }
    }

    /// The state of a stored name.
    ///
    /// # Errors
    /// [`InvalidTask`] for an unknown name.
    pub fn parse(text: &str) -> Result<Self, InvalidTask> {
        Self::ALL.into_iter().find(|s| s.as_str() == text).ok_or(InvalidTask("unknown state"))
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub task: Task,
    /// When it is due.
    pub run_at: DateTime<Utc>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

impl NewJob {
    /// The job as a queue keeps it once enqueued: queued, due at `run_at`, never attempted.
    #[must_use]
    pub fn queued(&self) -> Job {
        Job {
            id: self.id,
            task: self.task.clone(),
            state: JobState::Queued,
            attempts: 0,
            run_at: self.run_at,
            lease_until: None,
            last_error: None,
            created_at: self.created_at,
        }
    }
}

/// A worker's hold on a job: the job and the token of the claim (see
/// [`JobQueue::claim`](super::ports::JobQueue::claim)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The job.
    pub job: JobId,
    /// The token it was claimed under.
    pub token: ClaimToken,
}

/// A job as the queue keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub task: Task,
    /// Where it stands.
    pub state: JobState,
    /// How many times it was claimed.
    pub attempts: u32,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// While running: when its claim lapses.
    pub lease_until: Option<DateTime<Utc>>,
    /// The error of its last failed attempt.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// How many jobs of one kind are in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCount {
    /// The kind.
    pub kind: TaskKind,
    /// The state.
    pub state: JobState,
    /// How many.
    pub count: u64,
}

/// The queue at a glance (for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Counts per kind and state; kinds and states without jobs are left out.
    pub counts: Vec<JobCount>,
    /// The `run_at` of the oldest queued job.
    pub oldest_queued: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Ksuid;
    use crate::storage::model::FileName;

    fn key() -> StorageKey {
        let now = Utc::now();
        StorageKey::new(MediaId::from_ksuid(Ksuid::generate(now)), now, &FileName::parse("a.txt").unwrap())
    }

    #[test]
    fn tasks_round_trip_through_their_stored_form() {
        let archive = ArchiveId::from_ksuid(Ksuid::generate(Utc::now()));
        for task in [
            Task::DeleteObject { key: key() },
            Task::ReclaimUpload { key: key() },
            Task::BuildArchive { archive },
            Task::PurgeArchive { archive },
            Task::PurgeTrashed { media: MediaId::from_ksuid(Ksuid::generate(Utc::now())) },
        ] {
            assert_eq!(Task::from_stored(task.kind().as_str(), &task.payload()), Ok(task));
        }
    }

    #[test]
    fn stored_tasks_are_validated() {
        let mut payload = Map::new();
        assert_eq!(Task::from_stored("nope", &payload), Err(InvalidTask("unknown kind")));
        assert_eq!(Task::from_stored("delete_object", &payload), Err(InvalidTask("key")));
        payload.insert("key".into(), "not a key".into());
        assert_eq!(Task::from_stored("delete_object", &payload), Err(InvalidTask("key")));
        payload.insert("key".into(), key().as_str().into());
        assert!(Task::from_stored("delete_object", &payload).is_ok());
        assert_eq!(Task::from_stored("build_archive", &payload), Err(InvalidTask("archive")));
        payload.insert("archive".into(), "not an id".into());
        assert_eq!(Task::from_stored("purge_archive", &payload), Err(InvalidTask("archive")));
        assert_eq!(Task::from_stored("purge_trashed", &payload), Err(InvalidTask("media")));
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Ok(state));
        }
        assert!(JobState::parse("done").is_err());
    }
}
