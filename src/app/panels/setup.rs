//! The experiment's setup: preset, data, network, pruning, reset, rounds, controls, seed,
//! backend. Every field edits the config the next Run uses.

use super::{Action, SetupInput};
use crate::data::DatasetConfig;
use crate::data::toy2d::Toy2d;
use crate::experiment::{ResetMode, Schedule, presets};
use crate::model::LayerSpec;
use crate::prune::{Granularity, PruneMethod, Scope};
use crate::train::gpu::BackendPreference;

/// The config the next Run uses is edited in place; choosing a preset and copying the link
/// are returned.
pub fn ui(input: SetupInput<'_>, ui: &mut egui::Ui) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.heading("Setup");
    egui::ComboBox::from_label("Preset")
        .width(210.0)
        .selected_text(presets::find(input.preset).map_or(input.preset, |p| p.title))
        .show_ui(ui, |ui| {
            for preset in presets::ALL {
                if ui
                    .selectable_label(input.preset == preset.id, preset.title)
                    .clicked()
                {
                    actions.push(Action::SelectPreset(preset.id));
                }
            }
        });
    if let Some(preset) = presets::find(input.preset) {
        ui.label(egui::RichText::new(preset.explanation).small());
        super::claims::show(ui, preset, input.record);
    }
    actions.extend(share(input.view, ui));
    ui.separator();

    let imported = input.imported;
    let c = input.config;
    let mut kind = dataset_kind(&c.dataset);
    egui::ComboBox::from_label("Data")
        .selected_text(kind)
        .show_ui(ui, |ui| {
            for k in ["MNIST digits", "MNIST-1D", "2-D toy", "card fraud"] {
                ui.selectable_value(&mut kind, k, k);
            }
            if imported.is_some() {
                ui.selectable_value(&mut kind, "imported CSV", "imported CSV");
            }
        });
    if let (DatasetConfig::Imported { name, .. }, Some(data)) = (&c.dataset, &imported) {
        ui.label(
            egui::RichText::new(format!(
                "{name}: {} rows, {} features, {} classes",
                data.all.len(),
                data.feature_names.len(),
                data.class_names.len()
            ))
            .small(),
        );
    } else if let DatasetConfig::Imported { name, .. } = &c.dataset {
        ui.colored_label(
            egui::Color32::from_rgb(230, 170, 40),
            format!("{name} is not loaded here: open it with File > Open"),
        );
    }
    if kind != dataset_kind(&c.dataset) {
        c.dataset = match kind {
            "imported CSV" => match &imported {
                Some(data) => DatasetConfig::Imported {
                    name: data.name.clone(),
                    fingerprint: data.fingerprint.clone(),
                },
                None => c.dataset.clone(),
            },
            "MNIST digits" => DatasetConfig::Mnist,
            "MNIST-1D" => DatasetConfig::Mnist1d,
            "2-D toy" => DatasetConfig::Toy2d {
                shape: Toy2d::Spiral,
                noise: 0.1,
                samples: 1_000,
            },
            _ => DatasetConfig::Fraud { samples: 20_000 },
        };
    }
    if let DatasetConfig::Toy2d {
        shape,
        noise,
        samples,
    } = &mut c.dataset
    {
        egui::ComboBox::from_label("Shape")
            .selected_text(shape.name())
            .show_ui(ui, |ui| {
                for s in Toy2d::ALL {
                    ui.selectable_value(shape, s, s.name());
                }
            });
        ui.add(egui::Slider::new(noise, 0.0..=0.5).text("noise"));
        ui.add(egui::Slider::new(samples, 100..=5_000).text("samples"));
    }

    ui.separator();
    ui.label("Network (hidden layers; the output layer follows from the data)");
    layer_list(ui, &mut c.hidden);
    let mut lr = c.optimizer.lr();
    ui.add(
        egui::Slider::new(&mut lr, 1e-5..=1.0)
            .logarithmic(true)
            .text("learning rate"),
    );
    c.optimizer = c.optimizer.with_lr(lr);
    ui.add(egui::Slider::new(&mut c.batch_size, 1..=512).text("batch"));
    ui.add(
        egui::Slider::new(&mut c.iterations, 50..=20_000)
            .logarithmic(true)
            .text("iterations / round"),
    );

    ui.separator();
    ui.label("Pruning");
    egui::ComboBox::from_label("method")
        .selected_text(c.method.label())
        .show_ui(ui, |ui| {
            for method in PruneMethod::ALL {
                ui.selectable_value(&mut c.method, method, method.label());
            }
        });
    ui.small(c.method.explanation());
    if !c.method.at_init() {
        egui::ComboBox::from_label("granularity")
            .selected_text(c.granularity.label())
            .show_ui(ui, |ui| {
                for g in [
                    Granularity::Weights,
                    Granularity::Neurons,
                    Granularity::TWO_FOUR,
                    Granularity::NOfM { n: 1, m: 4 },
                    Granularity::NOfM { n: 4, m: 8 },
                ] {
                    ui.selectable_value(&mut c.granularity, g, g.label());
                }
            });
        if c.granularity == Granularity::Neurons {
            ui.small("Each round removes the given share of every hidden layer's units (neurons; filters in conv layers) with the smallest L1 norm, and the rows that read them: the smaller network is trained as a dense one. Ranked within each layer (layerwise).");
            if c.pruning.scope != Scope::Layerwise {
                c.pruning.scope = Scope::Layerwise;
            }
        }
        if let Granularity::NOfM { n, m } = c.granularity {
            ui.small(format!("One round: the trained dense network keeps the {n} largest of every {m} consecutive inputs of each unit; the reset below decides what trains (θ₀: a ticket under the constraint; trained values: NVIDIA's prune-then-fine-tune)."));
        }
    }
    if c.method.at_init() {
        ui.small("Each round's mask is chosen at θ₀ to that round's size (the rates below set the sizes) and trained once: rounds are independent, not iterative.");
    }
    // Units and N:M groups are ranked within their layer: no scope to choose.
    if c.granularity == Granularity::Weights {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut c.pruning.scope, Scope::Layerwise, "layerwise");
            ui.selectable_value(&mut c.pruning.scope, Scope::Global, "global");
        });
    }
    let mut rate = c.pruning.rate * 100.0;
    if ui
        .add(egui::Slider::new(&mut rate, 5.0..=90.0).text("% pruned per round"))
        .changed()
    {
        c.pruning.rate = rate / 100.0;
    }
    if c.hidden.iter().any(|l| matches!(l, LayerSpec::Conv { .. })) {
        let mut conv = c.pruning.conv_rate.unwrap_or(c.pruning.rate) * 100.0;
        if ui
            .add(egui::Slider::new(&mut conv, 5.0..=90.0).text("% of conv weights per round"))
            .on_hover_text(
                "the paper prunes conv layers more slowly (10-15%) than dense ones (20%)",
            )
            .changed()
        {
            c.pruning.conv_rate = Some(conv / 100.0);
        }
    }
    let mut rounds = c.rounds();
    // N:M sparsity is one round (its density is fixed).
    if !matches!(c.granularity, Granularity::NOfM { .. })
        && ui
            .add(egui::Slider::new(&mut rounds, 1..=30).text("rounds"))
            .changed()
    {
        c.schedule = Schedule::Iterative { rounds };
    }
    // Each layer kind at its own rate, counted on the network this data gives.
    if let Some(layout) = c.dataset.layout(imported) {
        let spec = c.spec_for(&layout);
        if spec.check().is_ok() {
            let final_density = c.final_density(&spec) * 100.0;
            ui.label(format!(
                "after {rounds} rounds: about {final_density:.1}% remaining"
            ));
        }
    }
    let mut early_bird = c.early_bird.is_some();
    ui.horizontal(|ui| {
        ui.checkbox(&mut early_bird, "early-bird search at");
        let mut density = c.early_bird.unwrap_or(0.1) * 100.0;
        let slider = ui.add_enabled(
            early_bird,
            egui::Slider::new(&mut density, 1.0..=90.0).suffix("%"),
        );
        c.early_bird = early_bird.then_some(density / 100.0);
        slider.on_hover_text("the dense run's magnitude mask at this density after every epoch; the early-bird ticket is the first within ε = 0.1 of the previous five, trained from θ₀ beside round 1");
    });
    ui.label("After pruning, the survivors…");
    let rewind = matches!(c.reset, ResetMode::Rewind { .. });
    ui.radio_value(
        &mut c.reset,
        ResetMode::Init,
        "reset to θ₀ (winning ticket)",
    );
    if ui.radio(rewind, "rewind to θ_k (late rewinding)").clicked() && !rewind {
        c.reset = ResetMode::Rewind {
            iteration: (c.iterations / 20).max(1),
        };
    }
    if let ResetMode::Rewind { iteration } = &mut c.reset {
        ui.add(egui::Slider::new(iteration, 0..=c.iterations).text("k"));
    }
    ui.radio_value(&mut c.reset, ResetMode::Reinit, "get fresh random weights");
    ui.radio_value(
        &mut c.reset,
        ResetMode::FineTune,
        "keep their trained values",
    );

    ui.separator();
    ui.label("Controls trained beside the ticket");
    ui.checkbox(
        &mut c.controls.reinit,
        "random re-init (same mask, new weights)",
    );
    ui.checkbox(
        &mut c.controls.random_prune,
        "random pruning (same density, random mask)",
    );
    ui.checkbox(
        &mut c.controls.one_shot,
        "one-shot pruning (straight to the density)",
    );
    if c.granularity != Granularity::Weights {
        ui.checkbox(
            &mut c.controls.unstructured,
            "unstructured (any weights, same per-layer density)",
        );
    }
    if !matches!(c.granularity, Granularity::NOfM { .. }) {
        ui.checkbox(
            &mut c.controls.two_four,
            "2:4 (round 1: the trained network's 2:4 mask)",
        );
    }
    ui.checkbox(
        &mut c.controls.small_dense,
        "small dense net (narrower layers, as many weights, fresh init)",
    );
    ui.horizontal(|ui| {
        ui.add(egui::DragValue::new(&mut c.seed).prefix("seed "));
        ui.add(
            egui::DragValue::new(input.seeds)
                .range(1..=crate::experiment::seeds::MAX_SEEDS)
                .prefix("seeds: "),
        )
        .on_hover_text(
            "Run the experiment again with the next seeds (each its own split, θ₀ and data \
             order); the accuracy plot shows their mean and range. 1 = this seed only.",
        );
    });

    ui.separator();
    ui.label("Engine");
    ui.horizontal(|ui| {
        ui.selectable_value(input.backend, BackendPreference::Auto, "auto");
        ui.selectable_value(input.backend, BackendPreference::Gpu, "GPU");
        ui.selectable_value(input.backend, BackendPreference::Cpu, "CPU");
    });
    if let Some((place, cores, mut runs)) = input.workers {
        let changed = ui
            .add(
                egui::DragValue::new(&mut runs)
                    .range(1..=crate::train::worker::MAX_PARALLEL_RUNS)
                    .prefix("runs at a time: "),
            )
            .on_hover_text(format!(
                "The CPU engine trains in {}s, off the thread that draws. A round's ticket and \
                 controls can train side by side, one per worker (this machine reports {} \
                 cores); the results are the same as one at a time.",
                place.trim_start_matches("a "),
                cores
            ))
            .changed();
        if changed {
            actions.push(Action::SetParallelRuns(runs));
        }
    }
    if let Err(e) = c.validate() {
        ui.colored_label(egui::Color32::from_rgb(230, 80, 60), e.to_string());
    }
    actions
}

