//! The views' pictures (heatmaps, decision boundaries, explanations), cached by key and
//! bounded: a lecture that runs thirty rounds of LeNet and flips between runs builds a new
//! 235,200-pixel picture each time, so the least recently shown are let go once the cache
//! holds more than its budget of pixels (egui frees a texture when its last handle goes).

use std::collections::HashMap;

/// 8 M pixels, 32 MB of RGBA: every picture of ~30 LeNet rounds' shown runs.
const BUDGET_PIXELS: usize = 8 << 20;

pub struct Textures {
    by_key: HashMap<String, Cached>,
    /// Pixels held.
    pixels: usize,
    budget: usize,
    /// Counts uses: the smallest stamp is the least recently shown.
    clock: u64,
}

struct Cached {
    texture: egui::TextureHandle,
    used: u64,
}

impl Default for Textures {
    fn default() -> Self {
        Self::with_budget(BUDGET_PIXELS)
    }
}

impl Textures {
    pub fn with_budget(pixels: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            pixels: 0,
            budget: pixels,
            clock: 0,
        }
    }

    /// The picture under `key`, marked as just shown.
    pub fn get(&mut self, key: &str) -> Option<egui::TextureHandle> {
        self.clock += 1;
        let cached = self.by_key.get_mut(key)?;
        cached.used = self.clock;
        Some(cached.texture.clone())
    }

    /// Keep `texture` under `key`, then let the least recently shown others go while over
    /// budget (the newest always stays, however large).
    pub fn insert(&mut self, key: String, texture: egui::TextureHandle) {
        self.clock += 1;
        self.pixels += pixels(&texture);
        let old = self.by_key.insert(
            key.clone(),
            Cached {
                texture,
                used: self.clock,
            },
        );
        if let Some(old) = old {
            self.pixels -= pixels(&old.texture);
        }
        while self.pixels > self.budget {
            let Some(oldest) = self
                .by_key
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = self.by_key.remove(&oldest) {
                self.pixels -= pixels(&gone.texture);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }
}

fn pixels(texture: &egui::TextureHandle) -> usize {
    let [w, h] = texture.size();
    w * h
}

#[cfg(test)]
mod tests {
    use super::Textures;

    fn picture(ctx: &egui::Context, name: &str, side: usize) -> egui::TextureHandle {
        ctx.load_texture(
            name,
            egui::ColorImage::new([side, side], vec![egui::Color32::RED; side * side]),
            egui::TextureOptions::NEAREST,
        )
    }

    #[test]
    fn the_least_recently_shown_go_once_over_budget() {
        let ctx = egui::Context::default();
        let mut textures = Textures::with_budget(300);
        for name in ["a", "b", "c"] {
            textures.insert(name.into(), picture(&ctx, name, 10)); // 100 pixels each
        }
        assert_eq!(textures.len(), 3);
        // "a" shown again: "b" is now the least recently shown, and goes for "d".
        assert!(textures.get("a").is_some());
        textures.insert("d".into(), picture(&ctx, "d", 10));
        assert!(!textures.contains("b"));
        assert!(textures.contains("a") && textures.contains("c") && textures.contains("d"));
        // One picture larger than the budget stays (it is being shown), alone.
        textures.insert("huge".into(), picture(&ctx, "huge", 20));
        assert_eq!(textures.len(), 1);
        assert!(textures.contains("huge"));
        // Replacing a key counts its pixels once.
        textures.insert("huge".into(), picture(&ctx, "huge", 10));
        textures.insert("e".into(), picture(&ctx, "e", 10));
        assert_eq!(textures.len(), 2);
    }
}
