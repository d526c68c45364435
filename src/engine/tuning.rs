//! Learning from the operator (pure): how well salience agreed with the
//! messages the operator chose to answer (approved or edited a draft for)
//! and declined (rejected, or let expire), and weights fitted to those
//! choices. The fit is only ever offered: the console shows it in the
//! weight tuner and the operator applies it, or not.

use serde::Serialize;

use crate::engine::salience::SalienceWeights;
use crate::model::SalienceBreakdown;

/// One operator choice with the breakdown the message had.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub breakdown: SalienceBreakdown,
    /// Approved or edited (answered), else rejected or ignored.
    pub chosen: bool,
}

/// Fewest choices, with at least this many of each kind, before a fit is
/// offered: fewer say more about the evening than about the streamer.
pub const MIN_CHOICES: usize = 12;
pub const MIN_EACH: usize = 3;

/// Choices it takes before the fit counts as much as the current weights:
/// a suggestion moves towards the choices, more the more there are.
const SHRINK: f64 = 50.0;

/// Weights fitted to the operator's choices, with what they would change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Suggestion {
    pub weights: SalienceWeights,
    pub choices: usize,
    /// Pairwise agreement with the choices under the current weights...
    pub agreement_now: f64,
    /// ...and under the suggested ones.
    pub agreement_suggested: f64,
}

/// Share of (chosen, declined) pairs in which the chosen message scores
/// higher under `w` (a tie counts half); `None` without such a pair.
pub fn agreement(choices: &[Choice], w: &SalienceWeights) -> Option<f64> {
    agreement_of(choices.iter().map(|c| (w.combine(&c.breakdown), c.chosen)))
}

