//! Real-time events over a WebSocket (the book's Phoenix channels): the user's own
//! `upload`, `share` and `download` events with the original's messages, presence of
//! online users with connection counts, and the `share` push.
//!
//! Frames are JSON text: `{"event":"upload","payload":{"message":"...","media_id":"..."}}`,
//! `{"event":"presence_state","payload":[{"user_id","username","count"}]}` on connect,
//! `{"event":"presence_diff","payload":{"joins":[...],"leaves":[...]}}` as they happen.
//! A client may push `{"event":"share","payload":{"username":"u","file_id":"..."}}`; a
//! success arrives as the `share` event every connection of the sharer gets, a failure
//! is answered on the pushing connection with the original's text.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use drip_core::accounts::error::AuthError;
use drip_core::accounts::model::Username;
use drip_core::events::{Event, HubMessage, PresenceChange, PresenceEntry};
use drip_core::{MediaId, TokenFamilyId};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use utoipa::IntoParams;

use crate::dto::{ErrorBody, PresenceDto};
use crate::error::ApiError;
use crate::extract::{AuthUser, Params, authenticate, bearer, cookie, from_this_site};
use crate::openapi::Unauthenticated;
use crate::state::AppState;

/// Close code sent when the connection's token expires or is no longer valid (its session
/// ended: logout, a revoked refresh family, a closed account).
const CLOSE_TOKEN_EXPIRED: u16 = 4001;

/// How a browser passes its token (it cannot set headers on a WebSocket).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// The access token, when no `Authorization` header can be sent.
    token: Option<String>,
}

/// Opens the user's event connection (WebSocket). The token comes from
/// `Authorization: Bearer`, the `token` query parameter, or the session cookie (then the
/// `Origin` must be this host or an allowed CORS origin).
#[utoipa::path(
    get, path = "/api/v1/events", operation_id = "open_events",
    security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; JSON text frames follow"),
        (status = 400, description = "`websocket_required`: not a WebSocket handshake", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "`origin_not_allowed`: cookie authentication from a foreign origin", body = ErrorBody),
    )
)]
pub(crate) async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = if let Some(token) = bearer(&headers) {
        token.to_owned()
    } else if let Some(token) = query.token.filter(|t| !t.is_empty()) {
        token
    } else if let Some(token) = cookie(&headers, &state.settings().cookies.access_name) {
        if !from_this_site(&headers, &state.settings().cors_origins) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "cookie authentication is only accepted from this site",
            ));
        }
        token.to_owned()
    } else {
        return Err(ApiError::unauthenticated());
    };
    // Subscribed before the check: a logout right after it still reaches the connection.
    let ended = state.accounts().ended_sessions();
    let user = authenticate(&state, &token).await?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::bad_request("websocket_required", "this endpoint speaks the WebSocket protocol")
    })?;
    Ok(upgrade.on_upgrade(move |socket| run(state, user, token, ended, socket)))
}

/// Serves one connection until either side closes it.
async fn run(
    state: AppState,
    user: AuthUser,
    token: String,
    mut ended: broadcast::Receiver<TokenFamilyId>,
    mut socket: WebSocket,
) {
    let mut subscription = state.hub().subscribe(user.id, user.username.clone());
    let mut own_join_pending = true;
    if send(&mut socket, &presence_state(&state.hub().online())).await.is_err() {
        return;
    }
    let minimum = std::time::Duration::from_millis(10);
    let period = state.settings().ws_heartbeat.max(minimum);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            message = subscription.next() => match message {
                None => break,
                Some(HubMessage::Event(event)) => {
                    if send(&mut socket, &event_frame(&event)).await.is_err() {
                        break;
                    }
                }
                Some(HubMessage::Presence(change)) => {
                    // The state sent on connect already counts this connection.
                    if own_join_pending && matches!(&change, PresenceChange::Join(e) if e.user_id == user.id) {
                        own_join_pending = false;
                        continue;
                    }
                    if send(&mut socket, &presence_diff(&change)).await.is_err() {
                        break;
                    }
                }
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = handle_push(&state, &user, text.as_str()).await
                        && send(&mut socket, &reply).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            session = ended.recv() => {
                // A lagging receiver missed some: the token itself is asked again.
                let lagged = matches!(session, Err(broadcast::error::RecvError::Lagged(_)));
                let mine = session.as_ref().is_ok_and(|s| *s == user.session);
                if (mine || lagged) && !still_valid(&state, &token).await {
                    close_ended(&mut socket).await;
                    break;
                }
            }
            _ = heartbeat.tick() => {
                if !still_valid(&state, &token).await {
                    close_ended(&mut socket).await;
                    break;
                }
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
            }
        }
    }
    // Leaving the hub (and the connection gauges) first, so the line means both are done.
    drop(subscription);
    tracing::info!(user = %user.username, "an event connection closed");
}

