//! Named experiments. Each says which recipe it follows, so results can be held against it.

use super::{Controls, ExperimentConfig, ResetMode, Schedule};
use crate::data::{DatasetConfig, toy2d::Toy2d};
use crate::model::{Init, dense_layers};
use crate::prune::{Granularity, PruneMethod, PruneRates, Scope};
use crate::train::Optimizer;

pub struct Preset {
    pub id: &'static str,
    pub title: &'static str,
    /// One paragraph for the app and the CLI's `presets` listing.
    pub explanation: &'static str,
    pub config: fn() -> ExperimentConfig,
    /// What the explanation claims, checked on the preset's own runs (`claims.rs`).
    pub claims: &'static [super::claims::Claim],
    /// A study the page runs once the experiment has finished, as a link's `study=` token
    /// ([`super::studies::StudyRequest`]).
    pub study: Option<&'static str>,
}

pub const ALL: &[Preset] = &[
    Preset {
        id: "digits-quick",
        title: "Quick digits: lottery tickets in minutes",
        explanation: "LeNet-300-100 on 7,000 real handwritten digits, trained 800 iterations per \
            round (Adam 1.2e-3, batch 60), pruning 30% of the remaining weights per round (15% \
            of the output layer) and resetting the survivors to θ₀. Short training keeps a run \
            to about 40 s on a 2-core CPU and seconds on a GPU. The ticket stays accurate far \
            below the density where random re-initialisation and random pruning fall off: in \
            our runs (seeds 1-3, test accuracy at early stop), from 16.9% of the weights down to \
            2.9% it is 1.9 to 3.5 points above random re-initialisation and 1.8 to 4.8 above \
            random pruning. The input-pixel map shows the border of the image emptying first.",
        config: digits_quick,
        claims: super::claims::DIGITS_QUICK,
        study: None,
    },
    Preset {
        id: "lenet-mnist",
        title: "Frankle & Carbin: LeNet-300-100 on MNIST",
        explanation: "The paper's headline experiment: a 784-300-100-10 network, Gaussian Glorot \
            init, Adam (lr 1.2e-3, batch 60), layerwise pruning of 20% per round (10% for the \
            output layer), reset to θ₀ after each round. Our data is 7,000 real training digits \
            (the paper: 55,000), so training is scaled to the same number of epochs: 6,400 \
            iterations instead of 50,000. In our runs (seeds 1-3, test accuracy at early stop) \
            the dense network reaches 95.25-95.45%; from 21.1% of the weights down to 3.6% the \
            ticket beats random re-initialisation at every density, by 0.8 to 2.35 points, and \
            at 3.6% it is within a point of the dense net (94.60, 94.60, 94.85%). A run takes \
            10-20 minutes on a 2-core CPU.",
        config: ExperimentConfig::lenet_mnist,
        claims: super::claims::LENET_MNIST,
        study: None,
    },
    Preset {
        id: "mnist1d",
        title: "MNIST-1D: a ticket in a second a round",
        explanation: MNIST1D_TEXT,
        config: mnist1d,
        claims: super::claims::MNIST1D,
        study: None,
    },
    Preset {
        id: "spiral",
        title: "Tickets on a spiral",
        explanation: SPIRAL_TEXT,
        config: spiral,
        claims: super::claims::SPIRAL,
        study: None,
    },
    Preset {
        id: "fraud",
        title: "Fraud scoring",
        explanation: FRAUD_TEXT,
        config: fraud,
        claims: super::claims::FRAUD,
        study: None,
    },
    Preset {
        id: "why-reset",
        title: "Why reset matters",
        explanation: WHY_RESET_TEXT,
        config: why_reset,
        claims: super::claims::WHY_RESET,
        study: None,
    },
    Preset {
        id: "one-shot-vs-iterative",
        title: "One-shot vs iterative",
        explanation: ONE_SHOT_VS_ITERATIVE_TEXT,
        config: one_shot_vs_iterative,
        claims: super::claims::ONE_SHOT_VS_ITERATIVE,
        study: None,
    },
    Preset {
        id: "search-vs-shrink",
        title: "Is the ticket better than a small dense net?",
        explanation: SEARCH_VS_SHRINK_TEXT,
        config: search_vs_shrink,
        claims: super::claims::SEARCH_VS_SHRINK,
        study: None,
    },
    Preset {
        id: "find-the-cliff",
        title: "Find the cliff",
        explanation: FIND_THE_CLIFF_TEXT,
        config: find_the_cliff,
        claims: super::claims::FIND_THE_CLIFF,
        study: None,
    },
    Preset {
        id: "conv-digits",
        title: "Conv-2 on the digits (a small conv net)",
        explanation: CONV_DIGITS_TEXT,
        config: conv_digits,
        claims: super::claims::CONV_DIGITS,
        study: None,
    },
    Preset {
        id: "mnist1d-cnn",
        title: "MNIST-1D's CNN",
        explanation: MNIST1D_CNN_TEXT,
        config: mnist1d_cnn,
        claims: super::claims::MNIST1D_CNN,
        study: None,
    },
    Preset {
        id: "pruning-before-training",
        title: "Pruning before training (SNIP)",
        explanation: PRUNING_BEFORE_TRAINING_TEXT,
        config: pruning_before_training,
        claims: super::claims::PRUNING_BEFORE_TRAINING,
        study: None,
    },
    Preset {
        id: "layer-collapse",
        title: "Layer collapse",
        explanation: LAYER_COLLAPSE_TEXT,
        config: layer_collapse,
        claims: super::claims::LAYER_COLLAPSE,
        study: None,
    },
    Preset {
        id: "structured",
        title: "Structured vs unstructured vs 2:4",
        explanation: STRUCTURED_TEXT,
        config: structured,
        claims: super::claims::STRUCTURED,
        study: None,
    },
    Preset {
        id: "early-bird",
        title: "Early-bird tickets",
        explanation: EARLY_BIRD_TEXT,
        config: early_bird,
        claims: super::claims::EARLY_BIRD,
        study: None,
    },
    Preset {
        id: "rewinding-and-stability",
        title: "Rewinding and stability: is training linearly connected?",
        explanation: "Quick digits to round 10 (2.9% of the weights), then the stability study \
            (Frankle et al. 2020) starts by itself: the dense network, round 10's ticket, its \
            random pruning and its random re-initialisation each train two copies from θ₀ and \
            from θ_100 with different data orders, and the panel draws the test error on the \
            straight line between the copies. A flat line (barrier under 2 points) means both \
            copies found one valley. The late-rewinding panel below sweeps the reset point k \
            at the selected round's density. Our figures over seeds are in the README.",
        config: rewinding_and_stability,
        claims: &[],
        study: Some("lmc:10:0,100"),
    },
    Preset {
        id: "ticket-transfer",
        title: "Does a ticket transfer?",
        explanation: "Quick digits to round 8 (5.8% of the weights), then the transfer study \
            starts by itself (our task pair, after Morcos et al. 2019): round 8's ticket, found \
            on the clean digits, is trained on the same digits with noise added to every pixel, \
            beside that task's own ticket, a random mask of the same density, the ticket's mask \
            with fresh weights and the dense network. The panel's bars are this run's answer; \
            pick another task pair there (new classes, inverted or shifted digits, another \
            seed) and press Transfer. Our figures over seeds are in the README.",
        config: ticket_transfer,
        claims: &[],
        study: Some("transfer:noisier:8"),
    },
    Preset {
        id: "explain-sparse",
        title: "Do sparse nets explain better?",
        explanation: "Quick digits to round 8 (5.8% of the weights), then the explanations \
            panel explains a test digit by the dense network, round 8's ticket and a random \
            mask of its density: integrated gradients (checked to add up to the score's \
            change) and gradient × input as heatmaps, each network's live paths, how much of \
            the explanation sits in its top 5% pixels and how much of that survives a little \
            noise. Step through digits with Next example. Whether the ticket's explanations \
            are smaller or more stable is measured, not assumed: our figures over seeds are in \
            the README.",
        config: ticket_transfer,
        claims: &[],
        study: Some("explain:8:0"),
    },
    Preset {
        id: "prune-at-init",
        title: "Prune at initialisation: which weights, or how many per layer?",
        explanation: "Quick digits to round 13 (1% of the weights), then the study of pruning at \
            initialisation starts by itself (after Frankle et al. 2021): at the IMP rounds \
            nearest 21%, 7%, 3.6% and 1.2% of the weights, masks chosen at θ₀ by SNIP, GraSP, \
            SynFlow, magnitude at init and at random are each trained from θ₀, and each beside \
            its layer shuffle: the same number of weights in every layer at random positions. \
            The IMP ticket and its shuffle are this experiment's own rounds. If shuffling costs \
            a mask nothing, its method chose how much to keep per layer, not which weights. The \
            panel's sentence is computed from this run's figures, not written in advance.",
        config: prune_at_init,
        claims: &[],
        study: Some("at-init:21,7,3.6,1.2:all"),
    },
    Preset {
        id: "tiny",
        title: "Tiny (seconds, for tests and demos)",
        explanation: "Circle data, a 2-16-16-2 network, a few hundred iterations per round: the \
            whole procedure in a blink.",
        config: tiny,
        claims: &[],
        study: None,
    },
];

