//! The JSON shapes of the API (request and response bodies), built from the domain types
//! by hand; domain types themselves know nothing of serde.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use drip_core::accounts::AccountService;
use drip_core::accounts::model::{Owner, Session, SessionSummary};
use drip_core::events::PresenceEntry;
use drip_core::storage::model::{Allowance, FolderSummary, Media, Share, Usage, UserUsage};
use drip_core::storage::search::FileMatches;
use drip_core::{BackendError, TokenFamilyId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::schemas::{EmailSchema, FileNameSchema, FolderPathSchema, UsernameSchema};

/// RFC 3339 in UTC, e.g. `2024-01-01T00:00:00Z`.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The error body of `/api/v1`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub(crate) error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `not_found`.
    pub(crate) code: String,
    /// Human-readable message.
    pub(crate) message: String,
    /// The request id (also in the `x-request-id` header), to quote when reporting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// Machine-readable details, e.g. `{"fields":["email"]}` or `{"limit":1024}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) details: Option<Value>,
}

/// Registration form.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RegisterBody {
    /// 1–30 letters, digits, `_`, `-` or `.`; unique case-insensitively.
    #[schema(value_type = UsernameSchema)]
    pub(crate) username: String,
    /// Email address.
    #[schema(value_type = EmailSchema)]
    pub(crate) email: String,
    /// 8–100 characters.
    #[schema(min_length = 8, max_length = 100)]
    pub(crate) password: String,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    /// The username.
    pub(crate) username: String,
    /// The password.
    pub(crate) password: String,
}

/// The password that confirms closing one's own account.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CloseAccountBody {
    /// The user's password.
    pub(crate) password: String,
}

/// A new password for one's own account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePasswordBody {
    /// The password now.
    pub(crate) current_password: String,
    /// The new one: 8–100 characters.
    #[schema(min_length = 8, max_length = 100)]
    pub(crate) new_password: String,
}

/// A refresh token, to rotate or revoke.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RefreshBody {
    /// The refresh token a session handed out.
    pub(crate) refresh_token: String,
}

/// A user as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserDto {
    /// KSUID of the user.
    pub(crate) id: String,
    /// Username.
    pub(crate) username: String,
    /// Email address.
    pub(crate) email: String,
}

impl From<&Owner> for UserDto {
    fn from(owner: &Owner) -> Self {
        Self {
            id: owner.id.to_string(),
            username: owner.username.to_string(),
            email: owner.email.as_str().to_owned(),
        }
    }
}

/// A logged-in session.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionDto {
    /// Who is logged in.
    pub(crate) user: UserDto,
    /// Bearer token for `Authorization: Bearer ...`.
    pub(crate) access_token: String,
    /// Always `Bearer`.
    pub(crate) token_type: String,
    /// When the access token expires (RFC 3339).
    pub(crate) expires_at: String,
    /// Buys a new token pair once, at `POST /api/v1/sessions/refresh`.
    pub(crate) refresh_token: String,
    /// When the refresh token expires (RFC 3339).
    pub(crate) refresh_expires_at: String,
}

impl From<&Session> for SessionDto {
    fn from(session: &Session) -> Self {
        Self {
            user: UserDto::from(&session.owner),
            access_token: session.access_token.as_str().to_owned(),
            token_type: "Bearer".to_owned(),
            expires_at: timestamp(session.access_expires_at),
            refresh_token: session.refresh_token.expose().to_owned(),
            refresh_expires_at: timestamp(session.refresh_expires_at),
        }
    }
}

/// One open session of the user's.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenSessionDto {
    /// The session's id (to end it with `DELETE /api/v1/me/sessions/{id}`).
    pub(crate) id: String,
    /// What it was opened from, as the client described itself (its `User-Agent`), if it did.
    pub(crate) client: Option<String>,
    /// When it was opened (RFC 3339).
    pub(crate) started_at: String,
    /// When it last renewed its tokens (RFC 3339): a client in use renews at least once an
    /// access token's lifetime (15 minutes by default).
    pub(crate) last_active_at: String,
    /// When it ends unless renewed (RFC 3339).
    pub(crate) expires_at: String,
    /// Whether it is the session of the token asking.
    pub(crate) current: bool,
}

impl OpenSessionDto {
    /// `session` as `current` (the asking token's session) sees it.
    pub(crate) fn of(session: &SessionSummary, current: &TokenFamilyId) -> Self {
        Self {
            id: session.id.to_string(),
            client: session.client.as_ref().map(|c| c.as_str().to_owned()),
            started_at: timestamp(session.started_at),
            last_active_at: timestamp(session.last_active_at),
            expires_at: timestamp(session.expires_at),
            current: session.id == *current,
        }
    }
}

/// The user's open sessions, the most recently active first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionListDto {
    /// The sessions.
    pub(crate) sessions: Vec<OpenSessionDto>,
}