/// Whether the connection's token still authenticates (its session open, not expired); a
/// backend failure gives it the benefit of the doubt until the next check.
async fn still_valid(state: &AppState, token: &str) -> bool {
    !matches!(state.accounts().authenticate(token).await, Err(AuthError::Expired | AuthError::Invalid))
}

/// Closes a connection whose token expired or whose session ended.
async fn close_ended(socket: &mut WebSocket) {
    let frame = CloseFrame { code: CLOSE_TOKEN_EXPIRED, reason: "token expired or session ended".into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn send(socket: &mut WebSocket, frame: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(frame.to_string().into())).await
}

/// `{"event": kind, "payload": {"message", "media_id"}}`, or for a ready archive
/// `{"event": "download", "payload": {"message", "archive_id", "link"}}`.
fn event_frame(event: &Event) -> Value {
    let mut payload = json!({ "message": event.message() });
    if let Some(media) = event.media_id() {
        payload["media_id"] = Value::String(media.to_string());
    }
    if let Event::Download { archive, link } = event {
        payload["archive_id"] = Value::String(archive.to_string());
        payload["link"] = Value::String(link.clone());
    }
    json!({ "event": event.kind(), "payload": payload })
}

fn presence_state(online: &[PresenceEntry]) -> Value {
    let entries: Vec<PresenceDto> = online.iter().map(PresenceDto::from).collect();
    json!({ "event": "presence_state", "payload": entries })
}

fn presence_diff(change: &PresenceChange) -> Value {
    let (joins, leaves) = match change {
        PresenceChange::Join(e) => (vec![PresenceDto::from(e)], Vec::new()),
        PresenceChange::Leave(e) => (Vec::new(), vec![PresenceDto::from(e)]),
    };
    json!({ "event": "presence_diff", "payload": { "joins": joins, "leaves": leaves } })
}

#[derive(Deserialize)]
struct Push {
    event: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct SharePush {
    username: String,
    file_id: String,
}

fn error_frame(message: &str) -> Value {
    json!({ "event": "error", "payload": { "message": message } })
}

/// Answers a client push; `None` when the answer comes another way (a successful share
/// arrives as the sharer's `share` event).
async fn handle_push(state: &AppState, user: &AuthUser, text: &str) -> Option<Value> {
    let Ok(push) = serde_json::from_str::<Push>(text) else {
        return Some(error_frame("messages are JSON: {\"event\":...,\"payload\":...}"));
    };
    match push.event.as_str() {
        "share" => {
            let Ok(request) = serde_json::from_value::<SharePush>(push.payload) else {
                return Some(error_frame("a share names a username and a file_id"));
            };
            share(state, user, &request)
                .await
                .map(|message| json!({ "event": "share", "payload": { "message": message } }))
        }
        _ => Some(error_frame("unknown event")),
    }
}

/// Shares as the original's channel did; answers the failure text, if any.
async fn share(state: &AppState, user: &AuthUser, request: &SharePush) -> Option<String> {
    let name = &request.username;
    let not_found = || format!("Couldn't find a user with {name} username.");
    let failed = || format!("Couldn't share the file with {name}.");
    let Ok(with) = Username::parse(name) else { return Some(not_found()) };
    let Ok(id) = MediaId::parse(&request.file_id) else { return Some(failed()) };
    match state.storage().share(&user.id, &id, &with).await {
        Ok(_) => None,
        Err(drip_core::storage::error::ShareError::UserNotFound(_)) => Some(not_found()),
        Err(e) => {
            tracing::debug!(error = %e, "a share pushed over the event connection failed");
            Some(failed())
        }
    }
}