const MNIST1D_TEXT: &str = "Greydanus's MNIST-1D: 4,000 procedurally generated 1-D digits, \
    hard for an MLP. A 40-100-100-10 network, Kaiming init, Adam 1e-2, batch 100, 1,000 \
    iterations per round (about a second natively), 20% pruned per round (10% of the output \
    layer) and reset to θ₀. In our runs (seeds 1-3, test accuracy at early stop) the dense \
    network reaches 56.7-58.0%; pruned and reset, the ticket first gets better (its best \
    round 4.6-6.6 points above the dense net, near 23-43% of the weights) and from 23% down \
    it beats random re-initialisation and random pruning at every density, by about 5 to 19 \
    points at 5.6%. The author's notebook trains a 40-500-500-10 network (lr 2e-2, 3,000 \
    iterations) and reports about 66% dense and 74% for tickets at 10%; under that recipe our \
    runs showed no edge for the ticket (seed 1 at 17.3%: ticket 66.5%, re-init 72.6%, random \
    pruning 67.7%), sparsity there helps every mask alike.";

const SPIRAL_TEXT: &str = "Two interleaved spiral arms in 2-D: a 2-64-64-2 network learns the \
    boundary (99-100% test accuracy). A problem this small needs no lottery: in our runs \
    (seeds 1-3) every network, the ticket and the controls alike, keeps the boundary (97% or \
    more) down to 21.8% of its 4,352 weights, and all of them lose it between 17.5% and 9.3% \
    (under 85% from 9.3% down). Any sparse net of a thousand weights can draw two spirals, \
    until too few are left for the curve. Watch the decision boundary of each round come \
    apart.";

