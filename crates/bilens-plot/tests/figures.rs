//! Every figure function, run as the CLI runs it: files written into a fresh directory,
//! the PNG decoded and inspected, the SVG searched for its text and images.

use std::fs;
use std::path::Path;

use bilens_plot::{
    ColorScale, Colormap, GridParams, HeatmapParams, HeatmapScale, ImageParams, ImageShape,
    LineChart, MISSING, OverviewParams, PanelScale, PlotError, Reference, SavedFigure, Series,
    SingularValueParams, SpectrumParams, YScale, eigenvector_grid, heatmap, line_chart, overview,
    singular_values, spectrum,
};
use ndarray::{Array1, Array2, Array3, array};

/// A pixel rectangle `(x, y, width, height)`.
type Rect = (u32, u32, u32, u32);

fn png(saved: &SavedFigure) -> image::RgbImage {
    image::open(&saved.png).expect("PNG decodes").to_rgb8()
}

fn svg(saved: &SavedFigure) -> String {
    fs::read_to_string(&saved.svg).expect("SVG is UTF-8 text")
}

/// The declared `width` and `height` of the SVG document.
fn svg_size(svg: &str) -> (u32, u32) {
    (attr(svg, "width"), attr(svg, "height"))
}

fn attr(element: &str, name: &str) -> u32 {
    let key = format!(" {name}=\"");
    let start = element.find(&key).expect("attribute present") + key.len();
    let end = start + element[start..].find('"').expect("closing quote");
    element[start..end].parse().expect("integer attribute")
}

/// Where the SVG placed its embedded raster images, in document order.
fn svg_images(svg: &str) -> Vec<Rect> {
    svg.match_indices("<image ")
        .map(|(i, _)| {
            let element = &svg[i..i + svg[i..].find("/>").expect("element closes")];
            assert!(
                element.contains("href=\"data:image/png;base64,"),
                "embedded PNG"
            );
            let a = |n| attr(element, n);
            (a("x"), a("y"), a("width"), a("height"))
        })
        .collect()
}

/// The PNG pixel at fraction `(fx, fy)` of `rect`.
fn pixel_at(img: &image::RgbImage, rect: Rect, fx: f64, fy: f64) -> [u8; 3] {
    let x = rect.0 + (f64::from(rect.2) * fx) as u32;
    let y = rect.1 + (f64::from(rect.3) * fy) as u32;
    img.get_pixel(x, y).0
}

/// Clearly red: the strong end of the diverging map, not a pale tint.
fn is_red([r, g, b]: [u8; 3]) -> bool {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    r > g + 60 && r > b + 40
}

/// Clearly blue.
fn is_blue([r, g, b]: [u8; 3]) -> bool {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    b > r + 60 && b > g + 40
}

/// The directory holds exactly the two figure files: no temporary file survives.
fn only_figures_in(dir: &Path, stem: &str) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("directory lists")
        .map(|e| {
            e.expect("entry reads")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, vec![format!("{stem}.png"), format!("{stem}.svg")]);
}

/// Components of a 4 x 4 "image": component i lights pixel i % 8 positively and pixel
/// 15 - i % 8 equally negatively, so its panel is red at the top and blue at the bottom.
fn toy_components(eigenvalues: &[f32]) -> (Array1<f32>, Array2<f32>) {
    let k = eigenvalues.len();
    let mut vectors = Array2::zeros((k, 16));
    for i in 0..k {
        vectors[[i, i % 8]] = 0.8;
        vectors[[i, 15 - i % 8]] = -0.8;
    }
    (Array1::from(eigenvalues.to_vec()), vectors)
}

fn toy_images() -> ImageParams {
    ImageParams {
        shape: ImageShape::new(4, 4),
        pixel_size: 20,
        scale: PanelScale::PerPanel,
    }
}