/// Files and bytes a user stored, and their quota.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UsageDto {
    /// Number of files the user created.
    pub(crate) media_count: u64,
    /// Their total size in bytes.
    pub(crate) disk_usage: u64,
    /// The user's storage quota in bytes; `null` when there is none.
    pub(crate) quota: Option<u64>,
    /// Bytes counted against the quota: stored files (the trash included) and what
    /// uploads under way have reserved.
    pub(crate) used: u64,
    /// Bytes still free (`quota - used`, 0 when the quota was lowered below it); `null`
    /// when there is no quota.
    pub(crate) available: Option<u64>,
}

impl UsageDto {
    pub(crate) fn new(usage: Usage, allowance: Allowance) -> Self {
        Self {
            media_count: usage.media_count,
            disk_usage: usage.disk_usage,
            quota: allowance.quota,
            used: allowance.used,
            available: allowance.available(),
        }
    }
}

/// A user in the usage ranking.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopUserDto {
    /// Username.
    pub(crate) username: String,
    /// Number of files.
    pub(crate) media_count: u64,
    /// Total bytes.
    pub(crate) disk_usage: u64,
}

impl From<&UserUsage> for TopUserDto {
    fn from(u: &UserUsage) -> Self {
        Self {
            username: u.username.to_string(),
            media_count: u.usage.media_count,
            disk_usage: u.usage.disk_usage,
        }
    }
}

/// The usage ranking.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopUsersDto {
    /// Users, ranked.
    pub(crate) users: Vec<TopUserDto>,
}

/// A stored file's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileDto {
    /// KSUID of the file.
    pub(crate) id: String,
    /// File name.
    pub(crate) name: String,
    /// The folder holding it, e.g. `$/photos` (the original's `full_path`).
    pub(crate) folder: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// MIME type.
    pub(crate) content_type: String,
    /// SHA-256 of the content, lowercase hex (also the download's `ETag`).
    pub(crate) sha256: Option<String>,
    /// KSUID of the user who stored it.
    pub(crate) creator_id: String,
    /// The username of who shared it with the viewer; absent on the viewer's own files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shared_by: Option<String>,
    /// When the upload finished (RFC 3339).
    pub(crate) uploaded_at: Option<String>,
    /// When the record was created (RFC 3339).
    pub(crate) created_at: String,
    /// When the record last changed (RFC 3339).
    pub(crate) updated_at: String,
}

/// The usernames of whoever shared files with one viewer, looked up once per sharer.
#[derive(Debug, Default)]
pub(crate) struct Sharers(HashMap<UserId, String>);

impl Sharers {
    /// The sharers of the files among `media` that `viewer` did not create.
    pub(crate) async fn of<'a>(
        accounts: &AccountService,
        viewer: &UserId,
        media: impl IntoIterator<Item = &'a Media>,
    ) -> Result<Self, BackendError> {
        let mut names = HashMap::new();
        for creator in media.into_iter().map(Media::creator).filter(|c| c != viewer) {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(creator) {
                // A sharer deleted since has no name to show: `shared_by` stays absent.
                if let Some(owner) = accounts.owner(&creator).await? {
                    slot.insert(owner.username.to_string());
                }
            }
        }
        Ok(Self(names))
    }

    /// `media` as the viewer sees it: a file someone shared says who.
    pub(crate) fn file(&self, media: &Media) -> FileDto {
        FileDto { shared_by: self.0.get(&media.creator()).cloned(), ..FileDto::from(media) }
    }
}

impl From<&Media> for FileDto {
    fn from(media: &Media) -> Self {
        Self {
            id: media.id().to_string(),
            name: media.name().to_string(),
            folder: media.folder().to_string(),
            size: media.size(),
            content_type: media.content_type().as_str().to_owned(),
            sha256: media.digest().map(|d| d.to_hex()),
            creator_id: media.creator().to_string(),
            shared_by: None,
            uploaded_at: media.uploaded_at().map(timestamp),
            created_at: timestamp(media.created_at()),
            updated_at: timestamp(media.updated_at()),
        }
    }
}

/// A subfolder in a listing, with totals over everything below it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FolderDto {
    /// Subfolder name (one segment).
    pub(crate) name: String,
    /// Number of files anywhere below it.
    pub(crate) files: u64,
    /// Their total size in bytes.
    pub(crate) size: u64,
}

impl From<&FolderSummary> for FolderDto {
    fn from(f: &FolderSummary) -> Self {
        Self { name: f.name.to_string(), files: f.file_count, size: f.total_size }
    }
}

