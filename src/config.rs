//! The settings every module reads: [`Config`], one copy per service, and the
//! [`OverLimit`] policy. Nothing here depends on another module of the crate.

/// What to do with a `Range` header that passes a limit of [`RangeLayer`].
///
/// A header passes a limit when it holds more ranges than
/// [`RangeLayer::max_ranges`], or when its ranges add up to more bytes than the whole
/// representation (as `bytes=0-,0-,0-` does: such a set can only serve to amplify).
///
/// [`RangeLayer`]: crate::RangeLayer
/// [`RangeLayer::max_ranges`]: crate::RangeLayer::max_ranges
///
/// # Example
///
/// ```
/// use tower_range::{OverLimit, RangeLayer};
///
/// let layer = RangeLayer::new().over_limit(OverLimit::Reject);
/// # let _ = layer;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverLimit {
    /// Ignore the `Range` header and send the whole representation as `200`, as Go's
    /// `net/http` and nginx do. The default: a client always gets a correct answer.
    #[default]
    Ignore,
    /// Answer `416 Range Not Satisfiable`, which RFC 9110 §14.2 permits for sets
    /// that look like abuse.
    Reject,
}

/// How much a [`RangeSource`](crate::RangeSource) read asks for at once; see
/// [`RangeLayer::read_chunk`](crate::RangeLayer::read_chunk).
pub(crate) const DEFAULT_READ_CHUNK: usize = 32 * 1024;

/// The settings a [`RangeService`](crate::RangeService) reads; one copy per service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) max_ranges: usize,
    pub(crate) over_limit: OverLimit,
    pub(crate) accept_ranges: bool,
    /// Whether the layer evaluates `If-Match`, `If-None-Match`, `If-Modified-Since` and
    /// `If-Unmodified-Since` itself (RFC 9110 §13.2.2).
    pub(crate) preconditions: bool,
    /// Ranges closer than this are merged into one part: the bytes between them cost
    /// less than another part's boundary and headers (about 80 bytes and up).
    pub(crate) coalesce_gap: u64,
    pub(crate) read_chunk: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_ranges: 64,
            over_limit: OverLimit::Ignore,
            accept_ranges: true,
            preconditions: true,
            coalesce_gap: 80,
            read_chunk: DEFAULT_READ_CHUNK,
        }
    }
}
