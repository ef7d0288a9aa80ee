//! How much a reproduction trains and evaluates: the quick, full and smoke budgets.

/// Every training run a reproduction makes, and the sizes of its evaluations.
#[derive(Debug, Clone)]
pub struct Budget {
    /// `quick` or `full`.
    pub name: &'static str,
    /// Epochs of the main MNIST model (and of the Fashion-MNIST model).
    pub main_epochs: usize,
    /// Widths of the consistency study (the paper's sizes run from 30 to 1000).
    pub widths: Vec<usize>,
    /// Seeds trained at every width.
    pub seeds: Vec<u64>,
    /// Epochs of the consistency models.
    pub width_epochs: usize,
    /// Input-noise levels of the regularisation sweep.
    pub sweep_noise: Vec<f64>,
    /// Weight decays of the regularisation sweep.
    pub sweep_wd: Vec<f64>,
    /// Epochs of each sweep model.
    pub sweep_epochs: usize,
    /// Width of the sweep models.
    pub sweep_width: usize,
    /// Eigenvectors compared per class in the consistency study.
    pub top: usize,
    /// Largest k of the truncation curves.
    pub max_k: usize,
}

impl Budget {
    /// The default: a few minutes of training on two cores (the main MNIST model is the
    /// shipped one when the data is the shipped MNIST; see [`bilens::shipped::model_dir`]).
    pub fn quick() -> Self {
        Self {
            name: "quick",
            main_epochs: bilens_train::DEFAULT_EPOCHS,
            widths: vec![30, 100, 300, 512, 1000],
            seeds: vec![1, 2],
            width_epochs: 15,
            sweep_noise: vec![0.0, 0.2, 0.4],
            sweep_wd: vec![0.0, 0.5, 1.0],
            sweep_epochs: 15,
            sweep_width: 512,
            top: 20,
            max_k: 30,
        }
    }

    /// The `--full` budget: every study the paper runs, at the scale that fits in about an hour
    /// on two shared CPU cores. Six widths from 30 to 1000 with three seeds each, a 4 × 4
    /// noise × weight-decay grid, and longer training than the quick budget everywhere; the
    /// report's "Budget" section lists where this differs from the paper's training runs.
    pub fn full() -> Self {
        Self {
            name: "full",
            main_epochs: 60,
            widths: vec![30, 50, 100, 300, 512, 1000],
            seeds: vec![1, 2, 3],
            width_epochs: 25,
            sweep_noise: vec![0.0, 0.1, 0.2, 0.4],
            sweep_wd: vec![0.0, 0.1, 0.5, 1.0],
            sweep_epochs: 20,
            sweep_width: 512,
            top: 20,
            max_k: 30,
        }
    }

    /// A few seconds of training, for the end-to-end test of the command itself (hidden
    /// `--smoke`): every study runs, on models too small to mean anything.
    pub fn smoke() -> Self {
        Self {
            name: "smoke",
            main_epochs: 1,
            widths: vec![8, 16],
            seeds: vec![1, 2],
            width_epochs: 1,
            sweep_noise: vec![0.0, 0.4],
            sweep_wd: vec![0.0, 1.0],
            sweep_epochs: 1,
            sweep_width: 16,
            top: 5,
            max_k: 5,
        }
    }

    /// Training runs of the whole reproduction (for the progress bar): epochs × relative cost
    /// are not known in advance, so this counts epochs.
    pub(crate) fn total_epochs(&self, fashion: bool) -> u64 {
        let main = self.main_epochs * (1 + usize::from(fashion));
        let widths = self.widths.len() * self.seeds.len() * self.width_epochs;
        let sweep = self.sweep_noise.len() * self.sweep_wd.len() * self.sweep_epochs;
        (main + widths + sweep) as u64
    }
}
