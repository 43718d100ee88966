//! Error types.

use std::error::Error;
use std::fmt;

/// The usual boxed error: what [`ResponseBody`](crate::ResponseBody) and
/// [`SourceBody`](crate::SourceBody) yield.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Why a ranged body could not deliver the bytes its headers promised.
///
/// A [`ResponseBody`](crate::ResponseBody) or [`SourceBody`](crate::SourceBody) never
/// ends short: when the inner body or the [`RangeSource`](crate::RangeSource) ends
/// before the promised bytes, the body fails with this error (boxed in a
/// [`BoxError`]), and the server aborts the response instead of ending it cleanly.
/// Find it with `downcast_ref::<RangeBodyError>()`. An error of the inner body or the
/// source itself is passed on as it is.
///
/// # Example
///
/// ```
/// use tower_range::RangeBodyError;
///
/// let err = RangeBodyError::UnexpectedEnd { missing: 12 };
/// assert_eq!(err.to_string(), "body ended 12 bytes short of the promised range");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeBodyError {
    /// The inner body or the source ended while `missing` bytes of the range were
    /// still owed.
    UnexpectedEnd {
        /// How many promised bytes never came.
        missing: u64,
    },
}

impl fmt::Display for RangeBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd { missing } => {
                write!(f, "body ended {missing} bytes short of the promised range")
            }
        }
    }
}

impl Error for RangeBodyError {}