const FRAUD_TEXT: &str = "Synthetic card transactions (12 features, about 1.5% fraud). \
    Accuracy is meaningless here: predicting 'never fraud' is 98.5% accurate. The score that \
    counts is ROC AUC, the chance that a random fraud is ranked above a random honest \
    payment. In our runs (seeds 1-3, AUC at early stop) the dense 12-64-32-2 network scores \
    0.886-0.891; from 21.6% of its weights down the ticket ranks frauds better than random \
    pruning at every density (by 0.009 to 0.053), and at 21.6% it is at most 0.03 below the \
    dense net (0.904, 0.922, 0.867). Against random re-initialisation it wins in two seeds \
    of three.";

const WHY_RESET_TEXT: &str = "The same masks, two starting points: the winning ticket resets \
    the surviving weights to their original initial values θ₀, the control gives the same \
    surviving connections fresh random values. LeNet-300-100 on the digits, the quick-digits \
    recipe (800 iterations a round, 30% pruned per round). In our runs (seeds 1-3) the \
    ticket beats the re-initialised mask at every density, and at 2.9% of the weights it is \
    1.2-1.4 points below the dense network (94.20, 94.15, 93.45%) where the re-initialised \
    mask is 3.5-4.2 below (91.90, 91.70, 90.70%): the mask alone is not enough, the initial \
    values it was found with matter (Frankle & Carbin's central experiment).";

