//! Owner tags: bounded, compared in constant time.

/// The longest owner tag: a digest (HMAC-SHA-512 is 64 bytes).
pub(crate) const MAX_OWNER: usize = 64;

/// Panics unless `owner` fits [`MAX_OWNER`].
#[track_caller]
pub(crate) fn check(owner: Option<&[u8]>) {
    if let Some(owner) = owner {
        assert!(
            owner.len() <= MAX_OWNER,
            "ResumeStore::create: an owner tag is at most {MAX_OWNER} bytes (a digest), not {}",
            owner.len()
        );
    }
}

/// Whether two owner tags are the same, taking the same time wherever they differ: a caller
/// that times the answer learns nothing about the stored tag but its length.
pub(crate) fn same(stored: Option<&[u8]>, given: Option<&[u8]>) -> bool {
    match (stored, given) {
        (None, None) => true,
        (Some(stored), Some(given)) if stored.len() == given.len() => {
            let difference = stored
                .iter()
                .zip(given)
                .fold(0_u8, |difference, (a, b)| difference | (a ^ b));
            // Keeps the compiler from turning the fold into an early exit.
            std::hint::black_box(difference) == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tags_match_only_when_equal() {
        assert!(same(None, None));
        assert!(same(Some(b"tag"), Some(b"tag")));
        assert!(!same(Some(b"tag"), Some(b"taG")));
        assert!(!same(Some(b"tag"), Some(b"ta")));
        assert!(!same(Some(b"tag"), None));
        assert!(!same(None, Some(b"")));
        assert!(same(Some(b""), Some(b"")));
    }
}