fn dataset_kind(d: &DatasetConfig) -> &'static str {
    match d {
        DatasetConfig::Mnist => "MNIST digits",
        DatasetConfig::Mnist1d => "MNIST-1D",
        DatasetConfig::Toy2d { .. } => "2-D toy",
        DatasetConfig::Fraud { .. } => "card fraud",
        DatasetConfig::Imported { .. } => "imported CSV",
    }
}

/// The link that reproduces this setup (the address bar carries it too, on the web).
fn share(view: &mut crate::app::ViewState, ui: &mut egui::Ui) -> Option<Action> {
    let mut action = None;
    ui.horizontal(|ui| {
        if ui
            .button("Copy link")
            .on_hover_text("A link that opens exactly this experiment (config and seed)")
            .clicked()
        {
            action = Some(Action::CopyLink);
        }
        let mut lecture = !view.show_setup;
        if ui
            .checkbox(&mut lecture, "lecture view")
            .on_hover_text(
                "Hide this panel: only the run controls and the plots (the link keeps it)",
            )
            .changed()
        {
            view.show_setup = !lecture;
        }
    });
    action
}

/// The hidden layers, each with its kind and sizes; conv and pooling layers go before the
/// dense ones, on digits (2-D) or MNIST-1D (1-D). A list that does not fit the data is named
/// when the run starts.
fn layer_list(ui: &mut egui::Ui, hidden: &mut Vec<LayerSpec>) {
    let mut remove = None;
    for (i, layer) in hidden.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            let kinds = [
                ("dense", LayerSpec::dense(64)),
                ("conv", LayerSpec::conv(8, 3, 1, 1)),
                ("max-pool", LayerSpec::MaxPool { size: 2 }),
                ("flatten", LayerSpec::Flatten),
            ];
            let current = kinds
                .iter()
                .position(|(_, k)| std::mem::discriminant(k) == std::mem::discriminant(layer))
                .unwrap_or(0);
            egui::ComboBox::new(("layer kind", i), format!("layer {}", i + 1))
                .width(80.0)
                .selected_text(kinds[current].0)
                .show_ui(ui, |ui| {
                    for (j, (name, default)) in kinds.iter().enumerate() {
                        if ui.selectable_label(j == current, *name).clicked() && j != current {
                            *layer = *default;
                        }
                    }
                });
            match layer {
                LayerSpec::Dense { units } => {
                    ui.add(
                        egui::Slider::new(units, 1..=1024)
                            .logarithmic(true)
                            .text("width"),
                    );
                }
                LayerSpec::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    ui.add(egui::DragValue::new(channels).range(1..=64).suffix(" ch"));
                    ui.add(egui::DragValue::new(kernel).range(1..=7).prefix("k "));
                    ui.add(
                        egui::DragValue::new(stride)
                            .range(1..=(*kernel).max(1))
                            .prefix("s "),
                    );
                    ui.add(
                        egui::DragValue::new(padding)
                            .range(0..=kernel.saturating_sub(1))
                            .prefix("p "),
                    );
                }
                LayerSpec::MaxPool { size } => {
                    ui.add(egui::DragValue::new(size).range(1..=4).prefix("size "));
                }
                LayerSpec::Flatten => {}
            }
            if ui
                .small_button("remove")
                .on_hover_text("remove this layer")
                .clicked()
            {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove
        && hidden.len() > 1
    {
        hidden.remove(i);
    }
    ui.horizontal(|ui| {
        if ui.button("add a layer").clicked() && hidden.len() < crate::experiment::MAX_LAYERS {
            let last = hidden.last().copied().unwrap_or(LayerSpec::dense(32));
            hidden.push(last);
        }
        ui.label(format!("as text: {}", crate::model::layers_text(hidden)))
            .on_hover_text("the link's and the CLI's form (--hidden)");
    });
}