#[test]
fn eigenvector_grid_writes_png_and_svg_with_titles_and_sign_colours() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("figures").join("class3"); // created on demand
    let (values, vectors) = toy_components(&[3.21, -1.5, 0.5, -0.25, 2.0]);
    let params = GridParams {
        images: toy_images(),
        n_positive: 3,
        n_negative: 2,
    };
    let saved = eigenvector_grid(
        &dir.join("eigenvectors"),
        "class 3: top eigenvectors",
        values.view(),
        vectors.view(),
        &params,
    )
    .unwrap();
    assert_eq!(saved.png, dir.join("eigenvectors.png"));
    assert_eq!(saved.svg, dir.join("eigenvectors.svg"));
    only_figures_in(&dir, "eigenvectors");

    let img = png(&saved);
    let svg = svg(&saved);
    assert_eq!(
        img.dimensions(),
        svg_size(&svg),
        "PNG and SVG share one layout"
    );
    for text in [
        "class 3: top eigenvectors",
        "λ = 3.21",
        "λ = 2.00",
        "λ = 0.500",
        "λ = −1.50",
        "λ = −0.250",
        "positive",
        "negative",
        "font-family=\"DejaVu Sans, sans-serif\"",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    // Strongest first: λ = 3.21 precedes 2.00 precedes 0.500 in the document.
    let at = |t: &str| svg.find(t).unwrap();
    assert!(at("λ = 3.21") < at("λ = 2.00") && at("λ = 2.00") < at("λ = 0.500"));

    // Five panels plus the colour bar, all square panels of 4 x 20 px.
    let images = svg_images(&svg);
    assert_eq!(images.len(), 6);
    for &panel in &images[..5] {
        assert_eq!((panel.2, panel.3), (80, 80));
    }
    // Component 0 (λ = 3.21) has +0.8 at pixel (0, 0) and -0.8 at (3, 3).
    let first = images[0];
    assert!(is_red(pixel_at(&img, first, 0.1, 0.1)), "+max is red");
    assert!(is_blue(pixel_at(&img, first, 0.9, 0.9)), "-max is blue");
    assert_eq!(
        pixel_at(&img, first, 0.6, 0.4),
        [255, 255, 255],
        "zero is white"
    );
}

#[test]
fn a_sign_without_components_gets_a_labelled_empty_row() {
    let tmp = tempfile::tempdir().unwrap();
    let (values, vectors) = toy_components(&[1.0, 0.5]);
    let params = GridParams {
        images: toy_images(),
        ..GridParams::default()
    };
    let saved = eigenvector_grid(
        &tmp.path().join("g"),
        "only positive",
        values.view(),
        vectors.view(),
        &params,
    )
    .unwrap();
    let svg = svg(&saved);
    assert!(svg.contains("no λ &lt; 0") || svg.contains("no λ < 0"));
    assert_eq!(svg_images(&svg).len(), 3, "two panels and the colour bar");
}

#[test]
fn non_finite_entries_are_drawn_grey_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (values, mut vectors) = toy_components(&[1.0]);
    vectors[[0, 5]] = f32::NAN; // pixel (1, 1)
    vectors[[0, 6]] = f32::INFINITY; // pixel (1, 2)
    let params = GridParams {
        images: toy_images(),
        n_positive: 1,
        n_negative: 0,
    };
    let saved = eigenvector_grid(
        &tmp.path().join("nan"),
        "NaN",
        values.view(),
        vectors.view(),
        &params,
    )
    .unwrap();
    let img = png(&saved);
    let panel = svg_images(&svg(&saved))[0];
    assert_eq!(pixel_at(&img, panel, 0.375, 0.375), MISSING);
    assert_eq!(pixel_at(&img, panel, 0.625, 0.375), MISSING);
    assert!(
        is_red(pixel_at(&img, panel, 0.1, 0.1)),
        "limits ignore the NaN and ∞"
    );
}

#[test]
fn shared_scale_compares_magnitudes_across_panels() {
    let tmp = tempfile::tempdir().unwrap();
    let (values, mut vectors) = toy_components(&[2.0, 1.0]);
    vectors.row_mut(1).mapv_inplace(|v| v * 0.25);
    let params = GridParams {
        images: ImageParams {
            scale: PanelScale::Shared,
            ..toy_images()
        },
        n_positive: 2,
        n_negative: 0,
    };
    let saved = eigenvector_grid(
        &tmp.path().join("s"),
        "shared",
        values.view(),
        vectors.view(),
        &params,
    )
    .unwrap();
    let img = png(&saved);
    let svg = svg(&saved);
    let panels = svg_images(&svg);
    let strong = pixel_at(&img, panels[0], 0.1, 0.1);
    let weak = pixel_at(&img, panels[1], 0.3, 0.1); // component 1 lights pixel (0, 1)
    assert!(is_red(strong));
    assert!(
        weak[1] > 150,
        "a quarter of the shared max is pale, got {weak:?}"
    );
    assert!(
        svg.contains("eigenvector entry"),
        "numeric colour bar caption"
    );
}