/// One page of a folder.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FolderListingDto {
    /// The folder listed.
    pub(crate) path: String,
    /// Files directly in it, by name (one page).
    pub(crate) files: Vec<FileDto>,
    /// Immediate subfolders by name (on the first page only).
    pub(crate) folders: Vec<FolderDto>,
    /// Pass as `cursor` to get the next page of files; absent on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// One page of files.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FilePageDto {
    /// Files, by name.
    pub(crate) items: Vec<FileDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// A move and/or rename: one of the fields or both; `null` and other fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub(crate) struct PatchFileBody {
    /// The folder to move the file to.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = FolderPathSchema, required = false)]
    pub(crate) folder: Option<String>,
    /// The new name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = FileNameSchema, required = false)]
    pub(crate) name: Option<String>,
}

/// An optional field that, when present, is a string (not `null`).
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// Whom to share a file with.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ShareBody {
    /// Their username (one that cannot exist is `user_not_found`, like an unknown one).
    #[schema(value_type = UsernameSchema)]
    pub(crate) username: String,
}

/// A share of a file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShareDto {
    /// The user it is shared with.
    pub(crate) username: String,
    /// Their id.
    pub(crate) user_id: String,
    /// When it was shared (RFC 3339).
    pub(crate) shared_at: String,
}

impl From<&Share> for ShareDto {
    fn from(s: &Share) -> Self {
        Self {
            username: s.sharee.username.to_string(),
            user_id: s.sharee.id.to_string(),
            shared_at: timestamp(s.created_at),
        }
    }
}

/// The shares of a file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SharesDto {
    /// Shares, by username.
    pub(crate) shares: Vec<ShareDto>,
}

/// The people the user shares files with and who share files with them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SharePartnersDto {
    /// Latest share first, at most 50.
    pub(crate) users: Vec<SharePartnerDto>,
}

/// Someone the user shares files with, or who shares files with them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SharePartnerDto {
    /// Their username.
    pub(crate) username: String,
    /// Their id.
    pub(crate) user_id: String,
}

impl From<&Owner> for SharePartnerDto {
    fn from(owner: &Owner) -> Self {
        Self { username: owner.username.to_string(), user_id: owner.id.to_string() }
    }
}

/// One matching line.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LineDto {
    /// 1-based line number.
    pub(crate) line_no: u64,
    /// The line.
    pub(crate) line: String,
}

/// The matches in one file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchMatchDto {
    /// The file.
    pub(crate) file: FileDto,
    /// Its matching lines, in order.
    pub(crate) lines: Vec<LineDto>,
}

impl SearchMatchDto {
    /// The matches of one file, as the viewer of `sharers` sees it.
    pub(crate) fn seen(m: &FileMatches, sharers: &Sharers) -> Self {
        Self {
            file: sharers.file(&m.media),
            lines: m.lines.iter().map(|l| LineDto { line_no: l.line_no, line: l.line.clone() }).collect(),
        }
    }
}

/// What a search found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchDto {
    /// Files with matching lines, by name.
    pub(crate) matches: Vec<SearchMatchDto>,
    /// Ids of files whose search ran out of time (results missing).
    pub(crate) timed_out: Vec<String>,
    /// Ids of files that could not be read (results missing).
    pub(crate) failed: Vec<String>,
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthDto {
    /// Always `ok`.
    pub(crate) status: String,
    /// The server's time (RFC 3339).
    pub(crate) time: String,
    /// This node's name.
    pub(crate) node: String,
    /// The host it runs on.
    pub(crate) hostname: String,
    /// The other nodes it currently sees alive, by name (empty on its own).
    pub(crate) connected_to: Vec<String>,
}

/// Readiness: each checked component and its state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadyDto {
    /// `ready` or `unavailable`.
    pub(crate) status: String,
    /// Component name → `ok` | `failed` | `timeout`.
    pub(crate) checks: std::collections::BTreeMap<String, String>,
}

/// An online user in a presence frame.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PresenceDto {
    /// The user's id.
    pub(crate) user_id: String,
    /// Their username.
    pub(crate) username: String,
    /// Their open connections (0 in a leave: offline).
    pub(crate) count: usize,
}

impl From<&PresenceEntry> for PresenceDto {
    fn from(e: &PresenceEntry) -> Self {
        Self { user_id: e.user_id.to_string(), username: e.username.to_string(), count: e.connections }
    }
}

/// A file in the original's listing.
#[derive(Debug, Serialize)]
pub(crate) struct LegacyFileDto {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) full_path: String,
    pub(crate) size: u64,
}

/// A folder in the original's listing.
#[derive(Debug, Serialize)]
pub(crate) struct LegacyFolderDto {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) files: u64,
}

/// The original's listing, inside `{"response": ...}`.
#[derive(Debug, Serialize)]
pub(crate) struct LegacyListingDto {
    pub(crate) files: Vec<LegacyFileDto>,
    pub(crate) folders: Vec<LegacyFolderDto>,
}

/// The original's `{"response": ...}` envelope.
#[derive(Debug, Serialize)]
pub(crate) struct LegacyResponse<T> {
    pub(crate) response: T,
}
