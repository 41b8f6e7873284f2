//! The order of the top-users ranking: a closed choice of field and direction, mapped to a
//! fixed `ORDER BY` clause over `users` (ties broken by normalized username, then id).

use drip_core::storage::model::{SortOrder, UsageSort};

/// The `ORDER BY` clause (without the keywords) of a ranking by `sort` in `order`.
#[must_use]
pub fn order_by(sort: UsageSort, order: SortOrder) -> &'static str {
    match (sort, order) {
        (UsageSort::MediaCount, SortOrder::Asc) => "media_count ASC, username_lower, id",
        (UsageSort::MediaCount, SortOrder::Desc) => "media_count DESC, username_lower, id",
        (UsageSort::DiskUsage, SortOrder::Asc) => "disk_usage ASC, username_lower, id",
        (UsageSort::DiskUsage, SortOrder::Desc) => "disk_usage DESC, username_lower, id",
        (UsageSort::Username, SortOrder::Asc) => "username_lower ASC, id ASC",
        (UsageSort::Username, SortOrder::Desc) => "username_lower DESC, id DESC",
    }
}