#[test]
fn overview_draws_one_panel_per_output_with_label_and_eigenvalue() {
    let tmp = tempfile::tempdir().unwrap();
    let n_out = 4;
    let mut values = Array2::<f64>::zeros((n_out, 3));
    let mut vectors = Array3::<f64>::zeros((n_out, 3, 16));
    for o in 0..n_out {
        values
            .row_mut(o)
            .assign(&array![-(o as f64) - 2.0, o as f64 + 1.0, 0.1]);
        vectors[[o, 1, o]] = 1.0;
    }
    values[[3, 1]] = -0.5; // output 3: no positive beyond 0.1
    values[[3, 2]] = -0.1;
    let labels = ["zero", "one", "two", "three"];
    let params = OverviewParams {
        images: toy_images(),
        max_columns: 3,
        ..OverviewParams::default()
    };
    let saved = overview(
        &tmp.path().join("overview"),
        "top positive eigenvector per class",
        &labels,
        values.view(),
        vectors.view(),
        &params,
    )
    .unwrap();
    let img = png(&saved);
    let svg = svg(&saved);
    assert_eq!(img.dimensions(), svg_size(&svg));
    for text in [
        "zero",
        "one",
        "two",
        "three",
        "λ = 1.00",
        "λ = 3.00",
        "no λ &gt; 0",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    let panels = svg_images(&svg);
    assert_eq!(panels.len(), 4, "three panels and the colour bar");
    // Wrapped after three columns: the fourth slot starts a second row.
    assert!(panels[0].1 == panels[2].1);
    assert!(
        is_red(pixel_at(&img, panels[1], 0.3, 0.1)),
        "output 1 lights pixel (0, 1)"
    );
}

#[test]
fn spectrum_has_the_requested_size_and_both_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let values = Array1::from_shape_fn(60, |i| {
        let m = 5.0 / (1.0 + i as f32);
        if i % 2 == 0 { m } else { -m }
    });
    let params = SpectrumParams {
        top: 20,
        size: (800, 500),
    };
    let saved = spectrum(
        &tmp.path().join("spectrum"),
        "class 7: spectrum",
        values.view(),
        &params,
    )
    .unwrap();
    let img = png(&saved);
    let svg = svg(&saved);
    assert_eq!(img.dimensions(), (800, 500));
    assert_eq!(svg_size(&svg), (800, 500));
    for text in [
        "class 7: spectrum",
        "λ &gt; 0",
        "λ &lt; 0",
        "rank within sign",
        "eigenvalue λ",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    let red = img.pixels().filter(|p| is_red(p.0)).count();
    let blue = img.pixels().filter(|p| is_blue(p.0)).count();
    assert!(red > 200 && blue > 200, "red {red}, blue {blue}");
}

#[test]
fn singular_values_on_a_log_axis_skip_what_cannot_be_placed() {
    let tmp = tempfile::tempdir().unwrap();
    let values = array![10.0, 3.0, 0.0, -1.0, f64::NAN, 0.01];
    let params = SingularValueParams {
        y_scale: YScale::Log,
        ..SingularValueParams::default()
    };
    let saved = singular_values(&tmp.path().join("sv"), "HOSVD", values.view(), &params).unwrap();
    assert_eq!(png(&saved).dimensions(), params.size);
    let svg = svg(&saved);
    assert!(svg.contains("HOSVD") && svg.contains("singular value σ"));
    for tick in [">\n0.1\n<", ">\n1\n<", ">\n10\n<"] {
        assert!(svg.contains(tick), "log tick {tick:?}");
    }
}

#[test]
fn line_chart_draws_named_series_a_reference_and_survives_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let k = Array1::from_iter((0..=10).map(f64::from));
    let acc = k.mapv(|k| 0.98 - 0.8 * (-k / 2.0).exp());
    let mut gappy = k.mapv(|k| 0.5 + 0.03 * k);
    gappy[4] = f64::NAN;
    let series = [
        Series {
            name: "top |λ|",
            x: k.view(),
            y: acc.view(),
        },
        Series {
            name: "random",
            x: k.view(),
            y: gappy.view(),
        },
    ];
    let mut chart = LineChart::new("truncation", "components kept (k)", "accuracy", &series);
    chart.reference = Some(Reference {
        name: "full model",
        y: 0.981,
    });
    chart.y_range = Some((0.0, 1.0));
    let saved = line_chart(&tmp.path().join("curves"), &chart).unwrap();
    assert_eq!(png(&saved).dimensions(), chart.size);
    let svg = svg(&saved);
    for text in [
        "truncation",
        "top |λ|",
        "random",
        "full model",
        "components kept (k)",
        "accuracy",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(svg.contains(">\n0.2\n<"), "ticks are written short");
}

#[test]
fn heatmap_puts_row_zero_on_top_and_draws_nan_grey() {
    let tmp = tempfile::tempdir().unwrap();
    let m = array![[1.0f32, f32::NAN], [0.0, -1.0]];
    let params = HeatmapParams {
        x_label: "output b".into(),
        y_label: "output a".into(),
        row_labels: vec!["r0".into(), "r1".into()],
        col_labels: vec!["c0".into(), "c1".into()],
        colorbar_label: "cosine".into(),
        ..HeatmapParams::default()
    };
    let saved = heatmap(&tmp.path().join("h"), "similarity", m.view(), &params).unwrap();
    let img = png(&saved);
    let svg = svg(&saved);
    assert_eq!(img.dimensions(), svg_size(&svg));
    for text in [
        "similarity",
        "output a",
        "output b",
        "r0",
        "r1",
        "c0",
        "c1",
        "cosine",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    let plot = svg_images(&svg)[0];
    assert_eq!(plot.2, plot.3, "square cells");
    assert!(
        is_red(pixel_at(&img, plot, 0.25, 0.25)),
        "row 0, column 0 = +1, top left"
    );
    assert_eq!(pixel_at(&img, plot, 0.75, 0.25), MISSING);
    assert_eq!(pixel_at(&img, plot, 0.25, 0.75), [255, 255, 255]);
    assert!(is_blue(pixel_at(&img, plot, 0.75, 0.75)));
}

#[test]
fn large_sequential_heatmap_is_sampled_to_its_pixel_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Array2::from_shape_fn((300, 200), |(i, j)| (i * j) as f64);
    let params = HeatmapParams {
        scale: HeatmapScale::Fit(Colormap::Sequential),
        max_plot_px: 150,
        ..HeatmapParams::default()
    };
    let saved = heatmap(&tmp.path().join("big"), "big", m.view(), &params).unwrap();
    let svg = svg(&saved);
    let plot = svg_images(&svg)[0];
    assert_eq!((plot.2, plot.3), (100, 150));
    let img = png(&saved);
    // Nearest-cell sampling: screen pixel (99, 149) shows cell (298, 198).
    let scale = ColorScale::sequential(0.0, (299 * 199) as f64);
    assert_eq!(pixel_at(&img, plot, 0.0, 0.0), scale.color(0.0));
    assert_eq!(
        pixel_at(&img, plot, 0.999, 0.999),
        scale.color((298 * 198) as f64)
    );
}

#[test]
fn fixed_heatmap_limits_are_used_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let m = array![[0.5f64]];
    let params = HeatmapParams {
        scale: HeatmapScale::Fixed(ColorScale::symmetric(2.0)),
        ..HeatmapParams::default()
    };
    let saved = heatmap(&tmp.path().join("fixed"), "fixed", m.view(), &params).unwrap();
    let plot = svg_images(&svg(&saved))[0];
    let expected = ColorScale::symmetric(2.0).color(0.5);
    assert_eq!(pixel_at(&png(&saved), plot, 0.5, 0.5), expected);
}