const ONE_SHOT_VS_ITERATIVE_TEXT: &str = "Two ways to the same density: prune the trained \
    dense network once, straight to the target, or prune 30% at a time, retraining from θ₀ \
    between rounds. LeNet-300-100 on the digits, the quick-digits recipe. One-shot tickets \
    work too: in our runs (seeds 1-3) at 11.9% of the weights the one-shot ticket is within \
    0.5 points of the dense network (95.65, 94.85, 94.40% against 95.35, 95.30, 94.85%). \
    But from 11.9% down the iterative ticket beats it at every density, by 1.3 to 2.0 points \
    at 2.9% (as Frankle & Carbin found).";

const SEARCH_VS_SHRINK_TEXT: &str = "Ours: search vs shrink. Pruning searches a big network for a \
    small one; why not train a small dense network of the ticket's size directly? Beside each \
    round's ticket (LeNet-300-100 on the digits, the quick-digits recipe): a dense network \
    whose hidden layers are narrowed by one factor to the ticket's number of weights \
    (784-10-3-10 at 2.9%), freshly initialised, and the ticket's mask with fresh weights. In \
    our runs (seeds 1-3) the ticket beats the small dense net at every density, by 12.95 to \
    16.60 points at 2.9% (the small net 76.85-81.20%, the ticket 93.45-94.20%); from 8.3% \
    down even the ticket's mask with fresh weights beats it: at that size, which connections \
    a network keeps matters as much as how many.";

const FIND_THE_CLIFF_TEXT: &str = "MNIST-1D (the 40-100-100-10 network, 1,000 iterations a \
    round) pruned 20% per round, output layer too, for 21 rounds down to 0.9% of the \
    weights, against random pruning at the same densities. In our runs (seeds 1-3) the ticket \
    beats random pruning at every density from 64% down (by 1.3 to 24.7 points; at 80% the \
    two are within 0.1 to 5.1), and it falls 5 points below the dense network \
    (56.7-58.0%) only at 8.6% or 5.5% of the weights, where random pruning does at 16.8% to \
    51%. Watch for the round where the ticket finally falls off. Drag the sparsity slider \
    to see where the trained network breaks without retraining.";

const CONV_DIGITS_TEXT: &str = "Ours, after Frankle & Carbin's Conv-2 (their CIFAR-10 net: two \
    3×3 conv layers of 64 channels, a 2×2 max-pool, dense 256-256-10). On 28×28 grey digits and in \
    a lecture's minutes it is smaller: two 3×3 conv layers of 8 channels (padding 1), a 2×2 \
    max-pool, a dense layer of 64 and the output; Adam 2e-3, batch 60, 800 iterations per round. \
    As in the paper, conv layers lose 10% of their weights per round, dense 20%, the output 10%. \
    In our runs (seeds 1-3, all ten rounds) the dense net reaches 95.6-97.0% at its early stop; \
    from 33% of the weights down the ticket beats random re-initialisation in every seed (at 33%: \
    ticket 96.5-97.0%, re-initialisation 95.3-95.9%; at 41% one seed's re-initialisation is still \
    ahead); at 11% the ticket still holds 95.9-96.6% while re-initialisation falls to 92.9-94.0% \
    and random pruning to 92.4-93.6%. Each conv layer's filters are drawn as tiles: watch the taps go dark \
    round by round.";

