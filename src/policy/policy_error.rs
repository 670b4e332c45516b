/// A policy's settings that cannot work, from a fallible constructor such as
/// [`FixedBatch::try_new`](super::FixedBatch::try_new).
///
/// # Examples
///
/// ```
/// use tokenflush::policy::{FixedBatch, PolicyError};
///
/// let err = FixedBatch::try_new(0).unwrap_err();
/// assert_eq!(err, PolicyError::ZeroMaxTokens);
/// assert_eq!(err.to_string(), "max_tokens must be at least 1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A token threshold of 0: no chunk could ever hold a token.
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
}