#[test]
fn figures_are_replaced_whole_and_failures_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let values = array![1.0f32, -1.0];
    let stem = tmp.path().join("spec");
    let first = spectrum(&stem, "first", values.view(), &SpectrumParams::default()).unwrap();
    let second = spectrum(&stem, "second", values.view(), &SpectrumParams::default()).unwrap();
    assert_eq!(first, second);
    assert!(svg(&second).contains("second") && !svg(&second).contains("first"));
    only_figures_in(tmp.path(), "spec");

    // A parent "directory" that is a file cannot be created.
    let blocker = tmp.path().join("not-a-dir");
    fs::write(&blocker, b"x").unwrap();
    let err = spectrum(
        &blocker.join("fig"),
        "t",
        values.view(),
        &SpectrumParams::default(),
    )
    .unwrap_err();
    assert!(matches!(err, PlotError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn extensions_are_appended_to_the_stem() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = spectrum(
        &tmp.path().join("class.3"),
        "t",
        array![1.0f64].view(),
        &SpectrumParams::default(),
    )
    .unwrap();
    assert_eq!(saved.png, tmp.path().join("class.3.png"));
    assert!(saved.svg.exists());
}

#[test]
#[should_panic(expected = "cannot be drawn as 28x28 images")]
fn vectors_of_the_wrong_length_are_a_contract_violation() {
    let tmp = tempfile::tempdir().unwrap();
    let (values, vectors) = toy_components(&[1.0]);
    let _ = eigenvector_grid(
        &tmp.path().join("x"),
        "t",
        values.view(),
        vectors.view(),
        &GridParams::default(),
    );
}

#[test]
#[should_panic(expected = "2 labels for 3 outputs")]
fn label_count_must_match_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let values = Array2::<f32>::ones((3, 1));
    let vectors = Array3::<f32>::ones((3, 1, 16));
    let params = OverviewParams {
        images: toy_images(),
        ..OverviewParams::default()
    };
    let _ = overview(
        &tmp.path().join("x"),
        "t",
        &["a", "b"],
        values.view(),
        vectors.view(),
        &params,
    );
}

#[test]
#[should_panic(expected = "spectrum needs at least one eigenvalue")]
fn an_empty_spectrum_is_a_contract_violation() {
    let tmp = tempfile::tempdir().unwrap();
    let _ = spectrum(
        &tmp.path().join("x"),
        "t",
        Array1::<f32>::zeros(0).view(),
        &SpectrumParams::default(),
    );
}
