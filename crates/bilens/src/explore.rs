//! A static, offline web explorer of a results directory ([`bilens_explore`]): an index of
//! every output, a page per output, opened from `SITE/index.html` with no server.

use std::path::Path;

use bilens_explore::{ExploreOptions, SiteReport};

use crate::error::Result;
use crate::progress::{Progress, Task};

/// Writes the explorer of the results in `results` into `site` (replaced atomically when it
/// is an earlier explorer site), reporting through `progress`.
///
/// ```
/// # fn main() -> Result<(), bilens::Error> {
/// use bilens::{Checkpoint, DecomposeOptions, ExploreOptions, Silent};
///
/// let dir = tempfile::tempdir().unwrap();
/// let model = Checkpoint::open(bilens::shipped::model()?, &Default::default())?;
/// bilens::decompose(&model, &DecomposeOptions::new().k(8), &dir.path().join("r"), &Silent)?;
/// let site = bilens::explore(&dir.path().join("r"), &dir.path().join("site"), &ExploreOptions::default(), &Silent)?;
/// assert!(site.entry.ends_with("index.html") && site.outputs == 10);
/// # Ok(())
/// # }
/// ```
pub fn explore(
    results: &Path,
    site: &Path,
    options: &ExploreOptions,
    progress: &dyn Progress,
) -> Result<SiteReport> {
    let mut task: Option<Box<dyn Task + '_>> = None;
    let mut done = 0;
    let report = bilens_explore::explore_with_progress(results, site, options, &mut |p| {
        if let bilens_explore::Progress::Outputs { done: now, total } = p {
            let t = task.get_or_insert_with(|| progress.task("explore", total as u64));
            t.advance(now.saturating_sub(done) as u64);
            done = now;
        }
    })?;
    drop(task);
    Ok(report)
}
