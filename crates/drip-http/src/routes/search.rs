//! Search and ranking routes of `/api/v1`: text search over visible files' contents and
//! names, and the top users by usage.

use axum::Json;
use axum::extract::State;
use drip_core::storage::model::{MAX_TOP_USERS, Media, SortOrder, UsageSort};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::cursor;
use crate::dto::{ErrorBody, FileDto, SearchDto, SearchMatchDto, Sharers, TopUserDto, TopUsersDto};
use crate::error::ApiError;
use crate::extract::{AuthUser, Params};
use crate::openapi::Unauthenticated;
use crate::routes::files::folder_or_root;
use crate::schemas::{FolderQuerySchema, SortOrderSchema, TopLimitSchema, UsageSortSchema};
use crate::state::AppState;

/// How many users a ranking holds when the client names no `limit`.
pub(crate) const DEFAULT_TOP_USERS: u32 = 10;

/// What to search for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// A regular expression matched against each line.
    #[param(required = true, min_length = 1)]
    q: Option<String>,
    /// Only files in this folder or below it (default `$`).
    #[param(value_type = Option<FolderQuerySchema>)]
    folder: Option<String>,
}

/// What names to look for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NameSearchQuery {
    /// Text a file's name holds, in any case (plain text, not an expression).
    #[param(required = true, min_length = 1)]
    q: Option<String>,
    /// Only files in this folder or below it (default `$`).
    #[param(value_type = Option<FolderQuerySchema>)]
    folder: Option<String>,
}

/// Files whose names matched.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NameSearchDto {
    /// The files, by name, at most 200.
    files: Vec<FileDto>,
    /// Whether more files matched than are listed.
    truncated: bool,
}

/// A search's `q`, which must be there and not empty.
fn required_q(q: Option<String>) -> Result<String, ApiError> {
    q.filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_query", "the `q` query parameter is required"))
}

/// How to rank users.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TopQuery {
    /// `media_count` (default), `disk_usage` or `username`.
    #[param(value_type = Option<UsageSortSchema>)]
    sort: Option<String>,
    /// `desc` (default) or `asc`.
    #[param(value_type = Option<SortOrderSchema>)]
    order: Option<String>,
    /// How many users, 1 to 100 (default 10).
    #[param(value_type = Option<TopLimitSchema>)]
    limit: Option<u32>,
}

/// Searches every file the user sees for lines matching a regular expression. Files are
/// searched a few at a time, each within a time limit; those that time out or fail are
/// listed and the others' results returned anyway.
#[utoipa::path(
    get, path = "/api/v1/search",
    security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, description = "Matches (possibly partial)", body = SearchDto),
        (status = 400, description = "`invalid_pattern`, `pattern_too_large`, `invalid_path`, `invalid_query`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    user: AuthUser,
    Params(query): Params<SearchQuery>,
) -> Result<Json<SearchDto>, ApiError> {
    let pattern = required_q(query.q)?;
    let folder = folder_or_root(query.folder.as_deref())?;
    let results = state.storage().search(&user.id, &pattern, &folder).await?;
    let found: Vec<&Media> = results.matches.iter().map(|m| &m.media).collect();
    let sharers = Sharers::of(state.accounts(), &user.id, found).await?;
    Ok(Json(SearchDto {
        matches: results.matches.iter().map(|m| SearchMatchDto::seen(m, &sharers)).collect(),
        timed_out: results.timed_out.iter().map(ToString::to_string).collect(),
        failed: results.failed.iter().map(ToString::to_string).collect(),
    }))
}

/// Finds the files the user sees (their own and those shared with them) whose name holds
/// a text, ignoring case: what a file-name search box sends.
#[utoipa::path(
    get, path = "/api/v1/search/names",
    security(("bearer" = [])),
    params(NameSearchQuery),
    responses(
        (status = 200, description = "The files found", body = NameSearchDto),
        (status = 400, description = "`invalid_path`, `invalid_query`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn search_names(
    State(state): State<AppState>,
    user: AuthUser,
    Params(query): Params<NameSearchQuery>,
) -> Result<Json<NameSearchDto>, ApiError> {
    let text = required_q(query.q)?;
    let folder = folder_or_root(query.folder.as_deref())?;
    let found = state.storage().find_names(&user.id, &text, &folder).await?;
    let sharers = Sharers::of(state.accounts(), &user.id, &found.files).await?;
    Ok(Json(NameSearchDto {
        files: found.files.iter().map(|m| sharers.file(m)).collect(),
        truncated: found.truncated,
    }))
}

/// Users ranked by usage (users without files count 0).
#[utoipa::path(
    get, path = "/api/v1/users/top",
    security(("bearer" = [])),
    params(TopQuery),
    responses(
        (status = 200, description = "The ranking", body = TopUsersDto),
        (status = 400, description = "`invalid_sort`, `invalid_order`, `invalid_query`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn top_users(
    State(state): State<AppState>,
    _user: AuthUser,
    Params(query): Params<TopQuery>,
) -> Result<Json<TopUsersDto>, ApiError> {
    let sort = match query.sort.as_deref() {
        None => UsageSort::default(),
        Some(text) => UsageSort::parse(text).ok_or_else(|| {
            ApiError::bad_request("invalid_sort", "sort by `media_count`, `disk_usage` or `username`")
        })?,
    };
    let order = cursor::sort_order(query.order.as_deref(), SortOrder::default())?;
    let limit = cursor::bounded_limit(query.limit, DEFAULT_TOP_USERS, MAX_TOP_USERS)?;
    let users = state.storage().top_users(sort, order, limit).await?;
    Ok(Json(TopUsersDto { users: users.iter().map(TopUserDto::from).collect() }))
}