const MNIST1D_CNN_TEXT: &str = "The CNN of MNIST-1D's author: three 1-D conv layers of 25 \
    channels (kernel 5 then 3, stride 2), ReLU after each, and a dense output layer on the \
    125 features they leave; Adam 1e-2, batch 100, 3,000 iterations per round. Looking at \
    neighbouring positions is the right prior for signals: on our MNIST-1D the CNN reaches \
    85.1-92.9% at its early stop (seeds 1-3) where the MNIST-1D preset's 40-100-100-10 MLP \
    reaches 56.7-58.0% (the author reports 94% and 68% with his training). Conv layers lose \
    15% per round, the output 10%. In our runs (seeds 1-3) from 48% of the weights down the \
    ticket beats random re-initialisation and random pruning at every density; at 23.4% the \
    ticket is at 84.8-86.8%, re-initialisation at 69.7-73.1% and random pruning at \
    59.9-67.8%.";

const PRUNING_BEFORE_TRAINING_TEXT: &str = "Can the ticket be found before any training? SNIP \
    (Lee et al. 2019) scores every weight of LeNet-300-100 at θ₀ by |g × θ₀|, the loss's \
    gradient on one batch of digits times the weight, ranks all layers together and keeps the \
    top of each round's size, then trains that mask from θ₀ once. Beside it: the one-shot \
    ticket (the trained dense net pruned by magnitude to the same size, reset to θ₀), random \
    re-initialisation of SNIP's mask, and SNIP's per-layer densities with random positions \
    (the \"Missing the Mark\" control: if shuffling costs nothing, the method chose how much to \
    keep per layer, not which weights). Switch the method to GraSP, SynFlow or magnitude at \
    init to compare. Training as in the quick digits preset (800 iterations per round). In our \
    runs (seeds 1-3) at 8.3% of the weights SNIP reaches 92.5-93.4%, its mask re-initialised \
    92.1-93.1% and shuffled 91.5-93.1%, the one-shot ticket 94.0-95.2%; at 2.9% SNIP 88.7-91.2%, \
    re-initialised 89.9-91.0%, shuffled 89.0-90.6%, the ticket 91.5-93.0%: SNIP's mask is worth \
    what its per-layer densities are (shuffled, it stays within 1.4 points at every density \
    from 8.3% down), and the ticket found by training stays ahead, by 1.4 to 2.75 points (as \
    Frankle et al. 2021 report).";

const LAYER_COLLAPSE_TEXT: &str = "At extreme sparsity a method that ranks every layer \
    together can empty a whole layer, and then no signal reaches the output: the network is \
    untrainable. Here LeNet-300-100's mask is chosen at θ₀ and halved each round down to 32 of \
    its 266,200 weights (0.012%); rounds whose mask lets no signal through are marked \
    untrainable and not trained. In our runs (seeds 1-3, 800 iterations a round) SNIP empties \
    the first layer by 0.049% (seed 1) or 0.024% (seeds 2-3), GraSP by 0.024% (seeds 1-2) or \
    0.012% (seed 3). Switch the method to SynFlow: its 100 small steps, rescoring what \
    survives, keep every layer alive to the end (Tanaka et al. 2020), at 39-45% test accuracy \
    at 0.098% where SNIP is at 12-20%, and 15.5-17.7% with 32 weights.";

fn pruning_before_training() -> ExperimentConfig {
    ExperimentConfig {
        method: PruneMethod::Snip,
        controls: Controls::ALL,
        ..digits_quick()
    }
}

const STRUCTURED_TEXT: &str = "Ours, on LeNet-300-100 and the digits (the quick-digits recipe: \
    800 iterations per round, Adam 1.2e-3). Each round removes 30% of every hidden layer's \
    neurons, those with the smallest L1 norm of incoming weights, with the rows that read them, \
    and trains the smaller dense network that is left: 784-210-70-10 after one round, \
    784-35-12-10 (10.5% of the weights) after six. Beside it: the same small network freshly \
    initialised, random neurons removed, the unstructured ticket at the same per-layer \
    densities and, in round 1, the 2:4 ticket (50%). In our runs (seeds 1-3) the unstructured \
    ticket beats the structured one at every density from 32% down, by 0.05 to 1.7 points; the \
    structured ticket and the fresh small network are within 1.2 points of each other either \
    way (structured pruning finds a smaller architecture rather than a ticket, as Liu et al. \
    2019 found); the 2:4 ticket stays within 0.7 points of the dense network (95.00, 95.00, \
    94.15% against 95.35, 95.30, 94.85%).";

