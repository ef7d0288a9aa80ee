//! The one error type of the training crate. Each variant names the option, dataset or file at
//! fault and says what would fix it.

/// Everything that can stop a training run or a save.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A [`TrainConfig`](crate::TrainConfig) field is out of range.
    #[error("invalid training option {option} = {value}: {reason}")]
    InvalidConfig {
        /// The field (as the CLI flag would name it).
        option: &'static str,
        /// The value that was given.
        value: String,
        /// What it must be instead.
        reason: String,
    },
    /// The dataset cannot be trained on or evaluated with this model.
    #[error("dataset problem: {reason}")]
    Data {
        /// What is wrong, with the offending sizes.
        reason: String,
    },
    /// The training loss stopped being a finite number.
    #[error(
        "training diverged in epoch {epoch}: the mean training loss is {loss}; \
         try a smaller learning rate or less input noise"
    )]
    Diverged {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// The non-finite loss.
        loss: f64,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] bilens_io::IoError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
