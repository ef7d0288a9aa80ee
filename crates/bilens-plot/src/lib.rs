//! # bilens-plot: figures from bilinear-layer decompositions
//!
//! Every function takes plain data (ndarray views of any [`Real`](bilens_decomp::Real), i.e.
//! `f32` or `f64`, plus titles and labels) and an output **stem**, and writes two files:
//! `<stem>.png` for viewing and `<stem>.svg` for papers. The extensions are appended
//! (`figs/class.3` gives `figs/class.3.png`), the parent directory is created, and each file
//! is replaced atomically: a failure leaves the previous figure or none, never half a file.
//!
//! | function | draws | data |
//! |---|---|---|
//! | [`eigenvector_grid`] | top positive and top negative eigenvectors of one output as images, titled `λ = …` | `[k]` eigenvalues, `[k, d]` eigenvectors |
//! | [`overview`] | the top eigenvector of every output side by side | `[n_out, k]`, `[n_out, k, d]` |
//! | [`spectrum`] | the top eigenvalues of each sign against rank, red and blue | `[k]` |
//! | [`singular_values`] | a singular-value spectrum, linear or log axis | `[n]` |
//! | [`line_chart`] | named curves against x with an optional reference line (truncation curves) | [`Series`] of `[n]` |
//! | [`heatmap`] | a matrix with labelled axes and a colour bar | `[rows, cols]` |
//! | [`gallery`] | rows of pictures, each with its own title (an input and its explanation, masks) | [`PictureRow`]s of `[d]` |
//! | [`bar_chart`] | signed values of named categories as bars (logits, contributions) | `[n]` |
//!
//! ## Conventions
//!
//! - **Colour means sign.** Signed values use one diverging map ([`Colormap::Diverging`],
//!   blue – white – red like matplotlib's `RdBu_r`) with limits symmetric about zero, so zero
//!   is always white; positive eigenvalues are red in spectra too. Magnitudes use
//!   [`Colormap::Sequential`] (viridis).
//! - Images are row-major: entry `r * cols + c` of a vector is pixel `(r, c)`
//!   ([`ImageShape`]). Eigenvectors are rows of `[k, d]`, as `bilens-decomp` returns them;
//!   the functions select and order components themselves (strongest first), whatever the
//!   input order.
//! - **Contract violations panic, data problems do not.** A vector whose length is not
//!   `rows * cols`, empty input or mismatched label counts are the caller's mistakes and
//!   panic with a message at the caller's line. Values that are not finite are data: they
//!   are drawn grey ([`MISSING`]) in images, break lines in charts, are left out of spectra
//!   and colour limits, and are never an error. [`PlotError`] is only for the file system
//!   and the renderer.
//! - Text is set in the bundled DejaVu Sans (`fonts/`, Bitstream Vera licence), so PNGs look
//!   the same on every machine. SVG text names `DejaVu Sans, sans-serif` and is rendered by
//!   the viewer; images inside SVGs are embedded PNGs.
//!
//! ## Example
//!
//! ```
//! use bilens_plot::{GridParams, ImageParams, ImageShape, eigenvector_grid};
//! use ndarray::{array, Array2};
//!
//! // Three components of a 2 x 2 "image" layer.
//! let eigenvalues = array![2.0f32, -1.5, 0.5];
//! let eigenvectors = Array2::from_shape_vec((3, 4), vec![
//!     0.5, 0.5, 0.5, 0.5,
//!     0.7, -0.7, 0.0, 0.0,
//!     0.0, 0.0, 0.7, -0.7,
//! ]).unwrap();
//! let params = GridParams {
//!     images: ImageParams { shape: ImageShape::new(2, 2), pixel_size: 20, ..Default::default() },
//!     n_positive: 2,
//!     n_negative: 1,
//! };
//! let dir = std::env::temp_dir().join(format!("bilens-plot-doc-{}", std::process::id()));
//! let saved = eigenvector_grid(&dir.join("toy"), "toy layer", eigenvalues.view(), eigenvectors.view(), &params)?;
//! assert!(saved.png.exists() && saved.svg.exists());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), bilens_plot::PlotError>(())
//! ```
#![deny(missing_docs)]

mod bars;
mod bitmap;
mod chart;
mod colorbar;
mod colormap;
mod error;
mod font;
mod format;
mod gallery;
mod grid;
mod heatmap;
mod lines;
mod mosaic;
mod panel;
mod raster;
mod save;
mod spectrum;

pub use bars::bar_chart;
pub use chart::LegendPosition;
pub use colormap::{ColorScale, Colormap, MISSING};
pub use error::PlotError;
pub use gallery::{Picture, PictureRow, gallery};
pub use grid::{GridParams, OverviewParams, eigenvector_grid, overview};
pub use heatmap::{HeatmapParams, HeatmapScale, heatmap};
pub use lines::{LineChart, Reference, Series, line_chart};
pub use mosaic::ChannelGrid;
pub use panel::{ImageParams, ImageShape, PanelScale};
pub use save::SavedFigure;
pub use spectrum::{SingularValueParams, SpectrumParams, YScale, singular_values, spectrum};
