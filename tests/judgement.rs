//! Holds a floor on how salience ranks the labelled set in
//! `tests/fixtures/judgement/` (322 messages written for clank, labelled as
//! a streamer would: answer now, normal, never surface), measured by the
//! same code as `clank eval`. The targets are pairwise at least
//! 0.90, at least 0.85 answer-now in the top 25, at least 0.95 of
//! never-surface kept low and no paid message lost; the floors sit a little
//! under today's figures so a change that makes judgement worse fails here.

use std::path::Path;

use clank::config::Config;
use clank::eval::labels::run;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/judgement");

fn config(topic: &str) -> Config {
    let mut c = Config::default();
    c.salience.streamer_names = vec!["Yuzu".into(), "yuzuvt".into()];
    c.salience.topic = topic.into();
    c
}

#[test]
fn the_labelled_set_ranks_above_the_floor() {
    for topic in ["hollow knight mantis lords soul master charms", ""] {
        let mut out = Vec::new();
        let r = run(
            &config(topic),
            &Path::new(DIR).join("chat.jsonl"),
            &Path::new(DIR).join("labels.tsv"),
            25,
            false,
            &mut out,
        )
        .expect("eval runs");
        assert_eq!(r.labelled, 322, "{r:?}");
        assert_eq!(r.unlabelled, 0);
        assert!(r.pairwise >= 0.96, "topic {topic:?}: {r:?}");
        assert!(r.answer_now_in_top_k >= 0.95, "topic {topic:?}: {r:?}");
        assert!(r.recall_answer_now >= 0.93, "topic {topic:?}: {r:?}");
        assert!(r.never_surface_kept_low >= 0.95, "topic {topic:?}: {r:?}");
        assert_eq!(r.paid_lost, 0, "topic {topic:?}: {r:?}");
        // The two paid profanity-model false positives are held, not lost.
        assert_eq!(r.held, 2, "{r:?}");
        let printed: serde_json::Value =
            serde_json::from_slice(out.trim_ascii_end()).expect("one JSON line");
        assert_eq!(printed["pairwise"], r.pairwise);
    }
}