const EARLY_BIRD_TEXT: &str = "You et al. 2020 on the paper's LeNet-300-100 recipe (6,400 \
    iterations). After every epoch of the dense run, its magnitude mask at 10%; the plot shows \
    the normalised Hamming distance between successive masks, and the search stops when the \
    newest mask is within ε = 0.1 of each of the previous five (at 10% two masks differ by at \
    most 0.2). That early-bird ticket is trained from θ₀ beside the ticket found after full \
    training (one-shot to 10%). In our runs (seeds 1-3) the detector fires at iteration 702, \
    epoch 6, the first it can, and the early-bird ticket reaches 95.60, 94.65 and 94.65% \
    against 95.50, 94.95 and 94.90% for the ticket that cost all 6,400 iterations: within \
    0.3 points for a ninth of the training.";

/// Ours: LeNet-300-100 on the digits, 30% of each hidden layer's neurons removed per round
/// (the smaller network trained dense), beside the unstructured mask at the same per-layer
/// densities and, in round 1, the 2:4 mask.
fn structured() -> ExperimentConfig {
    ExperimentConfig {
        granularity: Granularity::Neurons,
        schedule: Schedule::Iterative { rounds: 6 },
        controls: Controls {
            unstructured: true,
            two_four: true,
            small_dense: false,
            ..Controls::ALL
        },
        ..digits_quick()
    }
}

/// You et al.'s early-bird search on the paper's LeNet recipe: the 10% mask drawn from the
/// dense run each epoch, the ticket trained beside the one found after full training.
fn early_bird() -> ExperimentConfig {
    ExperimentConfig {
        early_bird: Some(0.1),
        schedule: Schedule::OneShot { density: 0.1 },
        controls: Controls::NONE,
        ..ExperimentConfig::lenet_mnist()
    }
}

fn layer_collapse() -> ExperimentConfig {
    ExperimentConfig {
        method: PruneMethod::Snip,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.5,
            output_rate: 0.5,
            conv_rate: None,
        },
        schedule: Schedule::Iterative { rounds: 13 },
        controls: Controls::NONE,
        ..digits_quick()
    }
}

impl Preset {
    /// Whether `config` is this preset's experiment, but for the seed and whether weights
    /// are kept (what its claims are checked on).
    pub fn is_its_run(&self, config: &ExperimentConfig) -> bool {
        let mut own = (self.config)();
        own.seed = config.seed;
        own.keep_weights = config.keep_weights;
        own == *config
    }
}

pub fn find(id: &str) -> Option<&'static Preset> {
    ALL.iter().find(|p| p.id == id)
}

/// Quick digits to round 10, with the controls the stability study measures.
fn rewinding_and_stability() -> ExperimentConfig {
    ExperimentConfig {
        controls: Controls {
            reinit: true,
            random_prune: true,
            ..Controls::NONE
        },
        ..digits_quick()
    }
}

/// Quick digits to round 8 (5.8%), random pruning beside the ticket.
fn ticket_transfer() -> ExperimentConfig {
    ExperimentConfig {
        schedule: Schedule::Iterative { rounds: 8 },
        controls: Controls {
            random_prune: true,
            ..Controls::NONE
        },
        ..digits_quick()
    }
}

/// Quick digits to round 13 (1.0%), the ticket's layer shuffle (random pruning) beside it.
fn prune_at_init() -> ExperimentConfig {
    ExperimentConfig {
        schedule: Schedule::Iterative { rounds: 13 },
        ..ticket_transfer()
    }
}