/// [`agreement`] over (score, chosen) pairs, for scores already computed
/// (the store keeps the score each message had when it was labelled).
pub fn agreement_of(scored: impl IntoIterator<Item = (f64, bool)>) -> Option<f64> {
    let (mut yes, mut no): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for (s, chosen) in scored {
        if chosen { yes.push(s) } else { no.push(s) }
    }
    if yes.is_empty() || no.is_empty() {
        return None;
    }
    let mut right = 0.0;
    for y in &yes {
        for n in &no {
            right += if y > n {
                1.0
            } else if y == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(right / (yes.len() * no.len()) as f64)
}

fn features(b: &SalienceBreakdown) -> [f64; 4] {
    [b.content, b.authority, b.relevance, b.temporal]
}

/// Weights that rank the chosen messages above the declined ones, or `None`
/// when there are too few choices or the fit would agree no better than the
/// current weights. A logistic regression on the four factors; negative
/// coefficients become 0 (a factor that counts against a message is not a
/// weight), and the result is blended with `current`: the smallest step
/// towards the fit that ranks the choices better, starting from a share
/// that grows with the number of choices, so a handful of clicks nudges
/// rather than overturns.
pub fn suggest(choices: &[Choice], current: &SalienceWeights) -> Option<Suggestion> {
    let n_yes = choices.iter().filter(|c| c.chosen).count();
    let n_no = choices.len() - n_yes;
    if choices.len() < MIN_CHOICES || n_yes < MIN_EACH || n_no < MIN_EACH {
        return None;
    }
    let mut coef = [0.0f64; 4];
    let mut bias = 0.0f64;
    let rate = 2.0;
    let l2 = 1e-3;
    let n = choices.len() as f64;
    for _ in 0..600 {
        let mut grad = [0.0f64; 4];
        let mut grad_b = 0.0;
        for c in choices {
            let x = features(&c.breakdown);
            let z: f64 = bias + coef.iter().zip(&x).map(|(w, v)| w * v).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let err = p - if c.chosen { 1.0 } else { 0.0 };
            for (g, v) in grad.iter_mut().zip(&x) {
                *g += err * v;
            }
            grad_b += err;
        }
        for (w, g) in coef.iter_mut().zip(&grad) {
            *w -= rate * (g / n + l2 * *w);
        }
        bias -= rate * grad_b / n;
    }
    let pos: Vec<f64> = coef.iter().map(|w| w.max(0.0)).collect();
    let total: f64 = pos.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let cur = [
        current.content,
        current.authority,
        current.relevance,
        current.temporal,
    ];
    let cur_total: f64 = cur.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let blend = |alpha: f64| {
        let mix: Vec<f64> = pos
            .iter()
            .zip(&cur)
            .map(|(f, c)| ((1.0 - alpha) * c / cur_total + alpha * f / total).clamp(0.0, 1.0))
            .map(|v| (v * 100.0).round() / 100.0)
            .collect();
        SalienceWeights {
            content: mix[0],
            authority: mix[1],
            relevance: mix[2],
            temporal: mix[3],
        }
    };
    let agreement_now = agreement(choices, current)?;
    // The smallest step towards the fit, from what the number of choices
    // warrants up to the whole fit, that ranks the choices better.
    let first = n / (n + SHRINK);
    [first, 0.25, 0.5, 0.75, 1.0]
        .into_iter()
        .filter(|a| *a >= first)
        .map(blend)
        .filter(|w| w.validate().is_ok())
        .find_map(|weights| {
            let agreement_suggested = agreement(choices, &weights)?;
            (agreement_suggested > agreement_now).then_some(Suggestion {
                weights,
                choices: choices.len(),
                agreement_now: round3(agreement_now),
                agreement_suggested: round3(agreement_suggested),
            })
        })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(content: f64, authority: f64, chosen: bool) -> Choice {
        Choice {
            breakdown: SalienceBreakdown {
                content,
                authority,
                relevance: 0.4,
                temporal: 0.5,
            },
            chosen,
        }
    }

    /// An operator who answers questions (high content) from anyone and
    /// declines subscribers' chatter (high authority, low content).
    fn content_first() -> Vec<Choice> {
        let mut v = Vec::new();
        for i in 0..15 {
            let j = f64::from(i) / 50.0;
            v.push(c(0.8 + j / 5.0, 0.1 + j, true));
            v.push(c(0.2 + j, 0.9 - j / 3.0, false));
        }
        v
    }

    #[test]
    fn agreement_counts_pairs_and_needs_both_kinds() {
        let w = SalienceWeights::default();
        assert_eq!(
            agreement(&[c(0.9, 0.0, true), c(0.1, 0.0, false)], &w),
            Some(1.0)
        );
        assert_eq!(
            agreement(&[c(0.1, 0.0, true), c(0.9, 0.0, false)], &w),
            Some(0.0)
        );
        assert_eq!(
            agreement(&[c(0.5, 0.5, true), c(0.5, 0.5, false)], &w),
            Some(0.5)
        );
        assert_eq!(agreement(&[c(0.5, 0.5, true)], &w), None);
    }

    #[test]
    fn the_suggestion_moves_towards_the_choices_and_agrees_better() {
        // Weights that put rank above content, against this operator.
        let current = SalienceWeights {
            content: 0.2,
            authority: 0.5,
            relevance: 0.15,
            temporal: 0.15,
        };
        let s = suggest(&content_first(), &current).expect("a suggestion");
        assert!(s.weights.content > current.content, "{s:?}");
        assert!(s.weights.authority < current.authority, "{s:?}");
        assert!(s.agreement_suggested > s.agreement_now, "{s:?}");
        assert_eq!(s.choices, 30);
        assert!(s.weights.validate().is_ok());
    }

    #[test]
    fn too_few_choices_or_one_kind_only_suggest_nothing() {
        let w = SalienceWeights::default();
        assert!(suggest(&content_first()[..8], &w).is_none());
        let only_yes: Vec<Choice> = (0..20).map(|_| c(0.9, 0.1, true)).collect();
        assert!(suggest(&only_yes, &w).is_none());
    }
}
