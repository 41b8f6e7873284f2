//! Drip as a library, end to end on the in-memory adapters: two users register and log
//! in, files are encrypted into the object store, listed, shared, downloaded, searched,
//! moved and deleted — and every step prints what it did.

use std::error::Error;

use bytes::Bytes;
use drip_core::accounts::model::{RegisterRequest, Username};
use drip_core::storage::model::{FileName, FolderPath, PageRequest};
use drip_core::storage::{StorageSettings, StoreRequest};
use futures::{StreamExt, TryStreamExt};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn content(text: &str) -> drip_core::storage::ports::ByteStream {
    futures::stream::iter([Ok(Bytes::copy_from_slice(text.as_bytes()))]).boxed()
}

#[tokio::main]
async fn main() -> Result<()> {
    let fakes = drip_mock::fake_ports();
    let accounts = fakes.account_service();
    let storage = fakes.storage_service(StorageSettings::default());

    let alice =
        accounts.register(RegisterRequest::parse("alice", "alice@example.com", "correct horse")?).await?;
    let bob = accounts.register(RegisterRequest::parse("bob", "bob@example.com", "battery staple")?).await?;
    println!("registered {} and {}", alice.owner.username, bob.owner.username);
    let session = accounts.login("alice", "correct horse").await?;
    println!("alice logged in; access token valid until {}", session.access_expires_at);
    let me = accounts.authenticate(session.access_token.as_str()).await?;

    let files = [
        ("$/notes", "todo.txt", "buy milk\nwrite the drip demo\nship it\n"),
        ("$/notes/2024", "ideas.md", "# Ideas\nencrypt everything\nship it faster\n"),
        ("$/photos", "cat.txt", "a very good cat\n"),
    ];
    for (folder, name, text) in files {
        let media = storage
            .store(StoreRequest {
                user: me.user_id,
                name: FileName::parse(name)?,
                folder: FolderPath::parse(folder)?,
                content_type: None,
                length: None,
                content: content(text),
            })
            .await?;
        let stored = fakes.objects.object(media.storage_key()).map_or(0, |o| o.len());
        println!(
            "stored {folder}/{name}: {} bytes, sha256 {}, {} bytes of ciphertext under key {}",
            media.size(),
            media.digest().map(|d| d.to_hex()).unwrap_or_default(),
            stored,
            media.storage_key()
        );
    }

    let root = storage.list_folder(&me.user_id, &FolderPath::root(), &PageRequest::default()).await?;
    for folder in &root.folders {
        println!("folder $/{}: {} files, {} bytes", folder.name, folder.file_count, folder.total_size);
    }

    let notes =
        storage.list_folder(&me.user_id, &FolderPath::parse("$/notes")?, &PageRequest::default()).await?;
    let todo = notes.files.first().ok_or("todo.txt is missing")?;
    storage.share(&me.user_id, &todo.id(), &Username::parse("bob")?).await?;
    for event in fakes.notifier.events_for(&bob.owner.id) {
        println!("bob was told: {}", event.message());
    }
    let download = storage.download(&bob.owner.id, &todo.id(), None).await?;
    let chunks: Vec<Bytes> = download.content.try_collect().await?;
    println!("bob downloaded {:?}", String::from_utf8_lossy(&chunks.concat()));

    let results = storage.search(&me.user_id, "ship", &FolderPath::root()).await?;
    for found in &results.matches {
        for line in found.lines.iter() {
            println!("search 'ship': {}:{}: {}", found.media.name(), line.line_no, line.line);
        }
    }

    let moved = storage.move_to(&me.user_id, &todo.id(), &FolderPath::parse("$/archive")?).await?;
    println!("moved {} to {}", moved.name(), moved.folder());
    storage.delete(&me.user_id, &todo.id()).await?;
    let usage = storage.usage(&me.user_id).await?;
    println!("deleted it; alice now has {} files, {} bytes", usage.media_count, usage.disk_usage);
    Ok(())
}