fn digits_quick() -> ExperimentConfig {
    ExperimentConfig {
        iterations: 800,
        eval_every: 100,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.3,
            output_rate: 0.15,
            conv_rate: None,
        },
        schedule: Schedule::Iterative { rounds: 10 },
        ..ExperimentConfig::lenet_mnist()
    }
}

/// Ours, after Frankle & Carbin's Conv-2 (their CIFAR-10 net: two 3×3 convs of 64 channels,
/// a 2×2 max-pool, dense 256-256-10, Adam 2e-4): scaled to 28×28 grey digits and a lecture's
/// minutes, with the paper's per-kind rates (conv 10%, dense 20%, output 10% per round).
fn conv_digits() -> ExperimentConfig {
    ExperimentConfig {
        hidden: crate::model::parse_layers("conv8k3p1,conv8k3p1,pool2,64")
            .expect("a valid layer list"),
        init: Init::GlorotNormal,
        optimizer: Optimizer::adam(2e-3),
        iterations: 800,
        eval_every: 100,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: Some(0.1),
        },
        schedule: Schedule::Iterative { rounds: 10 },
        ..ExperimentConfig::lenet_mnist()
    }
}

/// Greydanus's MNIST-1D CNN: Conv1d(1→25, k5, s2, p1), two Conv1d(25→25, k3, s2, p1), ReLU
/// after each, then dense 125→10.
fn mnist1d_cnn() -> ExperimentConfig {
    ExperimentConfig {
        hidden: crate::model::parse_layers("conv25k5s2p1,conv25k3s2p1,conv25k3s2p1")
            .expect("a valid layer list"),
        optimizer: Optimizer::adam(1e-2),
        iterations: 3_000,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: Some(0.15),
        },
        schedule: Schedule::Iterative { rounds: 10 },
        ..mnist1d()
    }
}

fn why_reset() -> ExperimentConfig {
    ExperimentConfig {
        controls: Controls {
            reinit: true,
            random_prune: false,
            one_shot: false,
            unstructured: false,
            two_four: false,
            small_dense: false,
        },
        ..digits_quick()
    }
}

fn one_shot_vs_iterative() -> ExperimentConfig {
    ExperimentConfig {
        controls: Controls {
            reinit: false,
            random_prune: false,
            one_shot: true,
            unstructured: false,
            two_four: false,
            small_dense: false,
        },
        ..digits_quick()
    }
}

/// Ours: the quick-digits recipe with a dense network of the ticket's size beside each round.
fn search_vs_shrink() -> ExperimentConfig {
    ExperimentConfig {
        controls: Controls {
            reinit: true,
            small_dense: true,
            ..Controls::NONE
        },
        ..digits_quick()
    }
}

fn find_the_cliff() -> ExperimentConfig {
    ExperimentConfig {
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.2,
            conv_rate: None,
        },
        // 0.8^21 = 0.9%: the slider's 99% end, reached by training.
        schedule: Schedule::Iterative { rounds: 21 },
        controls: Controls {
            reinit: false,
            random_prune: true,
            one_shot: false,
            unstructured: false,
            two_four: false,
            small_dense: false,
        },
        ..mnist1d()
    }
}

/// MNIST-1D's MLP, smaller and faster than the author's 40-500-500-10 (lr 2e-2, 3,000
/// iterations), under which our tickets showed no edge over the controls.
fn mnist1d() -> ExperimentConfig {
    ExperimentConfig {
        dataset: DatasetConfig::Mnist1d,
        hidden: dense_layers(&[100, 100]),
        init: Init::KaimingNormal,
        optimizer: Optimizer::adam(1e-2),
        batch_size: 100,
        iterations: 1_000,
        eval_every: 100,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: None,
        },
        method: PruneMethod::Magnitude,
        granularity: Granularity::Weights,
        early_bird: None,
        schedule: Schedule::Iterative { rounds: 14 },
        reset: ResetMode::Init,
        controls: Controls::ALL,
        seed: 1,
        keep_weights: true,
    }
}

