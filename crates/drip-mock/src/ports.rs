//! `fake_ports`: the ports of both services wired with fakes, plus handles to inspect them.

use drip_core::uploads::{UploadService, UploadSettings};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use drip_core::accounts::{AccountPorts, AccountService, SessionSettings};
use drip_core::archives::{ArchivePorts, ArchiveService, ArchiveSettings};
use drip_core::jobs::runner::{JobPorts, JobRunner, JobSettings, JobWaker};
use drip_core::links::{LinkPorts, LinkService, LinkSettings};
use drip_core::storage::{StoragePorts, StorageService, StorageSettings};

use crate::auth::{FakeTokenIssuer, FastPasswordHasher};
use crate::clock::FixedClock;
use crate::keys::MemoryKeyWrapper;
use crate::notifier::RecordingNotifier;
use drip_memory::{MemoryRepositories, MemoryStorage};

/// Every port of Drip wired with a fake, as [`AccountPorts`] and [`StoragePorts`] over the
/// same store, clock and notifier, with typed handles for tests to steer and inspect them.
#[derive(Clone)]
pub struct FakePorts {
    /// The accounts service's ports.
    pub account_ports: AccountPorts,
    /// The storage service's ports.
    pub storage_ports: StoragePorts,
    /// The link service's ports.
    pub link_ports: LinkPorts,
    /// The job runner's ports (the repositories' queue, the object store, the clock).
    pub job_ports: JobPorts,
    /// The archive service's ports (besides the storage service it reads files through).
    pub archive_ports: ArchivePorts,
    /// The repositories behind both (for inspection, e.g. `all_media`).
    pub repositories: MemoryRepositories,
    /// The clock of both services: set or advance it.
    pub clock: Arc<FixedClock>,
    /// The object store.
    pub objects: Arc<MemoryStorage>,
    /// What the storage service published.
    pub notifier: Arc<RecordingNotifier>,
    /// The master keys (current id `k1`).
    pub keys: Arc<MemoryKeyWrapper>,
    /// The access-token issuer.
    pub tokens: Arc<FakeTokenIssuer>,
    /// The password hasher.
    pub hasher: Arc<FastPasswordHasher>,
}

impl std::fmt::Debug for FakePorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePorts")
            .field("clock", &self.clock)
            .field("objects", &self.objects.len())
            .finish_non_exhaustive()
    }
}

impl FakePorts {
    /// An [`AccountService`] over these ports with default session settings.
    #[must_use]
    pub fn account_service(&self) -> AccountService {
        AccountService::new(self.account_ports.clone(), SessionSettings::default())
    }

    /// Runs every job due now (e.g. the removal of a deleted file's object, the purge of a
    /// trashed one) with the default retry policy; answers how many attempts ran.
    ///
    /// # Panics
    /// If the memory queue fails (a panic poisoned it).
    #[allow(clippy::expect_used)]
    pub async fn run_jobs(&self) -> usize {
        self.runner().run_due().await.expect("the memory job queue does not fail")
    }

    /// A runner over these ports with the default retry policy, purging the trash through
    /// a storage service with default settings.
    fn runner(&self) -> JobRunner {
        JobRunner::new(self.job_ports.clone(), JobSettings::default(), JobWaker::default())
            .with_trash(self.storage_service(StorageSettings::default()))
    }

    /// A [`LinkService`] over these ports, streaming through `storage`.
    #[must_use]
    pub fn link_service(&self, storage: StorageService, settings: LinkSettings) -> LinkService {
        LinkService::new(self.link_ports.clone(), storage, settings)
    }

    /// An [`ArchiveService`] over these ports, reading files through `storage`.
    #[must_use]
    pub fn archive_service(&self, storage: StorageService, settings: ArchiveSettings) -> ArchiveService {
        ArchiveService::new(self.archive_ports.clone(), storage, settings)
    }

    /// Runs every job due now with the default retry policy, archive jobs through
    /// `archives`; answers how many attempts ran.
    ///
    /// # Panics
    /// If the memory queue fails (a panic poisoned it).
    #[allow(clippy::expect_used)]
    pub async fn run_jobs_with(&self, archives: &ArchiveService) -> usize {
        let runner = self.runner().with_archives(archives.clone());
        runner.run_due().await.expect("the memory job queue does not fail")
    }

    /// An [`UploadService`] over these ports' upload repository, storing through
    /// `storage`.
    #[must_use]
    pub fn upload_service(&self, storage: StorageService, settings: UploadSettings) -> UploadService {
        UploadService::new(Arc::new(self.repositories.uploads()), storage, settings)
    }

    /// Runs every job due now with the default retry policy, upload expiries through
    /// `uploads`; answers how many attempts ran.
    ///
    /// # Panics
    /// If the memory queue fails (a panic poisoned it).
    #[allow(clippy::expect_used)]
    pub async fn run_jobs_with_uploads(&self, uploads: &UploadService) -> usize {
        let runner = JobRunner::new(self.job_ports.clone(), JobSettings::default(), JobWaker::default())
            .with_uploads(uploads.clone());
        runner.run_due().await.expect("the memory job queue does not fail")
    }

    /// A [`StorageService`] over these ports with `settings`.
    #[must_use]
    pub fn storage_service(&self, settings: StorageSettings) -> StorageService {
        StorageService::new(self.storage_ports.clone(), settings)
    }
}

/// Fakes of every port, with the clock at [`FixedClock::epoch`].
#[must_use]
pub fn fake_ports() -> FakePorts {
    fake_ports_at(FixedClock::epoch())
}

/// Fakes of every port, with the clock at `now`.
#[must_use]
pub fn fake_ports_at(now: DateTime<Utc>) -> FakePorts {
    let repositories = MemoryRepositories::new();
    let clock = Arc::new(FixedClock::new(now));
    let objects = Arc::new(MemoryStorage::new());
    let notifier = Arc::new(RecordingNotifier::new());
    let keys = Arc::new(MemoryKeyWrapper::default());
    let tokens = Arc::new(FakeTokenIssuer::new());
    let hasher = Arc::new(FastPasswordHasher::new());
    let accounts = Arc::new(repositories.accounts());
    let account_ports = AccountPorts {
        accounts: accounts.clone(),
        hasher: hasher.clone(),
        tokens: tokens.clone(),
        clock: clock.clone(),
    };
    let storage_ports = StoragePorts {
        media: Arc::new(repositories.media()),
        accounts,
        storage: objects.clone(),
        keys: keys.clone(),
        notifier: notifier.clone(),
        clock: clock.clone(),
    };
    let link_ports = LinkPorts {
        links: Arc::new(repositories.links()),
        media: Arc::clone(&storage_ports.media),
        accounts: Arc::clone(&storage_ports.accounts),
        hasher: hasher.clone(),
        notifier: notifier.clone(),
        clock: clock.clone(),
    };
    let job_ports =
        JobPorts { queue: Arc::new(repositories.jobs()), storage: objects.clone(), clock: clock.clone() };
    let archive_ports = ArchivePorts {
        archives: Arc::new(repositories.archives()),
        objects: objects.clone(),
        keys: keys.clone(),
        notifier: notifier.clone(),
        clock: clock.clone(),
    };
    FakePorts {
        account_ports,
        storage_ports,
        link_ports,
        job_ports,
        archive_ports,
        repositories,
        clock,
        objects,
        notifier,
        keys,
        tokens,
        hasher,
    }
}
