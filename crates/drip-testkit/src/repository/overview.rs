//! Conformance scenarios of the sharing overview (`MediaRepository::shared_by` and
//! `shared_with`), run by [`repository_conformance!`](crate::repository_conformance) with
//! the others.

use drip_core::storage::model::SharedFile;
use drip_core::{MediaId, UserId};

use super::trash::trash;
use super::{Repos, add_file, add_user, share};

fn pairs(found: &[SharedFile]) -> Vec<(MediaId, UserId)> {
    found.iter().map(|f| (f.media.id(), f.with.id)).collect()
}

/// `shared_by` lists each of the creator's shared files once per sharee, by name then id
/// then sharee id; `shared_with` lists the files shared with a user with their creator;
/// trashed files, unshared ones and other people's are in neither; both stop at `limit`.
pub async fn the_sharing_overview_lists_both_directions(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let carol = add_user(&repos, "carol").await;
    let plan = add_file(&repos, alice.id, "$/x", "b.txt", 1).await;
    let notes = add_file(&repos, alice.id, "$", "a.txt", 1).await;
    add_file(&repos, alice.id, "$", "c.txt", 1).await;
    let gone = add_file(&repos, alice.id, "$", "g.txt", 1).await;
    let bobs = add_file(&repos, bob.id, "$", "z.txt", 1).await;
    for (file, with) in [(&plan, &bob), (&plan, &carol), (&notes, &bob), (&gone, &bob), (&bobs, &alice)] {
        share(&repos, file, with).await;
    }
    trash(&repos, &gone).await;

    let mut on_plan = vec![(plan.id(), bob.id), (plan.id(), carol.id)];
    on_plan.sort_by_key(|(_, sharee)| *sharee);
    let mut expected = vec![(notes.id(), bob.id)];
    expected.extend(on_plan);
    let shared = repos.media.shared_by(&alice.id, 10).await.unwrap();
    assert_eq!(pairs(&shared), expected);
    assert_eq!(shared[0].with.username, bob.username, "the sharee comes whole");
    assert_eq!(pairs(&repos.media.shared_by(&alice.id, 2).await.unwrap()), expected[..2].to_vec(), "limited");

    let with_bob = repos.media.shared_with(&bob.id, 10).await.unwrap();
    assert_eq!(
        pairs(&with_bob),
        vec![(notes.id(), alice.id), (plan.id(), alice.id)],
        "not his own, not the trashed"
    );
    assert_eq!(with_bob[0].with.username, alice.username);
    assert_eq!(pairs(&repos.media.shared_with(&alice.id, 10).await.unwrap()), vec![(bobs.id(), bob.id)]);
    assert!(repos.media.shared_by(&carol.id, 10).await.unwrap().is_empty());

    repos.media.remove_share(&plan.id(), &carol.id).await.unwrap();
    assert!(repos.media.shared_with(&carol.id, 10).await.unwrap().is_empty(), "a withdrawn share goes");
}