fn spiral() -> ExperimentConfig {
    ExperimentConfig {
        dataset: DatasetConfig::Toy2d {
            shape: Toy2d::Spiral,
            noise: 0.1,
            samples: 2_000,
        },
        hidden: dense_layers(&[64, 64]),
        init: Init::KaimingNormal,
        optimizer: Optimizer::adam(1e-2),
        batch_size: 32,
        iterations: 2_000,
        eval_every: 100,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: None,
        },
        method: PruneMethod::Magnitude,
        granularity: Granularity::Weights,
        early_bird: None,
        schedule: Schedule::Iterative { rounds: 12 },
        reset: ResetMode::Init,
        controls: Controls::ALL,
        seed: 1,
        keep_weights: true,
    }
}

fn fraud() -> ExperimentConfig {
    ExperimentConfig {
        dataset: DatasetConfig::Fraud { samples: 20_000 },
        hidden: dense_layers(&[64, 32]),
        init: Init::KaimingNormal,
        optimizer: Optimizer::adam(1e-3),
        batch_size: 128,
        iterations: 2_000,
        eval_every: 100,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: None,
        },
        method: PruneMethod::Magnitude,
        granularity: Granularity::Weights,
        early_bird: None,
        schedule: Schedule::Iterative { rounds: 10 },
        reset: ResetMode::Init,
        controls: Controls::ALL,
        seed: 1,
        keep_weights: true,
    }
}

fn tiny() -> ExperimentConfig {
    ExperimentConfig {
        dataset: DatasetConfig::Toy2d {
            shape: Toy2d::Circle,
            noise: 0.05,
            samples: 400,
        },
        hidden: dense_layers(&[16, 16]),
        init: Init::KaimingNormal,
        optimizer: Optimizer::adam(1e-2),
        batch_size: 20,
        iterations: 200,
        eval_every: 50,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.5,
            output_rate: 0.2,
            conv_rate: None,
        },
        method: PruneMethod::Magnitude,
        granularity: Granularity::Weights,
        early_bird: None,
        schedule: Schedule::Iterative { rounds: 3 },
        reset: ResetMode::Init,
        controls: Controls::ALL,
        seed: 1,
        keep_weights: true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_is_valid_and_ids_are_unique() {
        let mut ids = std::collections::HashSet::new();
        for preset in super::ALL {
            (preset.config)()
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", preset.id));
            assert!(ids.insert(preset.id), "duplicate id {}", preset.id);
            assert!(preset.explanation.len() > 80);
        }
    }

    #[test]
    fn a_study_presets_study_is_a_request_its_experiment_can_take() {
        use crate::experiment::Schedule;
        use crate::experiment::studies::StudyRequest;
        let mut studies = 0;
        for preset in super::ALL {
            let Some(token) = preset.study else { continue };
            studies += 1;
            let request = StudyRequest::parse(token)
                .unwrap_or_else(|| panic!("{}: {token} is not a study", preset.id));
            let Schedule::Iterative { rounds } = (preset.config)().schedule else {
                panic!("{}: a study of a round needs iterative rounds", preset.id);
            };
            let round = match request {
                StudyRequest::Stability { round, .. }
                | StudyRequest::Explain { round, .. }
                | StudyRequest::Transfer { round, .. } => round,
                StudyRequest::Rewinding { .. } => 0,
                // The IMP round the sparsest density needs (the study snaps to the nearest).
                StudyRequest::AtInit { ref densities, .. } => {
                    let config = (preset.config)();
                    let layout = config.dataset.layout(None).expect("a preset's data");
                    let sparsest = *densities.last().expect("parsed: at least one");
                    config
                        .pruning
                        .rounds_for_density(&config.spec_for(&layout), sparsest)
                        .ceil() as usize
                }
            };
            assert!(round <= rounds, "{}: round {round} of {rounds}", preset.id);
            let state = crate::experiment::link::LinkState::from_preset(preset.id).unwrap();
            assert_eq!(state.study, Some(request), "{}", preset.id);
        }
        assert_eq!(studies, 4);
    }
}
