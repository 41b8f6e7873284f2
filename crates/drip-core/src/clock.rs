//! The `Clock` port: the current time and fresh identifiers, deterministic in tests.

use chrono::{DateTime, Utc};

use crate::ids::{Ksuid, MediaId, TokenFamilyId, UserId};

/// Time and identity source of the services.
///
/// Services never read the system clock or generate ids themselves, so tests can fix
/// both (`drip-mock` has a steppable clock).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// A fresh, unguessable KSUID created at [`Clock::now`].
    fn new_ksuid(&self) -> Ksuid;
}

/// Convenience constructors of typed ids on top of any [`Clock`].
pub trait ClockExt: Clock {
    /// A fresh user id.
    fn new_user_id(&self) -> UserId {
        UserId::from_ksuid(self.new_ksuid())
    }
    /// A fresh media id.
    fn new_media_id(&self) -> MediaId {
        MediaId::from_ksuid(self.new_ksuid())
    }
    /// A fresh refresh-token family id.
    fn new_family_id(&self) -> TokenFamilyId {
        TokenFamilyId::from_ksuid(self.new_ksuid())
    }
}

impl<T: Clock + ?Sized> ClockExt for T {}

/// The production clock: system time and CSPRNG-backed KSUIDs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn new_ksuid(&self) -> Ksuid {
        Ksuid::generate(Utc::now())
    }
}
