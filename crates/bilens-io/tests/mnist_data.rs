//! The MNIST copy the repository ships in `data/mnist`: it loads with the crate's own reader
//! and its uncompressed files are byte-for-byte the canonical ones (sha256 of the standard
//! distribution).
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::io::Read;
use std::path::PathBuf;

use bilens_io::{MNIST_FILES, load_image_dataset};
use sha2::{Digest, Sha256};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

#[test]
fn shipped_mnist_loads_with_the_expected_shapes_and_labels() {
    let data = load_image_dataset(&data_dir()).unwrap();
    for (set, n) in [(&data.train, 60_000), (&data.test, 10_000)] {
        assert_eq!(set.len(), n);
        assert_eq!((set.rows, set.cols), (28, 28));
        assert_eq!(set.images.dim(), (n, 784));
        assert_eq!(set.n_classes(), 10);
        let mut seen = [false; 10];
        for &l in &set.labels {
            seen[usize::from(l)] = true;
        }
        assert!(seen.iter().all(|&s| s), "every digit 0..9 occurs");
    }
    // The first training label of MNIST is a 5, the first test label a 7.
    assert_eq!((data.train.labels[0], data.test.labels[0]), (5, 7));
}

#[test]
fn shipped_mnist_files_have_the_canonical_checksums() {
    let expected = [
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ];
    for (name, want) in MNIST_FILES.iter().zip(expected) {
        let path = data_dir().join(format!("{name}.gz"));
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        let got: String = Sha256::digest(&raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want, "{}", path.display());
    }
}
