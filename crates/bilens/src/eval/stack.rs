//! A deep image model run whole: every block read as the image layout resolves it, chained
//! from pixels to logits. The decomposition takes one block at a time; what needs the network
//! itself (its accuracy, the stream a block reads for each image) runs through here.

use bilens_decomp::{BilinearModel, Par, Real, argmax_rows};
use bilens_io::{ImageSet, Layout};
use ndarray::{Array2, ArrayView2};

use crate::checkpoint::{Checkpoint, with_layer};
use crate::error::{Arg, Error, Result};

/// Every block of an image model, each as the bilinear model the image layout makes of it:
/// block 0 reads the pixels through the embedding, a block before the last writes the stream
/// (`P` and the residual term the identity), the last is read by the head. So running them in
/// turn is the network: `x_{i+1} = block_i(x_i)` and the last gives the logits.
#[derive(Clone, Debug)]
pub struct ImageStack<T> {
    blocks: Vec<BilinearModel<T>>,
}

impl<T: Real> ImageStack<T> {
    /// Reads every block of the image model of `first` (any of its blocks; one block or
    /// several), from the file `first` was found in.
    ///
    /// Errors name [`Arg::Model`] when the file is not an image model.
    pub fn open(first: &Checkpoint) -> Result<Self> {
        let (file, spec, path) = (first.file(), first.spec(), first.file().path());
        if first.info().layout != Layout::Image {
            return Err(Error::argument(
                Arg::Model,
                path.display().to_string(),
                format!(
                    "the file holds a {} model, not an image classifier",
                    first.info().layout
                ),
                "pass an image model (embed.weight, blocks.{i}.weight, head.weight)",
            ));
        }
        let n = first.info().layer.as_ref().map_or(1, |l| l.available.len());
        let blocks = (0..n)
            .map(|i| file.checkpoint(&with_layer(spec, i))?.model::<T>())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { blocks })
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether there are no blocks (never, for a stack that opened).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Pixels per image.
    pub fn d_input(&self) -> usize {
        self.blocks[0].d_input()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.blocks[self.blocks.len() - 1].layer().d_out()
    }

    /// The stream block `i` reads, `x_i`, for images `pixels: [n, d_input]`: `[n, width]`.
    ///
    /// # Panics
    /// If `i` is not a block or `pixels` is not `[n, d_input]`.
    #[track_caller]
    pub fn stream(&self, pixels: ArrayView2<'_, T>, i: usize) -> Array2<T> {
        assert!(i < self.blocks.len(), "block {i} of {}", self.blocks.len());
        if i == 0 {
            return self.blocks[0].layer_input(pixels, Par::rayon(0));
        }
        let mut x = self.blocks[0].forward(pixels, Par::rayon(0));
        for block in &self.blocks[1..i] {
            x = block.forward(x.view(), Par::rayon(0));
        }
        x
    }

    /// Block `i` as the bilinear model the image layout makes of it (block 0 with the
    /// embedding, the last with the head as `P`).
    ///
    /// # Panics
    /// If `i` is not a block.
    #[track_caller]
    pub fn block(&self, i: usize) -> &BilinearModel<T> {
        &self.blocks[i]
    }

    /// The logits `[n, classes]` of images `pixels: [n, d_input]`.
    ///
    /// # Panics
    /// If `pixels` is not `[n, d_input]`.
    #[track_caller]
    pub fn logits(&self, pixels: ArrayView2<'_, T>) -> Array2<T> {
        self.run_from(pixels, 0)
    }

    /// The logits `[n, classes]` from what block `i` reads: the pixels for block 0, the stream
    /// `x_i` `[n, width]` for a later block (so a block's output replaced by something else can
    /// be run through the rest of the network).
    ///
    /// # Panics
    /// If `i` is not a block or `x` does not have block `i`'s input width.
    #[track_caller]
    pub fn run_from(&self, x: ArrayView2<'_, T>, i: usize) -> Array2<T> {
        assert!(i < self.blocks.len(), "block {i} of {}", self.blocks.len());
        let mut x = self.blocks[i].forward(x, Par::rayon(0));
        for block in &self.blocks[i + 1..] {
            x = block.forward(x.view(), Par::rayon(0));
        }
        x
    }

    /// How many images of `set` the network classifies correctly.
    pub fn correct(&self, set: &ImageSet) -> usize {
        let logits = self.logits(set.pixels::<T>().view());
        argmax_rows(logits.view())
            .iter()
            .zip(set.labels.iter())
            .filter(|(p, l)| **p == usize::from(**l))
            .count()
    }
}
