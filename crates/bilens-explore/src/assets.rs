//! The pages, script and style of every site, written by this crate (`assets/`) and compiled
//! into it: no framework, no font, nothing fetched.

use crate::error::Result;
use crate::site::SiteDir;

/// The entry page.
pub(crate) const ENTRY: &str = "index.html";

/// Every asset, by its path in the site.
const ASSETS: [(&str, &str); 6] = [
    (ENTRY, include_str!("../assets/index.html")),
    ("output.html", include_str!("../assets/output.html")),
    ("assets/explore.css", include_str!("../assets/explore.css")),
    ("assets/common.js", include_str!("../assets/common.js")),
    ("assets/index.js", include_str!("../assets/index.js")),
    ("assets/output.js", include_str!("../assets/output.js")),
];

/// Writes every asset into the site.
pub(crate) fn write(site: &mut SiteDir) -> Result<()> {
    for (path, contents) in ASSETS {
        site.write(path, contents.as_bytes())?;
    }
    Ok(())
}
